"""Model choice per source: point source, exponential, de Vaucouleurs or Sérsic.

Each candidate is fitted (``bp.fit.LM``, default priors attached) on the
source's own window with everything else in its group (the local sky and the
other sources at their current fit) held fixed as an offset image.  Two
criteria are computed from those fits, and both are catalog columns:

**Penalised Δχ² (the Tractor / legacypipe rule, Dey et al. 2019, AJ 157, 168,
§8).**  Δχ²_m = χ²(no source) − χ²(model m) on the source's window, k_m free
parameters (point 3; exp and dev 6, the Sérsic with n fixed at 1 and 4; Sérsic 7):

1. a point source is kept unless a galaxy does better by a margin: exp or dev
   replaces it when Δχ²_m − Δχ²_point > max(3² + k_exp − k_point,
   0.01 Δχ²_point), the better of the two winning;
2. the free-n Sérsic replaces the result of step 1 when it improves Δχ² by more
   than 25 (5σ);
3. a source whose best penalised Δχ²_m − k_m is below 25 (5σ) is flagged as
   insignificant (the Tractor drops it; the catalog keeps it, flagged).

Without a PSF, step 1 starts from the exponential instead of the point source.

**Laplace evidence.**  log Z_m ≈ log L(θ̂) + log p(θ̂) + (k/2) log 2π + ½ log det Σ_θ,
with θ̂ the maximum-likelihood fit, Σ_θ the inverse Gauss–Newton Hessian there,
and p the default priors of :mod:`bayesphot.models.defaults` set from each
candidate's initial values (proper: uniform q, n, PA; log-normal sizes and
fluxes, one decade at 1σ; normal centres); the model with the largest log Z
wins.  Treating the priors as flat on the scale of the likelihood is what makes
the Laplace form valid here; it is the regime of any useful detection.  The
approximation is poor where a parameter sits on a limit (q → 1, n at its
bounds), which the fit reports; such candidates keep their value but the
choice is flagged.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import BayesphotError
from ..image.target import TargetImage
from ..image.window import Window
from ..models.base import Model
from ..models.defaults import default_priors

TYPES = ("point", "exp", "dev", "sersic")
FIXED_N = {"exp": 1.0, "dev": 4.0}
DETECTION_CUT = 25.0
SERSIC_MARGIN = 25.0


@dataclass
class SourceStart:
    """Where a source's candidates start (full cutout pixels, 0-based).

    Attributes
    ----------
    x, y : float
        Centre (pixels of the cutout).
    flux : float
        Flux guess (image units).
    q, PA : float, optional
        Axis ratio and position angle (rad, CCW from +y) guesses.
    """

    x: float
    y: float
    flux: float
    q: float | None = None
    PA: float | None = None


def make_model(kind: str, name: str, target: TargetImage, window: Window, start: SourceStart,
               values: dict[str, float] | None = None) -> Model:
    """A source model of ``kind`` ("point", "exp", "dev", "sersic") on ``window``.

    ``values`` (local parameter name → value, e.g. a previous fit) take
    precedence over ``start``; everything else comes from ``initialize()``.
    """
    s = target.pixelscale
    values = dict(values or {})
    init: dict[str, Any] = {"x": values.pop("x", start.x * s), "y": values.pop("y", start.y * s)}
    if kind == "point":
        init["flux"] = values.pop("flux", max(start.flux, 1e-6))
        model = Model(name, "point source", target=target, window=window, **init)
    elif kind in ("exp", "dev", "sersic"):
        if start.q is not None:
            init["q"] = float(np.clip(values.pop("q", start.q), 0.05, 0.98))
        if start.PA is not None:
            init["PA"] = float(np.mod(values.pop("PA", start.PA), math.pi))
        for key in ("Re", "Ie", "q", "PA"):
            if key in values:
                init[key] = values.pop(key)
        if kind in FIXED_N:
            init["n"] = {"value": FIXED_N[kind], "fixed": True}
        elif "n" in values:
            init["n"] = float(np.clip(values.pop("n"), 0.5, 8.0))
        model = Model(name, "sersic galaxy model", target=target, window=window, **init)
    else:
        raise BayesphotError(f"unknown source type {kind!r}; choose from {TYPES}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.initialize()
    return model


def n_free(model: Model) -> int:
    return sum(int(np.prod(p.shape)) if p.shape else 1 for p in model.parameters.values() if not p.fixed)


@dataclass
class Candidate:
    """One candidate model's fit on a source window.

    Attributes
    ----------
    kind : str
    chi2 : float
        χ² over the window (everything else fixed).
    k : int
        Free parameters.
    log_evidence : float
        Laplace log Z (NaN when the covariance is singular or the fit failed).
    values : dict
        Local parameter name → MAP value.
    message : str
        The fit's message ("success" or why not).
    at_limit : list of str
    """

    kind: str
    chi2: float
    k: int
    log_evidence: float
    values: dict[str, float] = field(default_factory=dict)
    message: str = ""
    at_limit: list[str] = field(default_factory=list)


def laplace_log_evidence(result: Any, priors: dict[str, Any], values: dict[str, Any], log_norm: float) -> float:
    """log Z ≈ −χ²/2 + log_norm + log p(θ̂) + (k/2) log 2π + ½ log det Σ_θ (nats).

    θ̂ and Σ_θ come from the maximum-likelihood fit (the priors are broad, so
    the likelihood dominates the curvature); ``priors`` are evaluated at θ̂
    (local parameter name → Prior), and ``log_norm`` is the Gaussian
    normalisation −½ Σ log(2π σ²) over the window's unmasked pixels.
    """
    if result.singular or not np.all(np.isfinite(result.covariance.matrix)):
        return float("nan")
    cov = np.asarray(result.covariance.matrix, dtype=np.float64)
    sign, logdet = np.linalg.slogdet(cov)
    if sign <= 0 or not np.isfinite(logdet):
        return float("nan")
    log_prior = 0.0
    for name, prior in priors.items():
        log_prior += float(np.sum(np.asarray(prior.log_prob(np.asarray(values[name], dtype=np.float64)))))
    if not np.isfinite(log_prior):
        return float("nan")
    k = cov.shape[0]
    return float(-0.5 * result.chi2 + log_norm + log_prior + 0.5 * k * math.log(2.0 * math.pi) + 0.5 * logdet)


#: LM tolerances for the candidate fits: a choice needs χ² to ~1e-3, not to machine precision
CANDIDATE_TOLERANCES = {"ftol": 1e-8, "xtol": 1e-3, "gtol": 1e-3}


def fit_candidate(kind: str, name: str, target: TargetImage, window: Window, start: SourceStart,
                  offset: np.ndarray, values: dict[str, float] | None = None, max_iterations: int = 60,
                  model: Model | None = None) -> tuple[Candidate, Model]:
    """Fit one candidate with ``offset`` (window-shaped image of everything else) held fixed.

    ``model`` (an existing model of this kind on this window, e.g. the group's
    current one) is refitted in place instead of building a new one, which
    reuses its compiled functions.
    """
    from ..fit import LM

    if model is None:
        model = make_model(kind, name, target, window, start, values)
    priors = default_priors(model)
    good = ~model.fit_mask
    variance = target.variance[window.slices][good]
    log_norm = -0.5 * float(np.sum(np.log(2.0 * math.pi * variance)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = LM(model, offset=offset, max_iterations=max_iterations, restarts=0, **CANDIDATE_TOLERANCES).fit()
    vals = {key: np.asarray(p.value, dtype=np.float64) for key, p in model.parameters.items()}
    cand = Candidate(kind, float(result.chi2), n_free(model), laplace_log_evidence(result, priors, vals, log_norm),
                     {k: float(v) for k, v in vals.items()}, result.message, list(result.at_limit))
    return cand, model


def chi2_none(target: TargetImage, window: Window, offset: np.ndarray, mask: np.ndarray) -> float:
    """χ² of the window with no source (the offset alone)."""
    good = ~mask
    r = (target.data[window.slices] - offset)[good]
    return float(np.sum(r * r / target.variance[window.slices][good]))


def select_dchi2(dchi2: dict[str, float], nparams: dict[str, int]) -> tuple[str, bool]:
    """The Tractor-style choice (see the module docstring).

    Parameters
    ----------
    dchi2 : dict
        Type → χ²(none) − χ²(type).
    nparams : dict
        Type → free parameters.

    Returns
    -------
    (type, significant)
    """
    kinds = [k for k in TYPES if k in dchi2 and np.isfinite(dchi2[k])]
    if not kinds:
        raise BayesphotError("no candidate fit produced a finite chi²")
    significant = max(dchi2[k] - nparams[k] for k in kinds) >= DETECTION_CUT
    base = "point" if "point" in kinds else kinds[0]
    keep = base
    galaxies = [k for k in ("exp", "dev") if k in kinds]
    if galaxies and base == "point":
        margin = 3.0**2 + (nparams.get("exp", 6) - nparams["point"])
        cut = max(margin, 0.01 * dchi2["point"])
        best = max(galaxies, key=lambda k: dchi2[k])
        if dchi2[best] - dchi2[keep] > cut:
            keep = best
    elif galaxies:
        keep = max(galaxies, key=lambda k: dchi2[k])
    if "sersic" in kinds and dchi2["sersic"] - dchi2[keep] > SERSIC_MARGIN:
        keep = "sersic"
    return keep, bool(significant)


def select_evidence(log_evidence: dict[str, float]) -> str | None:
    """The type with the largest Laplace log evidence (None when none is finite)."""
    finite = {k: v for k, v in log_evidence.items() if np.isfinite(v)}
    if not finite:
        return None
    return max(finite, key=finite.get)


def available_types(types: Sequence[str], has_psf: bool) -> list[str]:
    """Candidate types in canonical order; "point" only with a PSF."""
    unknown = [t for t in types if t not in TYPES]
    if unknown:
        raise BayesphotError(f"unknown source type(s) {unknown}; choose from {TYPES}")
    out = [t for t in TYPES if t in types and (t != "point" or has_psf)]
    if not out:
        raise BayesphotError("no candidate source type is left (a point source needs a PSF)")
    return out


__all__ = [
    "CANDIDATE_TOLERANCES",
    "TYPES",
    "Candidate",
    "SourceStart",
    "available_types",
    "chi2_none",
    "fit_candidate",
    "laplace_log_evidence",
    "make_model",
    "n_free",
    "select_dchi2",
    "select_evidence",
]
