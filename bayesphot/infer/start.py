"""Where the samplers start: the MAP point and the Laplace covariance.

The MAP comes from ``bp.fit.LM`` when the model has not been fitted yet (a
model whose free parameters all carry an uncertainty counts as fitted, and its
current values are used).  Should ``bp.fit`` be unavailable, a private
L-BFGS-B minimisation of ``Program.map_objective`` with JAX gradients stands in.

By default (:func:`prepare`) the sampler does not start at the MAP itself but
at the mode of the density it samples, ``log_density`` in the unconstrained
space (Jacobian included), found from the MAP by a damped Newton iteration
(:mod:`bayesphot.infer.mode`); the inverse exact Hessian there is the inverse
mass matrix.  When that curvature cannot be trusted (a mode at a limit, an
ill-conditioned or indefinite Hessian), :class:`Start` says so and the
sampler adapts the mass matrix.  ``refine=False`` keeps the older rule: the
fit's inverse Gauss–Newton Hessian at the MAP, or the inverse exact Hessian
of ``−log_density`` there, floored if it is not positive definite.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..errors import FitError
from ..models.base import Model
from ..program import Program


class SamplingWarning(UserWarning):
    """A sampler's result needs attention (divergences, r̂, ESS, tree depth, start point)."""


@dataclass
class Start:
    """The sampler's start point (unconstrained) and inverse mass matrix."""

    u: np.ndarray
    inverse_mass_matrix: np.ndarray
    source: str
    message: str = ""
    #: the curvature at the start cannot be trusted: the sampler should adapt the mass matrix
    adapt: bool = False
    #: why (empty when the start is sound)
    notes: tuple[str, ...] = ()
    #: parameters whose mode sits at a limit of their support
    at_limit: tuple[str, ...] = ()


def is_fitted(model: Model) -> bool:
    """True when every free parameter carries an uncertainty (a fit or a sampler set it)."""
    free = [p for p in model.parameters.values() if not p.fixed]
    return bool(free) and all(p.uncertainty is not None for p in free)


def _scipy_map(program: Program) -> tuple[np.ndarray, str]:
    """MAP by L-BFGS-B on ``map_objective`` with JAX gradients (fallback when bp.fit is missing)."""
    import jax
    from scipy.optimize import minimize

    with backend.using("jax"):
        f = jax.jit(jax.value_and_grad(program.map_objective))
        u0 = program.free.unconstrained()

        def fun(u: np.ndarray) -> tuple[float, np.ndarray]:
            value, grad = f(u)
            return float(value), np.asarray(grad, dtype=np.float64)

        result = minimize(fun, u0, jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    if not np.all(np.isfinite(result.x)):
        raise FitError("the MAP search produced non-finite values")
    return np.asarray(result.x, dtype=np.float64), str(result.message)


def find_map(model: Model, program: Program, fit: str | bool = "auto") -> tuple[np.ndarray, np.ndarray | None, str]:
    """The MAP point of ``model`` as an unconstrained vector.

    Parameters
    ----------
    model : Model
    program : Program
        The program the sampler will use (its free parameters define the vector).
    fit : "auto", True or False
        "auto" fits unless :func:`is_fitted`; True always fits; False starts
        at the current values.

    Returns
    -------
    (u, covariance or None, message)
    """
    if fit == "auto":
        fit = not is_fitted(model)
    if not fit:
        u = program.free.unconstrained()
        try:
            from ..fit.result import last_fit
        except ImportError:  # pragma: no cover
            return u, None, "current values"
        previous = last_fit(model, program.free.labels(), program.free.transforms, u)
        if previous is None:
            return u, None, "current values"
        return u, np.asarray(previous.covariance_unconstrained, dtype=np.float64), "current values (fitted earlier)"
    try:
        from ..fit import LM  # type: ignore[attr-defined]
    except ImportError:
        LM = None
    if LM is not None:
        lm = LM(model, likelihood=program.likelihood)
        result = lm.fit()
        u = np.asarray(getattr(result, "u", program.free.unconstrained()), dtype=np.float64)
        cov = getattr(result, "covariance_unconstrained", None)
        if lm.problem.free.transforms != program.free.transforms:
            # the sampler's priors bind differently from the model's own: re-express the MAP in its space
            u, cov = program.free.unconstrained(), None
        return u, None if cov is None else np.asarray(cov, dtype=np.float64), str(getattr(result, "message", ""))
    u, message = _scipy_map(program)
    program.free.assign(u)
    return u, None, message


def laplace_inverse_mass(program: Program, u: np.ndarray, fallback: np.ndarray | None = None) -> tuple[np.ndarray, str]:
    """The Laplace covariance at ``u`` (k × k numpy) for the inverse mass matrix.

    The fit's Gauss–Newton covariance (``fallback``) when it is given and
    positive definite; otherwise the inverse exact Hessian of ``−log_density``
    (compiled once per structure), its eigenvalues floored if it is not
    positive definite or ill-conditioned (a warning says so).

    Returns
    -------
    (matrix, source) with source "fit covariance", "hessian" or "floored hessian".
    """
    from .. import structure
    from .mode import inverse_mass

    if fallback is not None and fallback.shape == (u.size, u.size) and np.all(np.isfinite(fallback)):
        try:
            np.linalg.cholesky(fallback)
            return _symmetric(fallback), "fit covariance"
        except np.linalg.LinAlgError:
            pass
    lowered = program.lower("log_density")
    hessian = -np.asarray(structure.compiled(lowered, "hessian")(lowered.params, np.asarray(u, dtype=np.float64)))
    if not np.all(np.isfinite(hessian)):
        raise FitError("the Hessian of the log-density at the start point is not finite")
    matrix, reliable, reason = inverse_mass(hessian)
    if reliable:
        return _symmetric(matrix), "hessian"
    warnings.warn(f"{reason} at the start point (not at a mode?); its eigenvalues were floored to build the "
                  "mass matrix", SamplingWarning, stacklevel=3)
    return _symmetric(matrix), "floored hessian"


def _symmetric(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + m.T)


def interval_coordinates(program: Program) -> np.ndarray:
    """Boolean mask of the vector's elements whose transform maps onto a bounded interval."""
    parts = [np.full(int(np.prod(param.shape)) if param.shape else 1, tr.kind == "interval")
             for (_, param), tr in zip(program.free.entries, program.free.transforms, strict=True)]
    return np.concatenate(parts)


def start_points(start: Start, chains: int, scatter: float, seed: int,
                 interval: np.ndarray | None = None, centres: np.ndarray | None = None) -> np.ndarray:
    """``chains`` start vectors: the start plus ``scatter`` × a draw from the Laplace approximation.

    Interval-bounded coordinates (``interval``) are kept away from their limits
    (|u| ≤ :data:`~bayesphot.infer.mode.PULL_BACK`), where the density is flat in ``u``.
    ``centres`` (chains × k), when given, replace the start as each chain's
    centre (the modes found by :func:`~bayesphot.infer.survey.survey_modes`).
    """
    from .mode import pull_back

    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(start.inverse_mass_matrix)
    noise = rng.standard_normal((chains, start.u.size)) @ chol.T
    # each displacement at most one unit of u (an e-fold of a log-scaled parameter): a floored,
    # untrusted matrix must not throw chains far from the mode
    centre = start.u[None, :] if centres is None else np.asarray(centres, dtype=np.float64)
    points = centre + np.clip(scatter * noise, -1.0, 1.0)
    return points if interval is None else pull_back(points, interval)


def fit_covariance_suffices(u: np.ndarray, cov: np.ndarray | None, interval: np.ndarray) -> bool:
    """Whether the MAP fit's covariance can stand for the curvature of the sampled density.

    It can when it is finite, positive definite and well conditioned and no
    interval-bounded coordinate is near a limit (|u| ≤ PULL_BACK): there the
    log-Jacobian moves the mode by a small fraction of σ and adds at most
    0.5 to a curvature that the data make much larger.  Otherwise the mode of
    the sampled density must be found (:func:`prepare`).
    """
    from .mode import MAX_CONDITION, PULL_BACK, scaled_condition

    if cov is None or cov.shape != (u.size, u.size) or not np.all(np.isfinite(cov)):
        return False
    if np.any(np.abs(u[interval]) > PULL_BACK):
        return False
    return scaled_condition(cov) <= MAX_CONDITION


def prepare(model: Model, program: Program, fit: Any = "auto", refine: bool = True) -> Start:
    """MAP (fitting if needed), then the mode of the sampled density and the Laplace matrix there.

    Parameters
    ----------
    model, program
    fit : "auto", True or False
        See :func:`find_map`.
    refine : bool
        When the fit's covariance cannot stand for the curvature of the
        sampled density (:func:`fit_covariance_suffices`: a coordinate near a
        limit, an ill-conditioned or missing covariance), move from the MAP to
        the mode of ``log_density`` (Jacobian included;
        :func:`bayesphot.infer.mode.refine_mode`) and use the inverse exact
        Hessian there (default).  False: always the MAP and the fit's
        covariance (or the Hessian at the MAP), as before.

    Returns
    -------
    Start
        ``adapt`` is True (with ``notes`` saying why) when the curvature at the
        start cannot be trusted: a mode at a limit, an ill-conditioned or
        indefinite Hessian, or a refinement that did not converge.
    """
    from .mode import refine_mode

    u, cov, message = find_map(model, program, fit)
    interval = interval_coordinates(program)
    if not refine:
        matrix, source = laplace_inverse_mass(program, u, cov)
        return Start(u=u, inverse_mass_matrix=matrix, source=source, message=message)
    if fit_covariance_suffices(u, cov, interval):
        return Start(u=u, inverse_mass_matrix=_symmetric(cov), source="fit covariance", message=message)
    mode = refine_mode(program.lower("log_density"), u, interval)
    if not (np.all(np.isfinite(mode.u)) and np.isfinite(mode.potential)):
        matrix, source = laplace_inverse_mass(program, u, cov)
        return Start(u=u, inverse_mass_matrix=matrix, source=source, message=message, adapt=True,
                     notes=("the refinement to the mode of the sampled density failed (non-finite)",))
    return start_at_mode(mode.u, mode.hessian, bool(mode.converged), int(mode.iterations), interval,
                         program.free.labels(), "mode of the sampled density", message)


def start_at_mode(u: np.ndarray, hessian: np.ndarray, converged: bool, iterations: int, interval: np.ndarray,
                  labels: list[str], source: str, message: str = "") -> Start:
    """The :class:`Start` at a mode found by :mod:`~bayesphot.infer.mode`, with notes on why not to trust it.

    Notes (and ``adapt``) come from an untrusted Hessian (:func:`~bayesphot.infer.mode.inverse_mass`),
    a Newton search that did not converge, and interval coordinates still at a limit.
    """
    from .mode import AT_LIMIT, inverse_mass

    matrix, reliable, reason = inverse_mass(hessian)
    notes: list[str] = []
    if not reliable:
        notes.append(reason)
    if not converged:
        notes.append(f"the mode search did not converge in {iterations} Newton steps")
    at_limit = tuple(labels[i] for i in np.flatnonzero(interval & (np.abs(u) > AT_LIMIT)))
    if at_limit:
        notes.append("the mode sits at a limit of " + ", ".join(at_limit))
    return Start(u=u, inverse_mass_matrix=_symmetric(matrix), source=source, message=message,
                 adapt=bool(notes), notes=tuple(notes), at_limit=at_limit)


__all__ = ["SamplingWarning", "Start", "find_map", "interval_coordinates", "is_fitted", "laplace_inverse_mass",
           "prepare", "start_at_mode", "start_points"]
