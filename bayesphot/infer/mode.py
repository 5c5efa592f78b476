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

The Hessian is the central difference of the autodiff gradient (only the
gradient is compiled); :func:`refine_mode_batch` runs the iteration for many
objects of one structure with one vectorised gradient call per step.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..structure import on_cpu
from .slices import padded_slices

#: interval-bounded coordinates start at most this far from 0 (σ(7) = 0.99909: 0.09 % of the range)
PULL_BACK = 7.0
#: |u| beyond which an interval coordinate counts as "at its limit" after refinement
AT_LIMIT = 9.0
#: condition number of the Hessian scaled to unit diagonal (:func:`scaled_condition`) beyond which its
#: inverse is not trusted as a mass matrix: 1e8 is a combination of parameters 10⁴ times less well
#: measured than its parts (correlation 1 − 1e-8); the raw condition number mostly measures units
MAX_CONDITION = 1e8

_COMPILED: OrderedDict[tuple, Callable] = OrderedDict()


@dataclass
class Mode:
    """Result of :func:`refine_mode` (numpy; leading object axis for batches)."""

    u: np.ndarray
    hessian: np.ndarray
    potential: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray


def _points(u: np.ndarray, step: float) -> np.ndarray:
    """u and u ± step·e_i (…, 2k + 1, k): where the gradient is needed for a central-difference Hessian."""
    k = u.shape[-1]
    eye = np.eye(k) * step
    return np.concatenate([u[..., None, :], u[..., None, :] + eye, u[..., None, :] - eye], axis=-2)


def potential_and_gradient(key: str, evaluate: Callable, batched: bool, params: Any) -> Callable:
    """jit(vmap(value_and_grad)) of −log_density over points (and objects); one compilation per structure.

    For one object whose numbers ``params`` live on a CPU, the points go through ``lax.map``
    instead of ``vmap``: compiled in 2.7 s instead of 4.0 s for a 64² Sérsic, and no slower.
    """
    import jax

    loop = not batched and on_cpu(params)
    cache_key = (key, batched, loop)
    if cache_key not in _COMPILED:
        one = jax.value_and_grad(lambda params, u: -evaluate(params, u), argnums=1)
        if loop:
            def vg(params: Any, points: Any) -> Any:
                return jax.lax.map(lambda u: one(params, u), points)
        else:
            vg = jax.vmap(one, in_axes=(None, 0))
        _COMPILED[cache_key] = jax.jit(jax.vmap(vg) if batched else vg)
        while len(_COMPILED) > 64:
            _COMPILED.popitem(last=False)
    _COMPILED.move_to_end(cache_key)
    return _COMPILED[cache_key]


def potential_at(key: str, evaluate: Callable, params: Any, points: np.ndarray,
                 batched: bool = False, objects_per_call: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(−log_density, gradient) at ``points`` (…, n, k), numpy, through one compiled shape.

    The points go through :func:`potential_and_gradient` in blocks of the
    Hessian stencil's size, 2k + 1 (the last block padded), so chain starts,
    surveys and the mode search share one compilation instead of one per count.
    ``batched``: ``params`` and ``points`` have a leading axis of objects; with
    ``objects_per_call`` they go in padded slices of that many objects (memory).
    """
    points = np.asarray(points, dtype=np.float64)
    if batched and objects_per_call is not None and points.shape[0] > objects_per_call:
        import jax

        parts = []
        for index, real in padded_slices(points.shape[0], objects_per_call):
            part = jax.tree_util.tree_map(lambda a, index=index: a[np.asarray(index)], params)
            v, g = potential_at(key, evaluate, part, points[index], batched=True)
            parts.append((v[:real], g[:real]))
        return np.concatenate([v for v, _ in parts]), np.concatenate([g for _, g in parts])
    fn = potential_and_gradient(key, evaluate, batched, params)
    n, k = points.shape[-2:]
    block = 2 * k + 1
    values, grads = [], []
    for first in range(0, n, block):
        part = points[..., first:first + block, :]
        size = part.shape[-2]
        if size < block:
            pad = np.repeat(part[..., -1:, :], block - size, axis=-2)
            part = np.concatenate([part, pad], axis=-2)
        v, g = fn(params, part)
        values.append(np.asarray(v, dtype=np.float64)[..., :size])
        grads.append(np.asarray(g, dtype=np.float64)[..., :size, :])
    return np.concatenate(values, axis=-1), np.concatenate(grads, axis=-2)


def _newton(fn: Callable, params: Any, u0: np.ndarray, max_iter: int, step: float = 1e-5) -> Mode:
    """Damped Newton on −log_density for a batch (objects × k) of starts, in numpy around one compiled call.

    The Hessian is the central difference of the exact (autodiff) gradient, so
    the only compiled function is the gradient: compiling an exact Hessian of a
    pixel-integrated render costs minutes on a CPU.
    """
    u = np.array(u0, dtype=np.float64)
    m, k = u.shape

    def curvature(points_u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        values, grads = fn(params, _points(points_u, step))
        values, grads = np.array(values, np.float64), np.array(grads, np.float64)  # writable copies
        h = (grads[:, 1:k + 1, :] - grads[:, k + 1:, :]) / (2.0 * step)
        return values[:, 0], grads[:, 0, :], 0.5 * (h + np.swapaxes(h, 1, 2))

    f, g, h = curvature(u)
    lam = np.full(m, 1e-3)
    done = ~np.isfinite(f)
    iterations = np.zeros(m, dtype=int)
    for _ in range(max_iter):
        if done.all():
            break
        trial = u.copy()
        for i in np.flatnonzero(~done):
            scale = np.maximum(np.abs(np.diag(h[i])), 1e-12 * (1.0 + np.max(np.abs(np.diag(h[i])))))
            try:
                trial[i] = u[i] - np.linalg.solve(_absolute(h[i]) + lam[i] * np.diag(scale), g[i])
            except np.linalg.LinAlgError:
                trial[i] = u[i]
        f_t, g_t, h_t = curvature(trial)
        ok = ~done & np.isfinite(f_t) & np.all(np.isfinite(g_t), axis=1) & (f_t <= f)
        converged = ok & (f - f_t < 1e-9)
        u[ok], f[ok], g[ok], h[ok] = trial[ok], f_t[ok], g_t[ok], h_t[ok]
        lam = np.where(ok, np.maximum(lam / 3.0, 1e-9), np.where(done, lam, lam * 4.0))
        iterations += ~done
        done |= converged | (lam > 1e10)
    return Mode(u, h, f, iterations, done & (lam <= 1e10))


def _absolute(h: np.ndarray) -> np.ndarray:
    """|H|: the Hessian with its eigenvalues' signs made positive (Dauphin et al. 2014, NeurIPS).

    At a mode H is positive definite and unchanged; on a flank, where the
    curvature along some direction is negative, a plain Newton step would head
    for the saddle or the maximum, while |H| turns it downhill.
    """
    if not np.all(np.isfinite(h)):
        return h
    values, vectors = np.linalg.eigh(h)
    return (vectors * np.abs(values)) @ vectors.T


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
    fn = potential_and_gradient(lowered.key, lowered.evaluator(), batched=False, params=lowered.params)
    mode = _newton(lambda params, pts: _single(fn, params, pts), lowered.params,
                   pull_back(u0, interval)[None, :], max_iter)
    return Mode(mode.u[0], mode.hessian[0], mode.potential[0], mode.iterations[0], mode.converged[0])


def _single(fn: Callable, params: Any, points: np.ndarray) -> tuple[Any, Any]:
    values, grads = fn(params, points[0])
    return np.array(values)[None], np.array(grads)[None]


def refine_mode_batch(lowered: list[Any], u0: np.ndarray, interval: np.ndarray, max_iter: int = 100) -> Mode:
    """:func:`refine_mode` for many programs of one structure at once (``u0``: objects × k)."""
    import jax
    import jax.numpy as jnp

    params = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *[low.params for low in lowered])
    fn = potential_and_gradient(lowered[0].key, lowered[0].evaluator(), batched=True, params=params)
    return _newton(fn, params, pull_back(u0, interval), max_iter)


def scaled_condition(matrix: np.ndarray) -> float:
    """Condition number of a symmetric positive-definite ``matrix`` after scaling it to unit diagonal.

    The condition number of a Hessian itself mostly measures the parameters' units (a flux of
    10⁴ counts beside a position known to 0.01 px gives 10¹² with no correlation at all), which a
    dense mass matrix absorbs exactly.  Scaled to unit diagonal (a correlation matrix) it measures
    how nearly some combination of parameters is unconstrained: ``1 / (1 − ρ)`` for two parameters
    of correlation ρ, roughly.  ``inf`` when ``matrix`` is not positive definite.
    """
    m = 0.5 * (matrix + matrix.T)
    diagonal = np.diag(m)
    if not np.all(np.isfinite(m)) or np.any(diagonal <= 0):
        return math.inf
    scale = 1.0 / np.sqrt(diagonal)
    eigval = np.linalg.eigvalsh(m * scale[:, None] * scale[None, :])
    return math.inf if eigval[0] <= 0 else float(eigval[-1] / eigval[0])


def inverse_mass(hessian: np.ndarray) -> tuple[np.ndarray, bool, str]:
    """Inverse of a Hessian for the mass matrix, and whether it can be trusted.

    Returns
    -------
    (matrix, reliable, reason): the inverse when the Hessian is positive
    definite with a :func:`scaled_condition` ≤ MAX_CONDITION; otherwise the inverse with
    eigenvalues floored at 1e-8 of the largest (reliable False, reason says why).
    """
    h = 0.5 * (hessian + hessian.T)
    if not np.all(np.isfinite(h)):
        return np.eye(h.shape[0]), False, "the Hessian is not finite"
    eigval, eigvec = np.linalg.eigh(h)
    condition = scaled_condition(h) if eigval.min() > 0 else math.inf
    if condition <= MAX_CONDITION:
        return eigvec @ np.diag(1.0 / eigval) @ eigvec.T, True, ""
    top = max(float(np.max(np.abs(eigval))), 1e-300)
    fixed = np.maximum(np.abs(eigval), 1e-8 * top)
    matrix = eigvec @ np.diag(1.0 / fixed) @ eigvec.T
    reason = ("the Hessian is not positive definite" if eigval.min() <= 0
              else f"the Hessian is ill-conditioned (condition number {condition:.1e} at unit diagonal)")
    return 0.5 * (matrix + matrix.T), False, reason


__all__ = ["AT_LIMIT", "MAX_CONDITION", "PULL_BACK", "Mode", "inverse_mass", "pull_back", "refine_mode",
           "refine_mode_batch", "scaled_condition"]
