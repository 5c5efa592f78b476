"""The one place where a group's posterior is drawn: Laplace draws or NUTS.

:func:`sample_posterior` is deliberately small so that the sampler behind the
catalog can be switched (a faster or vectorised NUTS) without touching the
rest of the pipeline.

* ``"laplace"`` (default): independent draws u ~ N(û, Σ_u) in the
  unconstrained space, with û the MAP and Σ_u the inverse Gauss–Newton Hessian
  of the final LM fit, mapped through the parameters' transforms (so limits
  are respected and the marginals of bounded parameters are skewed the way the
  transforms make them).  There is no Markov chain: r̂ and ESS are not
  computed (r̂ is reported as NaN and the ESS as the number of draws).
* ``"nuts"``: ``bp.infer.NUTS`` started at the MAP with the Laplace mass matrix
  (default priors), with its own diagnostics.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import FitError
from ..infer.posterior import circular_mean, from_dict_compat, unwrap_about
from ..models.base import Model
from ..models.resolution import QUADRATURE_ISSUE

SAMPLERS = ("laplace", "nuts")


@dataclass
class Sampled:
    """A group's posterior draws.

    Attributes
    ----------
    idata : arviz.InferenceData
        ``posterior`` holds every free parameter (``"child:param"``) and the
        derived ``"child:flux"``, shaped (chains, draws).
    issues : list of str
        What went wrong or needs attention (empty when nothing did).
    r_hat, ess_bulk : dict
        Per parameter name (NaN r̂ and the draw count for Laplace draws).
    divergences : int
    sampler : str
        What drew them: "laplace" or "nuts" (NUTS asked for, but stopped at its time limit
        during warm-up, leaves Laplace draws and an issue saying so).
    """

    idata: Any
    issues: list[str] = field(default_factory=list)
    r_hat: dict[str, float] = field(default_factory=dict)
    ess_bulk: dict[str, float] = field(default_factory=dict)
    divergences: int = 0
    sampler: str = "laplace"


def total_fluxes(model: Model, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``{"child:flux": draws}`` for every point source and Sérsic below ``model`` (numpy, vectorised).

    Sérsic: 2π q Re² Ie n e^b b^(−2n) Γ(2n) with b = P⁻¹(2n, ½) (Graham & Driver
    2005, PASA 22, 118); point source: ``flux``.  Fixed parameters enter at their value.
    """
    from scipy.special import gammaincinv, gammaln

    from ..models.defaults import leaf_parameters
    from ..models.galaxy import SersicGalaxy
    from ..models.point import PointSource

    comps: dict[str, tuple[Model, dict[str, np.ndarray]]] = {}
    for full, component, local, param in leaf_parameters(model):
        prefix = full[: len(full) - len(local)]
        entry = comps.setdefault(prefix, (component, {}))
        entry[1][local] = values[full] if full in values else np.asarray(param.value, dtype=np.float64)
    out = {}
    for prefix, (component, p) in comps.items():
        if isinstance(component, PointSource):
            out[prefix + "flux"] = np.asarray(p["flux"], dtype=np.float64)
        elif isinstance(component, SersicGalaxy):
            n = np.asarray(p["n"], dtype=np.float64)
            b = gammaincinv(2.0 * n, 0.5)
            log_flux = (np.log(2.0 * np.pi * p["q"] * p["Re"] ** 2 * p["Ie"] * n) + b - 2.0 * n * np.log(b)
                        + gammaln(2.0 * n))
            out[prefix + "flux"] = np.exp(log_flux) * np.ones_like(p["Re"])
    return out


def _held_at_limit(model: Model, u_map: np.ndarray, held: list[int]) -> np.ndarray:
    """Laplace covariance (unconstrained) with the elements ``held`` fixed at the MAP.

    An element on a limit has almost no curvature in u (the transform is flat there), so the
    inverse of the full Hessian is huge along it and, through rounding, along every direction
    it touches: draws from it are nonsense for the whole group.  The Hessian is recomputed at
    the MAP and the block of the other elements inverted (the Gaussian conditional on the held
    elements); the held elements get zero variance.
    """
    from ..fit.laplace import invert_hessian
    from ..fit.lm import Problem

    problem = Problem(model)
    mu, jac = problem.linearize(u_map)
    hessian, _ = problem.normal_equations(u_map, mu, jac)
    keep = np.setdiff1d(np.arange(u_map.size), held)
    cov = np.zeros((u_map.size, u_map.size))
    if keep.size:
        cov[np.ix_(keep, keep)], _ = invert_hessian(np.asarray(hessian)[np.ix_(keep, keep)])
    return cov


def _laplace(model: Model, fit: Any, draws: int, seed: int, chains: int = 2) -> Sampled:
    from ..program import FreeParameters

    free = FreeParameters(model)
    cov = np.asarray(fit.covariance_unconstrained, dtype=np.float64)
    u_map = np.asarray(fit.u, dtype=np.float64)
    issues = []
    if fit.singular:
        issues.append("singular Hessian: Laplace draws use its pseudo-inverse (some σ are zero)")
    held = [i for i, label in enumerate(fit.labels) if label in set(fit.at_limit)]
    if held:
        cov = _held_at_limit(model, u_map, held)
        issues.append("at a limit, held at the MAP in the Laplace draws: "
                      + ", ".join(fit.labels[i] for i in held))
    cov = 0.5 * (cov + cov.T)
    if not np.all(np.isfinite(cov)):
        raise FitError("the Laplace covariance is not finite")
    # the square root of the correlation matrix, scaled back: an eigen-decomposition of the covariance
    # itself spreads rounding errors of its largest variances (a badly constrained PA, say) over all
    # elements, and the draws of well-measured ones with them
    scale = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    safe = np.where(scale > 0, scale, 1.0)
    evals, evecs = np.linalg.eigh(cov / safe[:, None] / safe[None, :])
    root = safe[:, None] * evecs * np.sqrt(np.clip(evals, 0.0, None))
    per_chain = max(1, int(np.ceil(draws / chains)))
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((chains * per_chain, u_map.size))
    u = u_map[None, :] + z @ root.T
    values: dict[str, np.ndarray] = {}
    for (name, param), a, b in zip(free.entries, free.offsets[:-1], free.offsets[1:], strict=True):
        piece = u[:, int(a):int(b)]
        x = np.asarray(param.transform.forward(piece), dtype=np.float64)
        values[name] = x[:, 0] if not param.shape else x.reshape((-1, *param.shape))
    posterior: dict[str, np.ndarray] = {}
    cyclic: dict[str, list[float]] = {}
    for name, param in free.entries:
        x = values[name]
        if param.cyclic:
            lower, upper = param.limits
            period = upper - lower
            x = unwrap_about(x, circular_mean(x, lower, period, axis=0), period)
            cyclic[name] = [lower, period]
        posterior[name] = x.reshape((chains, per_chain, *x.shape[1:]))
    for name, x in total_fluxes(model, values).items():
        posterior[name] = x.reshape((chains, per_chain, *x.shape[1:]))
    attrs = {"sampler": "Laplace", "draws": per_chain, "chains": chains, "seed": seed,
             "parameters": json.dumps(free.names), "cyclic": json.dumps(cyclic), "map_u": json.dumps(u_map.tolist())}
    # log density of each draw under the Laplace approximation, up to a constant (for ArviZ tools)
    stats = {"lp": (-0.5 * np.sum(z * z, axis=1)).reshape(chains, per_chain)}
    idata = from_dict_compat({"posterior": posterior, "sample_stats": stats}, {}, attrs)
    n = chains * per_chain
    return Sampled(idata, issues, {k: float("nan") for k in free.names}, {k: float(n) for k in free.names}, 0)


def _nuts(model: Model, fit: Any, draws: int, seed: int, chains: int, warmup: int,
          time_limit: float | None) -> Sampled:
    import arviz as az

    from ..errors import SamplingTimeLimitError
    from ..infer import NUTS

    per_chain = max(1, int(np.ceil(draws / chains)))
    try:
        # the total log-likelihood per draw, not per pixel: a catalog keeps one file per group
        post = NUTS(model, chains=chains, warmup=warmup, draws=per_chain, seed=seed, fit=False, progress=False,
                    write_back=False, time_limit=time_limit, pointwise_limit=0).run()
    except SamplingTimeLimitError as exc:
        fallback = _laplace(model, fit, draws, seed, chains)
        fallback.issues.insert(0, f"NUTS: {exc}; Laplace draws instead")
        return fallback
    names = list(post.names)
    rhat = az.rhat(post.idata, var_names=names)
    ess = az.ess(post.idata, var_names=names, method="bulk")
    div = int(np.sum(np.asarray(post.idata.sample_stats["diverging"].values))) \
        if "diverging" in post.idata.sample_stats else 0
    issues = list(post.issues) + ([post.misfit] if post.misfit else [])  # a catalog row flags both
    return Sampled(post.idata, issues, {k: float(np.max(rhat[k].values)) for k in names},
                   {k: float(np.min(ess[k].values)) for k in names}, div, "nuts")


#: diagnostics that name the parameters they concern: a source's row carries them only when they name
#: one of its own parameters (or no source's, e.g. the sky's).  Divergences and saturated trees are
#: properties of the group's joint sampler and flag every row.
PER_PARAMETER_ISSUES = ("r_hat", "bulk ESS", "at a limit")


def issues_of_source(issues: list[str], name: str) -> list[str]:
    """The group's sampler ``issues`` that concern source ``name`` (a prefix such as ``"s12"``).

    An r̂, ESS or at-a-limit message that names only other sources' parameters
    (``"s7:n"``) is left out, and so are the pixel-rule messages
    (:data:`~bayesphot.models.resolution.QUADRATURE_ISSUE`), which a row flags with
    ``QUADRATURE``, for its own source only; every other message is kept.
    """
    out = []
    for issue in issues:
        if issue.startswith(QUADRATURE_ISSUE):
            continue
        named = set(re.findall(r"\b(s\d+):", issue))
        if issue.startswith(PER_PARAMETER_ISSUES) and named and name not in named:
            continue
        out.append(issue)
    return out


def sample_posterior(model: Model, fit: Any, sampler: str = "laplace", draws: int = 1000, seed: int = 0,
                     chains: int = 2, warmup: int = 200, time_limit: float | None = None) -> Sampled:
    """Posterior draws of a fitted group model.

    Parameters
    ----------
    model : Model
        The group, at its MAP (``fit`` just returned by ``bp.fit.LM``).
    fit : FitResult
    sampler : {"laplace", "nuts"}
    draws : int
        Total draws (over all chains).
    seed : int
    chains, warmup : int
        NUTS chains and step-size tuning iterations (Laplace: chains only
        shape the arrays).
    time_limit : float, optional
        NUTS: seconds for the start search and sampling; reached before the draws, the group gets Laplace
        draws with an issue saying so (``Sampled.sampler`` is then "laplace").

    Returns
    -------
    Sampled
    """
    if sampler == "laplace":
        return _laplace(model, fit, draws, seed, chains)
    if sampler == "nuts":
        return _nuts(model, fit, draws, seed, chains, warmup, time_limit)
    raise FitError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")


__all__ = ["PER_PARAMETER_ISSUES", "SAMPLERS", "Sampled", "issues_of_source", "sample_posterior", "total_fluxes"]
