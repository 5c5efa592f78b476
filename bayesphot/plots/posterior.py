"""Corner plot of posterior draws (marginals on the diagonal, pairs below)."""

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
            if i == j:
                ax.hist(x, bins=bins, color=color, histtype="stepfilled", alpha=0.6)
                ax.set_yticks([])
                mean, sd = x.mean(), x.std(ddof=1)
                ax.set_title(f"{xname}\n{mean:.4g} ± {sd:.2g}", fontsize=9)
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
    fig.subplots_adjust(hspace=0.08, wspace=0.08)
    return fig
