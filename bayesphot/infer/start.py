"""Where the samplers start: the MAP point and the Laplace covariance.

The MAP comes from ``bp.fit.LM`` when the model has not been fitted yet (a
model whose free parameters all carry an uncertainty counts as fitted, and its
current values are used).  Should ``bp.fit`` be unavailable, a private
L-BFGS-B minimisation of ``Program.map_objective`` with JAX gradients stands in.

The inverse mass matrix is the Laplace covariance in the unconstrained space:
the fit's inverse Gauss–Newton Hessian (``FitResult.covariance_unconstrained``)
when the MAP was just found by ``bp.fit.LM``; otherwise (model fitted earlier,
or a singular fit covariance) the inverse exact Hessian of the potential
``−Program.log_density`` (priors and log-Jacobian included) at the start
point, computed by JAX, with its eigenvalues floored if it is not positive
definite (a warning says so).
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
    positive definite (no extra compilation); otherwise the inverse exact
    Hessian of ``−log_density``, its eigenvalues floored if it is not
    positive definite.

    Returns
    -------
    (matrix, source) with source "fit covariance", "hessian" or "floored hessian".
    """
    import jax

    if fallback is not None and fallback.shape == (u.size, u.size) and np.all(np.isfinite(fallback)):
        try:
            np.linalg.cholesky(fallback)
            return _symmetric(fallback), "fit covariance"
        except np.linalg.LinAlgError:
            pass

    with backend.using("jax"):
        hessian_fn = jax.jit(jax.hessian(lambda v: -program.log_density(v)))  # compiled, not run op by op
        hessian = np.asarray(hessian_fn(np.asarray(u, dtype=np.float64)))
    hessian = 0.5 * (hessian + hessian.T)
    if not np.all(np.isfinite(hessian)):
        raise FitError("the Hessian of the log-density at the start point is not finite")
    eigval, eigvec = np.linalg.eigh(hessian)
    if eigval.min() > 1e-12 * max(eigval.max(), 1e-300):
        return _symmetric(eigvec @ np.diag(1.0 / eigval) @ eigvec.T), "hessian"
    floor = 1e-6 * max(abs(eigval).max(), 1e-12)
    fixed = np.maximum(np.abs(eigval), floor)
    warnings.warn(
        "the Hessian at the start point is not positive definite (not at a mode?); "
        "its eigenvalues were floored to build the mass matrix",
        SamplingWarning,
        stacklevel=3,
    )
    return _symmetric(eigvec @ np.diag(1.0 / fixed) @ eigvec.T), "floored hessian"


def _symmetric(m: np.ndarray) -> np.ndarray:
    return 0.5 * (m + m.T)


def start_points(start: Start, chains: int, scatter: float, seed: int) -> np.ndarray:
    """``chains`` start vectors: the MAP plus ``scatter`` × a draw from the Laplace approximation."""
    rng = np.random.default_rng(seed)
    chol = np.linalg.cholesky(start.inverse_mass_matrix)
    noise = rng.standard_normal((chains, start.u.size)) @ chol.T
    return start.u[None, :] + scatter * noise


def prepare(model: Model, program: Program, fit: Any = "auto") -> Start:
    """MAP (fitting if needed) and the Laplace inverse mass matrix at it."""
    u, cov, message = find_map(model, program, fit)
    matrix, source = laplace_inverse_mass(program, u, cov)
    return Start(u=u, inverse_mass_matrix=matrix, source=source, message=message)


__all__ = ["SamplingWarning", "Start", "find_map", "is_fitted", "laplace_inverse_mass", "prepare", "start_points"]
