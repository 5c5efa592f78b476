"""Posterior draws as ArviZ InferenceData, with diagnostics that speak up.

The InferenceData is built with ``az.from_dict`` (works with ArviZ 0.x and
1.x) and holds:

* ``posterior``: one variable per free parameter, named ``"child:param"``, in
  parameter units, plus the derived ``"child:flux"`` / ``"child:mag"``.  Cyclic
  parameters (PA) are stored *unwrapped about their circular mean*, i.e. as
  m + d with d in [−P/2, P/2), so that the linear statistics of ArviZ (mean,
  sd, HDI, r̂, ESS) are the circular ones whenever the posterior is narrower
  than the period; take them modulo the period to get values in the limits.
* ``sample_stats``: ``diverging``, ``tree_depth``, ``n_steps``, ``step_size``,
  ``lp`` (log density of the unconstrained vector) and, from numpyro,
  ``energy`` and ``acceptance_rate``.
* ``log_likelihood``: ``obs`` per unmasked pixel (dimension ``pixel``) when
  draws × pixels ≤ ``pointwise_limit`` (for a list of models, the pixels of all of
  them), else ``obs_total``, the summed log-likelihood per draw.
* ``observed_data``: ``obs``, the unmasked pixel values.
* ``attrs``: sampler settings, priors used (JSON) and cyclic periods, so that
  a Posterior read back from netCDF knows them.
"""

from __future__ import annotations

import inspect
import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .start import SamplingWarning


def circular_mean(x: np.ndarray, lower: float, period: float, axis: Any = None) -> np.ndarray:
    """Circular mean of angles with the given period, in [lower, lower + period)."""
    angle = 2.0 * math.pi * (np.asarray(x) - lower) / period
    m = np.arctan2(np.mean(np.sin(angle), axis=axis), np.mean(np.cos(angle), axis=axis))
    return lower + np.mod(m * period / (2.0 * math.pi), period)


def unwrap_about(x: np.ndarray, center: np.ndarray, period: float) -> np.ndarray:
    """``center + d`` with ``d`` the signed distance of x from center, in [−P/2, P/2)."""
    d = np.mod(np.asarray(x) - center + 0.5 * period, period) - 0.5 * period
    return center + d


def from_dict_compat(groups: dict[str, dict[str, np.ndarray]], dims: dict[str, list[str]],
                     attrs: dict[str, Any]) -> Any:
    """``az.from_dict`` for ArviZ 0.x (keyword groups) and 1.x (one dict of groups)."""
    import arviz as az

    params = inspect.signature(az.from_dict).parameters
    if "posterior" in params:
        idata = az.from_dict(**groups, dims=dims)
    else:  # pragma: no cover - arviz >= 1.0
        idata = az.from_dict(groups, dims=dims)
    idata.posterior.attrs.update(attrs)
    return idata


#: posterior-predictive p-value below which the model is reported as not describing the data
MISFIT_P = 1e-3


@dataclass
class Posterior:
    """Result of a sampler.

    Attributes
    ----------
    idata : arviz.InferenceData
    issues : list of str
        What the sampler's diagnostics found (empty when all is well).  The
        model check (does the model describe the data?) is :attr:`misfit`.
    names : list of str
        Free parameters, ``"child:param"``.
    min_ess : float or None
        The bulk-ESS threshold the diagnostics used (None: 100 per chain);
        saved in the netCDF attributes and used again by :meth:`from_netcdf`.
    """

    idata: Any
    issues: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    min_ess: float | None = None

    # ------------------------------------------------------------ access
    @property
    def ok(self) -> bool:
        """The sampler's diagnostics pass: no divergences, r̂ ≤ 1.01, enough bulk ESS, no saturated trees.

        This says the draws represent the posterior of the model; whether the
        model describes the data is :attr:`misfit`.
        """
        return not self.issues

    @property
    def misfit(self) -> str | None:
        """The posterior-predictive check's finding when the model does not describe the data, else None.

        Reported when p < :data:`MISFIT_P` (χ²/ndf beyond what the noise
        allows): the posterior is then that of a model the data reject, and
        its σ are lower bounds on the real uncertainty.  Read from the
        attributes, so it survives :meth:`to_netcdf` / :meth:`from_netcdf`.
        """
        attrs = self.idata.posterior.attrs
        p = attrs.get("ppc_p_value")
        if p is None or not float(p) < MISFIT_P:
            return None
        return (f"model misfit: chi2/ndf {float(attrs['ppc_chi2_ndf']):.3f} (posterior predictive "
                f"p = {float(p):.1e}); the uncertainties assume the model describes the data")

    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self.idata.posterior.attrs)

    def draws(self, name: str) -> np.ndarray:
        """All draws of a variable, (chains × draws, *shape), chains concatenated."""
        values = np.asarray(self.idata.posterior[name].values)
        return values.reshape((-1, *values.shape[2:]))

    def mean(self, name: str) -> np.ndarray:
        """Posterior mean (circular for cyclic parameters, in the limits)."""
        periods = json.loads(self.attrs.get("cyclic", "{}"))
        x = self.draws(name)
        if name in periods:
            lower, period = periods[name]
            return circular_mean(x, lower, period, axis=0)
        return np.mean(x, axis=0)

    def sd(self, name: str) -> np.ndarray:
        """Posterior standard deviation (about the circular mean for cyclic parameters)."""
        return np.std(self.draws(name), axis=0, ddof=1)

    def summary(self, **kwargs: Any) -> Any:
        """ArviZ summary table (mean, sd, HDI, MCSE, ESS, r̂) of the parameters (and derived values)."""
        import arviz as az

        return az.summary(self.idata, **kwargs)

    # ------------------------------------------------------------- files
    def to_netcdf(self, path: str | Path) -> Path:
        """Write the InferenceData (posterior, stats, likelihood, data, attributes) to netCDF."""
        path = Path(path)
        self.idata.to_netcdf(str(path))
        return path

    @classmethod
    def from_netcdf(cls, path: str | Path) -> Posterior:
        """Read a Posterior written by :meth:`to_netcdf` (diagnostics are re-run, quietly)."""
        import arviz as az

        idata = az.from_netcdf(str(path))
        names = json.loads(idata.posterior.attrs.get("parameters", "[]"))
        min_ess = idata.posterior.attrs.get("min_ess")
        min_ess = None if min_ess is None or not float(min_ess) > 0 else float(min_ess)
        post = cls(idata=idata, names=names, min_ess=min_ess)
        depth = int(idata.posterior.attrs.get("max_tree_depth", 10))
        post.issues = diagnose(post, min_ess=min_ess, max_tree_depth=depth, warn=False)
        return post

    def __repr__(self) -> str:
        a = self.attrs
        state = "ok" if self.ok else f"{len(self.issues)} issue(s)"
        if self.misfit:
            state += ", model misfit"
        return (f"Posterior({a.get('sampler', '?')} on {a.get('backend', '?')}, "
                f"{self.idata.posterior.sizes['chain']} chains × {self.idata.posterior.sizes['draw']} draws, {state})")


def _single_chain_rhat(idata: Any, names: list[str]) -> dict[str, Any]:
    """r̂ of one chain, its two halves compared as two chains (ArviZ's r̂ is NaN for one chain).

    ArviZ splits each of the two halves again, so this is the rank-normalised
    split-r̂ of Vehtari et al. (2021) over the chain's four quarters: it detects
    a chain that drifts or is stuck in one region for part of its length.
    """
    import arviz as az

    data = {}
    for name in names:
        x = np.asarray(idata.posterior[name].values)[0]
        half = x.shape[0] // 2
        data[name] = np.stack([x[:half], x[half: 2 * half]])
    return az.rhat(az.convert_to_dataset(data))


def diagnose(post: Posterior, min_ess: float | None = None, max_tree_depth: int = 10, warn: bool = True,
             rhat_limit: float = 1.01) -> list[str]:
    """Check divergences, r̂, bulk ESS and tree-depth saturation; warn about each, naming parameters.

    With a single chain, r̂ compares the chain's halves (see
    :func:`_single_chain_rhat`); an r̂ that cannot be computed is an issue, never "ok".

    Parameters
    ----------
    post : Posterior
    min_ess : float, optional
        Bulk ESS below which a parameter is reported (default 100 per chain,
        after Vehtari et al. 2021, Bayesian Analysis 16, 667).
    max_tree_depth : int
        The sampler's limit; draws reaching it are "saturated".
    warn : bool
        Emit a :class:`SamplingWarning` per issue.
    rhat_limit : float

    Returns
    -------
    list of str
    """
    import arviz as az

    idata = post.idata
    names = post.names
    chains = idata.posterior.sizes["chain"]
    if min_ess is None:
        min_ess = 100.0 * chains
    issues: list[str] = []
    stats = idata.sample_stats

    def flat(name: str) -> np.ndarray:
        x = np.asarray(idata.posterior[name].values)
        return x.reshape(x.shape[0] * x.shape[1], -1)

    if "diverging" in stats:
        div = np.asarray(stats["diverging"].values).ravel().astype(bool)
        if div.any() and (~div).any():
            # parameters whose divergent draws sit furthest from the rest, in posterior sd
            shifts = {}
            for name in names:
                x = flat(name)
                sd = np.std(x, axis=0) + 1e-300
                shifts[name] = float(np.max(np.abs(x[div].mean(axis=0) - x[~div].mean(axis=0)) / sd))
            worst = sorted(shifts, key=shifts.get, reverse=True)[:3]
            issues.append(f"{int(div.sum())} divergent transitions after warm-up "
                          f"(divergent draws deviate most in {', '.join(worst)})")
        elif div.any():
            issues.append(f"{int(div.sum())} divergent transitions after warm-up (every draw)")
    ess = az.ess(idata, var_names=names, method="bulk") if names else None  # once: the tree-depth check reuses it
    if names:
        rhat = az.rhat(idata, var_names=names) if chains >= 2 else _single_chain_rhat(idata, names)
        unknown = [n for n in names if not np.all(np.isfinite(np.asarray(rhat[n].values)))]
        if unknown:
            issues.append(f"r_hat not computable for {', '.join(unknown)} "
                          "(too few draws, or a parameter that never moved); convergence is not established")
        high = [n for n in names if np.any(np.asarray(rhat[n].values) > rhat_limit)]
        if high:
            values = ", ".join(f"{n} ({float(np.nanmax(rhat[n].values)):.3f})" for n in high)
            kind = "" if chains >= 2 else " (split halves of the one chain)"
            issues.append(f"r_hat > {rhat_limit}{kind} for {values}")
        low = [n for n in names if np.any(np.asarray(ess[n].values) < min_ess)]
        if low:
            values = ", ".join(f"{n} ({float(np.min(ess[n].values)):.0f})" for n in low)
            issues.append(f"bulk ESS below {min_ess:.0f} for {values}")
    if "tree_depth" in stats:
        depth = np.asarray(stats["tree_depth"].values).ravel()
        saturated = float(np.mean(depth >= max_tree_depth))
        if saturated > 0:
            slowest = names
            if ess is not None:
                slowest = sorted(names, key=lambda n: float(np.min(ess[n].values)))[:3]
            issues.append(f"{100 * saturated:.1f}% of draws hit the maximum tree depth {max_tree_depth} "
                          f"(slowest-mixing: {', '.join(slowest)}); the mass matrix may be poor")
    # found when the pixel rules were chosen (a profile narrower than they resolve), kept with the posterior
    issues.extend(json.loads(idata.posterior.attrs.get("quadrature_issues", "[]")))
    if warn:
        for text in issues:
            warnings.warn(text, SamplingWarning, stacklevel=3)
    return issues


__all__ = ["Posterior", "circular_mean", "diagnose", "from_dict_compat", "unwrap_about"]
