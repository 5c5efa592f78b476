"""Posterior figures: corner plot (marginals and pairs) and trace / rank plots."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def corner(post: Any, var_names: Sequence[str] | None = None, fig: Any = None, bins: int = 30,
           color: str = "C0") -> Any:
    """Draw a corner plot of scalar posterior variables.

    Parameters
    ----------
    post : bayesphot.infer.Posterior
        Anything with ``draws(name)`` and ``names``.
    var_names : list of str, optional
        Variables to show (default: every free scalar parameter).
    fig : matplotlib Figure, optional
        Drawn into (a new one sized for the variables otherwise).
    bins : int
        Histogram bins per axis.
    color : str

    Returns
    -------
    matplotlib.figure.Figure
        The figure; its axes are ``fig.axes`` in row-major order of the lower triangle grid.
    """
    import matplotlib.pyplot as plt

    names = list(var_names) if var_names is not None else list(post.names)
    samples = {name: np.asarray(post.draws(name), dtype=float) for name in names}
    names = [name for name in names if samples[name].ndim == 1]
    k = len(names)
    if fig is None:
        fig = plt.figure(figsize=(2.2 * k + 0.5, 2.2 * k + 0.5))
    axes = fig.subplots(k, k, squeeze=False)
    for i, yname in enumerate(names):
        for j, xname in enumerate(names):
            ax = axes[i][j]
            if j > i:
                ax.set_visible(False)
                continue
            x = samples[xname]
            ax.ticklabel_format(useOffset=False)
            if i == j:
                ax.hist(x, bins=bins, color=color, histtype="stepfilled", alpha=0.6)
                ax.set_yticks([])
                mean, sd = x.mean(), x.std(ddof=1)
                ax.set_title(f"{xname}\n{mean:.4g} ± {sd:.2g}", fontsize=9)
                ax.axvline(mean, color="k", lw=0.8)
            else:
                ax.hist2d(x, samples[yname], bins=bins, cmap="Blues")
            if i == k - 1:
                ax.set_xlabel(xname, fontsize=9)
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(yname, fontsize=9)
            elif j > 0:
                ax.set_yticklabels([])
    fig.subplots_adjust(hspace=0.08, wspace=0.08, top=0.9)
    fig.suptitle(f"posterior: {len(x)} draws (diagonal: mean ± sd)")
    return fig


def _chains(post: Any, name: str) -> np.ndarray:
    """Draws of one scalar variable as (chains, draws)."""
    values = np.asarray(post.idata.posterior[name].values, dtype=float)
    return values.reshape(values.shape[0], values.shape[1])


def trace(post: Any, var_names: Sequence[str] | None = None, bins: int = 20) -> Any:
    """Trace and rank plots, one row per variable: draws against iteration, and rank histograms per chain.

    Left: each chain's draws in order (well-mixed chains look like
    overlapping noise bands).  Right: the ranks of all draws pooled across
    chains, histogrammed per chain (Vehtari et al. 2021, Bayesian Analysis
    16, 667); for chains that sample the same distribution every histogram
    is flat within the dashed binomial ±2σ band.  Titles give r̂ and bulk ESS.

    Parameters
    ----------
    post : bayesphot.infer.Posterior
    var_names : list of str, optional
        Scalar variables (default: every free scalar parameter).
    bins : int
        Rank-histogram bins.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import arviz as az
    import matplotlib.pyplot as plt

    names = list(var_names) if var_names is not None else list(post.names)
    names = [n for n in names if np.asarray(post.idata.posterior[n].values).ndim == 2]
    rhat = az.rhat(post.idata, var_names=names)
    ess = az.ess(post.idata, var_names=names, method="bulk")
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 1.7 * len(names) + 0.6), squeeze=False,
                             layout="constrained", gridspec_kw={"width_ratios": [2.2, 1]})
    for row, name in enumerate(names):
        x = _chains(post, name)
        chains, draws = x.shape
        ranks = np.argsort(np.argsort(x.ravel())).reshape(x.shape)
        edges = np.linspace(0, x.size, bins + 1)
        expected = draws / bins
        band = 2.0 * np.sqrt(expected * (1.0 - 1.0 / bins))
        left, right = axes[row]
        for c in range(chains):
            left.plot(np.arange(draws), x[c], lw=0.6, alpha=0.8, color=f"C{c % 10}", label=f"chain {c}")
            counts, _ = np.histogram(ranks[c], bins=edges)
            right.step(np.arange(bins), counts, where="post", color=f"C{c % 10}")
        right.axhspan(expected - band, expected + band, color="0.85", zorder=0)
        right.axhline(expected, color="0.4", ls="--", lw=0.8)
        left.ticklabel_format(axis="y", useOffset=False)
        left.set_ylabel(name, fontsize=9)
        left.set_title(f"{name}: r_hat {float(rhat[name].values):.3f}, bulk ESS {float(ess[name].values):.0f}",
                       fontsize=9, loc="left")
        right.set_yticks([])
        if row == 0:
            right.set_title("rank histogram per chain", fontsize=9)
            left.legend(fontsize=7, loc="upper right", ncol=chains)
        if row == len(names) - 1:
            left.set_xlabel("draw")
            right.set_xlabel("rank bin")
    fig.suptitle(f"trace and rank plots ({post.attrs.get('sampler', 'NUTS')} on {post.attrs.get('backend', '?')})")
    return fig
