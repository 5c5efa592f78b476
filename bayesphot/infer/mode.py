"""The mode and curvature of the density a sampler targets (damped Newton, compiled per structure).

The MAP fit (``bp.fit.LM``) minimises ``−log p(θ | d)`` in parameter space; the
sampler moves in the unconstrained space ``u`` and targets
``log p(θ(u) | d) + log |dθ/du|``.  The two modes differ by the log-Jacobian,
and they differ most where it matters: when the posterior of a bounded
parameter piles up at a limit, the MAP sits *on* the limit (``u → ±∞``, where
``dθ/du → 0`` and the Gauss–Newton covariance in ``u`` is meaningless), while the
sampled density has a proper mode inside.  :func:`refine_mode` moves from the MAP
to that mode with a Levenberg-damped Newton iteration on ``−log_density``
(exact Hessian by JAX), after pulling interval-bounded coordinates back from
their limits, and returns the Hessian there for the Laplace mass matrix.

The iteration is one ``lax.while_loop``; :func:`refine_mode_batch` maps it over
objects of one structure.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

#: interval-bounded coordinates start at most this far from 0 (σ(7) = 0.99909: 0.09 % of the range)
PULL_BACK = 7.0
#: |u| beyond which an interval coordinate counts as "at its limit" after refinement
AT_LIMIT = 9.0
#: condition number of the Hessian beyond which its inverse is not trusted as a mass matrix
MAX_CONDITION = 1e10

_COMPILED: OrderedDict[tuple, Callable] = OrderedDict()


@dataclass
class Mode:
    """Result of :func:`refine_mode` (numpy; leading object axis for batches)."""

    u: np.ndarray
    hessian: np.ndarray
    potential: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def _newton(evaluate: Callable, max_iter: int) -> Callable:
    import jax
    import jax.numpy as jnp

    def solve(params: Any, u0: Any) -> tuple[Any, ...]:
        def f(u: Any) -> Any:
            return -evaluate(params, u)

        def grad_twice(u: Any) -> tuple[Any, Any]:
            g = jax.grad(f)(u)
            return g, g

        # Hessian and gradient in one forward-over-reverse pass (one copy of the graph)
        curvature = jax.jacfwd(grad_twice, has_aux=True)

        def cond(state: tuple) -> Any:
            return (~state[-1]) & (state[-2] < max_iter)

        def body(state: tuple) -> tuple:
            u, fu, g, h, lam, it, _ = state
            scale = jnp.maximum(jnp.abs(jnp.diag(h)), 1e-12 * (1.0 + jnp.max(jnp.abs(jnp.diag(h)))))
            delta = -jnp.linalg.solve(h + lam * jnp.diag(scale), g)
            trial = u + delta
            f_trial = f(trial)
            ok = jnp.isfinite(f_trial) & jnp.all(jnp.isfinite(delta)) & (f_trial <= fu)
            decrease = jnp.where(ok, fu - f_trial, jnp.inf)
            # converged: the accepted step changed the potential by < 1e-9 (in units of log density)
            done = (ok & (decrease < 1e-9)) | (lam > 1e10)
            u_new = jnp.where(ok, trial, u)
            h_new, g_new = curvature(u_new)
            h_new = 0.5 * (h_new + h_new.T)
            f_new = jnp.where(ok, f_trial, fu)
            lam_new = jnp.where(ok, jnp.maximum(lam / 3.0, 1e-9), lam * 4.0)
            return u_new, f_new, g_new, h_new, lam_new, it + 1, done

        dtype = u0.dtype
        h0, g0 = curvature(u0)
        state = (u0, f(u0), g0, 0.5 * (h0 + h0.T), jnp.asarray(1e-3, dtype), jnp.asarray(0), jnp.asarray(False))
        u, fu, _, h, lam, it, done = jax.lax.while_loop(cond, body, state)
        return u, h, fu, it, done & (lam <= 1e10)

    return solve


def _compiled(key: str, evaluate: Callable, max_iter: int, batched: bool) -> Callable:
    import jax

    cache_key = (key, max_iter, batched)
    if cache_key not in _COMPILED:
        solve = _newton(evaluate, max_iter)
        _COMPILED[cache_key] = jax.jit(jax.vmap(solve) if batched else solve)
        while len(_COMPILED) > 64:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(cache_key)
    return _COMPILED[cache_key]


def pull_back(u: np.ndarray, interval: np.ndarray) -> np.ndarray:
    """``u`` with interval-bounded coordinates clipped to ±PULL_BACK (away from their limits)."""
    out = np.array(u, dtype=np.float64, copy=True)
    out[..., interval] = np.clip(out[..., interval], -PULL_BACK, PULL_BACK)
    return out


def refine_mode(lowered: Any, u0: np.ndarray, interval: np.ndarray, max_iter: int = 60) -> Mode:
    """Mode of ``lowered`` (a lowered ``log_density``) near ``u0`` and the Hessian of its negative there.

    Parameters
    ----------
    lowered : bayesphot.structure.Lowered
    u0 : (k,) array
        Start (the MAP), unconstrained.
    interval : (k,) bool array
        Coordinates with an interval transform (pulled back before the iteration).
    max_iter : int
    """
    import jax.numpy as jnp

    solve = _compiled(lowered.key, lowered.evaluator(), max_iter, batched=False)
    u, h, f, it, done = solve(lowered.params, jnp.asarray(pull_back(u0, interval)))
    return Mode(np.asarray(u, np.float64), np.asarray(h, np.float64), np.asarray(f, np.float64),
                np.asarray(it), np.asarray(done))


def refine_mode_batch(lowered: list[Any], u0: np.ndarray, interval: np.ndarray, max_iter: int = 100) -> Mode:
    """:func:`refine_mode` for many programs of one structure at once (``u0``: objects × k)."""
    import jax
    import jax.numpy as jnp

    params = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[low.params for low in lowered])
    solve = _compiled(lowered[0].key, lowered[0].evaluator(), max_iter, batched=True)
    u, h, f, it, done = solve(params, jnp.asarray(pull_back(u0, interval)))
    return Mode(np.asarray(u, np.float64), np.asarray(h, np.float64), np.asarray(f, np.float64),
                np.asarray(it), np.asarray(done))


def inverse_mass(hessian: np.ndarray) -> tuple[np.ndarray, bool, str]:
    """Inverse of a Hessian for the mass matrix, and whether it can be trusted.

    Returns
    -------
    (matrix, reliable, reason): the inverse when the Hessian is positive
    definite with condition number ≤ MAX_CONDITION; otherwise the inverse with
    eigenvalues floored at 1e-8 of the largest (reliable False, reason says why).
    """
    h = 0.5 * (hessian + hessian.T)
    if not np.all(np.isfinite(h)):
        return np.eye(h.shape[0]), False, "the Hessian is not finite"
    eigval, eigvec = np.linalg.eigh(h)
    top = max(float(np.max(np.abs(eigval))), 1e-300)
    if eigval.min() > 0 and top / eigval.min() <= MAX_CONDITION:
        return eigvec @ np.diag(1.0 / eigval) @ eigvec.T, True, ""
    fixed = np.maximum(np.abs(eigval), 1e-8 * top)
    matrix = eigvec @ np.diag(1.0 / fixed) @ eigvec.T
    reason = ("the Hessian is not positive definite" if eigval.min() <= 0
              else f"the Hessian is ill-conditioned (condition number {top / eigval.min():.1e})")
    return 0.5 * (matrix + matrix.T), False, reason


__all__ = ["AT_LIMIT", "MAX_CONDITION", "PULL_BACK", "Mode", "inverse_mass", "pull_back", "refine_mode",
           "refine_mode_batch"]
