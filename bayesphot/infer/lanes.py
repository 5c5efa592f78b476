"""NUTS whose lanes never wait for each other: the loop's unit is one leapfrog step, not one iteration.

A vectorised NUTS iteration (``vmap`` over numpyro's kernel) lasts as long as the
longest tree among its lanes (objects × chains).  On an H200, 100 stamps × 4
chains of 64² took trees of 6.5 leapfrog steps per draw on average while the
longest lane's took 26: three quarters of the device's work was lanes waiting;
500 stamps in one program took 1.7 s an iteration, 26 times the 100-stamp
program's time, as the deepest of 2000 trees grows with the lanes.

Here each lane carries its own place in its own tree and its own iteration
count, and every turn of the loop takes one leapfrog step in every lane: a lane
whose tree ends records its draw, adapts its step size and starts its next
tree at the next turn.  The run lasts as long as the lane with the most
leapfrog steps *in total*, which over hundreds of iterations is close to the
mean.  This is program-counter autobatching of NUTS (Radul, Patton, Maclaurin,
Hoffman & Saurous 2020, "Automatically batching control-intensive programs for
modern accelerators", MLSys), written out by hand for the one sampler used here.

The sampler is numpyro's default NUTS with a fixed metric, step by step:
multinomial sampling (Betancourt 2017, arXiv:1701.02434), uniform within a
subtree and biased progressive between subtrees; the generalised no-U-turn
criterion over every balanced subtree, with numpyro's convention of half-weighted
end momenta; a divergence where the energy error exceeds 1000; trees of at most
``2**max_tree_depth - 1`` steps.  The step size is adapted by dual averaging
(Hoffman & Gelman 2014, JMLR 15, Algorithm 5: γ = 0.05, t₀ = 10, κ = 0.75,
μ = log 10ε) from ε₀ = 1 (the metric is the Laplace covariance, so the posterior
is close to a standard normal in its coordinates), restarted from the step size
reached at the end of each of numpyro's middle adaptation windows (after
iterations 99 and 149 of 200); after the warm-up, the averaged step size.  numpyro
also searches a "reasonable" step size at the start and at each restart: that
search is a loop the lanes would wait in, and it is left out.  Without the
restarts the final step sizes were 15 % larger and the ESS per gradient 13 %
lower than numpyro's (12 stamps, 135 against 158 per 1000 gradients); with them
155 (step 0.690 against 0.685, acceptance 0.894 against 0.896).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from ..errors import SamplingInterruptedError, SamplingTimeLimitError
from .settings import SamplerSettings

#: numpyro's energy error at which a trajectory counts as divergent
MAX_DELTA_ENERGY = 1000.0
#: dual averaging's constants (Hoffman & Gelman 2014) and the first step size, in the metric's units
GAMMA, T0, KAPPA, FIRST_STEP = 0.05, 10.0, 0.75, 1.0
#: leapfrog steps (of every lane) per compiled call: between calls come the progress bar, Ctrl-C and the
#: time limit
STEPS_PER_CALL = 128
#: stragglers: once more than half of the objects have finished, the objects still running are released
#: (handed back unfinished) when the slowest lane would keep the loop past this many times the median
#: lane's leapfrog steps (:func:`stragglers`).  On an
#: H200, 1000 stamps of 64² × 4 chains had most lanes through their 700 iterations after ~70 s of sampling
#: while the slowest were at 633 of 700 after 300 s: a few objects would have set the whole program's length
TAIL_FACTOR = 2.0

_PROGRAMS: OrderedDict[tuple, tuple[Callable, Callable]] = OrderedDict()
_MAX_PROGRAMS = 16

#: the records kept per iteration, and the names :func:`bayesphot.infer._numpyro._collect` reads them by
RECORDS = ("z", "diverging", "num_steps", "energy", "step_size", "potential_energy", "accept_prob")


class Lane(NamedTuple):
    """One lane's whole state (every field gains leading axes of objects and chains when vectorised)."""

    # the chain: its current draw, iterations done, random key
    z: Any
    pe: Any
    grad: Any
    t: Any
    key: Any
    spent: Any  # leapfrog steps of all its iterations so far
    # step size and its dual averaging
    step: Any
    log_step: Any
    log_step_avg: Any
    h_bar: Any
    mu: Any  # the averaging's target, log 10ε at its (re)start
    since: Any  # iterations of adaptation since its (re)start
    # this iteration's tree: start energy, both ends, summed weight (relative to exp(-h0)), proposal,
    # summed momenta, depth, the direction of the subtree in progress, acceptance statistic, steps
    h0: Any
    z_left: Any
    r_left: Any
    g_left: Any
    z_right: Any
    r_right: Any
    g_right: Any
    weight: Any
    z_prop: Any
    pe_prop: Any
    g_prop: Any
    h_prop: Any
    rho: Any
    depth: Any
    forward: Any
    accept_sum: Any
    steps: Any
    # the subtree in progress: its moving end, points so far, weight, proposal, summed momenta, and each
    # balanced level's momentum and summed momenta where its block began
    z_end: Any
    r_end: Any
    g_end: Any
    n: Any
    sub_weight: Any
    sub_z: Any
    sub_pe: Any
    sub_g: Any
    sub_h: Any
    sub_rho: Any
    block_r: Any
    block_rho: Any
    # one row per iteration (and a last row that steps which record nothing write into)
    records: Any


def _programs(evaluate: Callable, key: str, s: SamplerSettings, dense: bool) -> tuple[Callable, Callable]:
    """Compiled (start, advance) for one structure and settings, vectorised over objects and chains; cached."""
    cache_key = (key, s.warmup, s.draws, s.target_accept, s.max_tree_depth, dense)
    if cache_key in _PROGRAMS:
        _PROGRAMS.move_to_end(cache_key)
        return _PROGRAMS[cache_key]
    import jax
    import jax.numpy as jnp

    total, warmup, levels = s.warmup + s.draws, s.warmup, s.max_tree_depth
    delta = float(s.target_accept)
    value_and_grad = jax.jit(jax.value_and_grad(lambda params, u: -evaluate(params, u), argnums=1))
    level_sizes = 2 ** jnp.arange(1, levels + 1)
    restarts = jnp.asarray(restart_schedule(warmup, total))

    def velocity(inverse: Any, r: Any) -> Any:  # M⁻¹ r for one momentum or a stack of them (last axis)
        return r @ inverse.T if dense else r * inverse

    def energy(pe: Any, inverse: Any, r: Any) -> Any:
        h = pe + 0.5 * jnp.dot(r, velocity(inverse, r))
        return jnp.where(jnp.isfinite(h), h, jnp.inf)

    def turned(inverse: Any, r_a: Any, r_b: Any, rho: Any) -> Any:
        rho = rho - 0.5 * (r_a + r_b)
        return (jnp.dot(velocity(inverse, r_a), rho) <= 0) | (jnp.dot(velocity(inverse, r_b), rho) <= 0)

    def new_tree(lane: Lane, inverse: Any, root: Any, rng: Any) -> Lane:
        """The lane with a fresh momentum and a tree of its current draw alone."""
        k_momentum, k_direction = jax.random.split(rng)
        r = root @ jax.random.normal(k_momentum, lane.z.shape, lane.z.dtype) if dense else \
            root * jax.random.normal(k_momentum, lane.z.shape, lane.z.dtype)
        h0 = energy(lane.pe, inverse, r)
        zero = jnp.zeros_like(lane.z)
        return lane._replace(
            h0=h0, z_left=lane.z, r_left=r, g_left=lane.grad, z_right=lane.z, r_right=r, g_right=lane.grad,
            weight=jnp.zeros_like(h0), z_prop=lane.z, pe_prop=lane.pe, g_prop=lane.grad, h_prop=h0, rho=r,
            depth=jnp.zeros_like(lane.depth), forward=jax.random.bernoulli(k_direction),
            accept_sum=jnp.zeros_like(h0), steps=jnp.zeros_like(lane.steps),
            z_end=lane.z, r_end=r, g_end=lane.grad, n=jnp.zeros_like(lane.n),
            sub_weight=jnp.full_like(h0, -jnp.inf), sub_rho=zero)

    def start(params: Any, z: Any, pe: Any, grad: Any, inverse: Any, root: Any, rng: Any) -> Lane:
        dtype = z.dtype
        scalar = jnp.zeros((), dtype)
        records = {name: jnp.zeros((total + 1, *shape), dt) for name, shape, dt in (
            ("z", z.shape, dtype), ("diverging", (), bool), ("num_steps", (), jnp.int32), ("energy", (), dtype),
            ("step_size", (), dtype), ("potential_energy", (), dtype), ("accept_prob", (), dtype))}
        rng, first = jax.random.split(rng)
        lane = Lane(
            z=z, pe=pe, grad=grad, t=jnp.zeros((), jnp.int32), key=rng, spent=jnp.zeros((), jnp.int32),
            step=scalar + FIRST_STEP, log_step=scalar + math.log(FIRST_STEP), log_step_avg=scalar, h_bar=scalar,
            mu=scalar + math.log(10 * FIRST_STEP), since=jnp.zeros((), jnp.int32),
            h0=scalar, z_left=z, r_left=z, g_left=z, z_right=z, r_right=z, g_right=z, weight=scalar,
            z_prop=z, pe_prop=scalar, g_prop=z, h_prop=scalar, rho=z, depth=jnp.zeros((), jnp.int32),
            forward=jnp.zeros((), bool), accept_sum=scalar, steps=jnp.zeros((), jnp.int32),
            z_end=z, r_end=z, g_end=z, n=jnp.zeros((), jnp.int32), sub_weight=scalar, sub_z=z, sub_pe=scalar,
            sub_g=z, sub_h=scalar, sub_rho=z, block_r=jnp.zeros((levels, *z.shape), dtype),
            block_rho=jnp.zeros((levels, *z.shape), dtype), records=records)
        return new_tree(lane, inverse, root, first)

    def step(lane: Lane, params: Any, inverse: Any, root: Any) -> Lane:
        """One leapfrog step of this lane's subtree, and whatever ends with it (subtree, tree, iteration)."""
        active = lane.t < total
        rng, k_sub, k_merge, k_next, k_tree = jax.random.split(lane.key, 5)
        eps = jnp.where(lane.forward, lane.step, -lane.step)
        r_half = lane.r_end - 0.5 * eps * lane.g_end
        z = lane.z_end + eps * velocity(inverse, r_half)
        pe, g = value_and_grad(params, z)
        r = r_half - 0.5 * eps * g
        h = energy(pe, inverse, r)
        error = h - lane.h0
        diverging = ~(error <= MAX_DELTA_ENERGY)  # NaN too (a density undefined there), as numpyro counts it
        w = jnp.where(jnp.isfinite(error), -error, -jnp.inf)
        accept_sum = lane.accept_sum + jnp.where(jnp.isfinite(error), jnp.exp(jnp.minimum(0.0, -error)), 0.0)
        steps = lane.steps + 1

        # within the subtree: uniform progressive sampling, and the U-turn of every balanced block ending here
        sub_weight = jnp.logaddexp(lane.sub_weight, w)
        take = (lane.n == 0) | (jnp.log(jax.random.uniform(k_sub, dtype=h.dtype)) < w - sub_weight)
        sub_z = jnp.where(take, z, lane.sub_z)
        sub_pe, sub_g, sub_h = (jnp.where(take, a, b) for a, b in ((pe, lane.sub_pe), (g, lane.sub_g),
                                                                    (h, lane.sub_h)))
        begins = (lane.n % level_sizes) == 0
        block_r = jnp.where(begins[:, None], r, lane.block_r)
        block_rho = jnp.where(begins[:, None], lane.sub_rho, lane.block_rho)
        sub_rho = lane.sub_rho + r
        ends = (((lane.n + 1) % level_sizes) == 0) & (jnp.arange(1, levels + 1) <= lane.depth)
        inner = jax.vmap(lambda r_a, rho_before: turned(inverse, r_a, r, sub_rho - rho_before))(block_r, block_rho)
        sub_turned = jnp.any(ends & inner)
        n = lane.n + 1
        sub_done = (n == 2 ** lane.depth) | sub_turned | diverging
        merged = sub_done & ~sub_turned & ~diverging

        # the subtree joins the tree: biased progressive sampling, the new end, the whole tree's U-turn
        accept_sub = merged & (jnp.log(jax.random.uniform(k_merge, dtype=h.dtype)) < sub_weight - lane.weight)
        weight = jnp.where(merged, jnp.logaddexp(lane.weight, sub_weight), lane.weight)
        z_prop, pe_prop, g_prop, h_prop = (jnp.where(accept_sub, a, b) for a, b in (
            (sub_z, lane.z_prop), (sub_pe, lane.pe_prop), (sub_g, lane.g_prop), (sub_h, lane.h_prop)))
        right = merged & lane.forward
        left = merged & ~lane.forward
        z_right, r_right, g_right = (jnp.where(right, a, b) for a, b in ((z, lane.z_right), (r, lane.r_right),
                                                                          (g, lane.g_right)))
        z_left, r_left, g_left = (jnp.where(left, a, b) for a, b in ((z, lane.z_left), (r, lane.r_left),
                                                                      (g, lane.g_left)))
        rho = jnp.where(merged, lane.rho + sub_rho, lane.rho)
        depth = jnp.where(merged, lane.depth + 1, lane.depth)
        tree_done = sub_done & (~merged | turned(inverse, r_left, r_right, rho) | (depth >= levels))

        # a new subtree from the end of the chosen direction
        forward = jnp.where(sub_done, jax.random.bernoulli(k_next), lane.forward)
        z_end = jnp.where(sub_done, jnp.where(forward, z_right, z_left), z)
        r_end = jnp.where(sub_done, jnp.where(forward, r_right, r_left), r)
        g_end = jnp.where(sub_done, jnp.where(forward, g_right, g_left), g)
        grown = lane._replace(
            key=rng, spent=lane.spent + 1, weight=weight, z_prop=z_prop, pe_prop=pe_prop, g_prop=g_prop,
            h_prop=h_prop, rho=rho,
            depth=depth, forward=forward, accept_sum=accept_sum, steps=steps,
            z_left=z_left, r_left=r_left, g_left=g_left, z_right=z_right, r_right=r_right, g_right=g_right,
            z_end=z_end, r_end=r_end, g_end=g_end, n=jnp.where(sub_done, 0, n),
            sub_weight=jnp.where(sub_done, -jnp.inf, sub_weight), sub_z=sub_z, sub_pe=sub_pe, sub_g=sub_g,
            sub_h=sub_h, sub_rho=jnp.where(sub_done, 0.0, sub_rho), block_r=block_r, block_rho=block_rho)

        # the tree's end is the iteration's: record, adapt the step size, and begin the next tree
        accept = accept_sum / steps
        row = jnp.where(tree_done & active, lane.t, total)
        values = {"z": z_prop, "diverging": diverging, "num_steps": steps, "energy": h_prop,
                  "step_size": lane.step, "potential_energy": pe_prop, "accept_prob": accept}
        records = {name: lane.records[name].at[row].set(values[name].astype(lane.records[name].dtype))
                   for name in RECORDS}
        m = (lane.since + 1).astype(h.dtype)
        adapting = tree_done & (lane.t < warmup)
        h_bar = (1 - 1 / (m + T0)) * lane.h_bar + (delta - accept) / (m + T0)
        log_step = lane.mu - jnp.sqrt(m) / GAMMA * h_bar
        log_step_avg = m ** -KAPPA * log_step + (1 - m ** -KAPPA) * lane.log_step_avg
        step_size = jnp.where(lane.t + 1 == warmup, jnp.exp(log_step_avg), jnp.exp(log_step))
        # numpyro's schedule: the averaging restarts at the end of each middle window, from the step reached
        restart = adapting & restarts[jnp.minimum(lane.t, total - 1)]
        finished = grown._replace(
            z=z_prop, pe=pe_prop, grad=g_prop, t=lane.t + 1,
            step=jnp.where(adapting, step_size, lane.step),
            log_step=jnp.where(adapting, log_step, lane.log_step),
            log_step_avg=jnp.where(restart, 0.0, jnp.where(adapting, log_step_avg, lane.log_step_avg)),
            h_bar=jnp.where(restart, 0.0, jnp.where(adapting, h_bar, lane.h_bar)),
            mu=jnp.where(restart, jnp.log(10 * step_size), lane.mu),
            since=jnp.where(restart, 0, jnp.where(adapting, lane.since + 1, lane.since)))
        finished = new_tree(finished, inverse, root, k_tree)
        # (the records are written in place at their row, never selected whole)
        after = jax.tree_util.tree_map(lambda a, b: jnp.where(tree_done, a, b), finished._replace(records=None),
                                       grown._replace(records=None))
        after = jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), after, lane._replace(records=None))
        return after._replace(records=records)

    # lanes: chains share their object's numbers, metric and root; objects have their own
    start_all = jax.vmap(jax.vmap(start, in_axes=(None, 0, 0, 0, None, None, 0)), in_axes=(0, 0, 0, 0, 0, 0, 0))
    step_all = jax.vmap(jax.vmap(step, in_axes=(0, None, None, None)), in_axes=(0, 0, 0, 0))

    def advance(lanes: Lane, params: Any, inverse: Any, root: Any) -> Lane:
        return jax.lax.fori_loop(0, STEPS_PER_CALL, lambda _, st: step_all(st, params, inverse, root), lanes)

    pair = (jax.jit(start_all), jax.jit(advance, donate_argnums=0))
    _PROGRAMS[cache_key] = pair
    while len(_PROGRAMS) > _MAX_PROGRAMS:
        _PROGRAMS.popitem(last=False)
    return pair


def restart_schedule(warmup: int, total: int) -> np.ndarray:
    """(total,) bool: after which iterations the step size's averaging restarts — the ends of numpyro's
    middle adaptation windows (``build_adaptation_schedule``: for 200 warm-up iterations, after 99 and 149)."""
    from numpyro.infer.hmc_util import build_adaptation_schedule

    out = np.zeros(total, dtype=bool)
    windows = build_adaptation_schedule(warmup) if warmup > 0 else []
    for window in windows[1:-1]:
        out[window.end] = True
    return out


def momentum_root(inverse_mass_matrices: np.ndarray) -> np.ndarray:
    """Per object, the factor ``L`` with ``L Lᵀ = M`` (the mass matrix, inverse of the given ones), so that
    ``L ξ`` with ξ standard normal is a momentum; for diagonal matrices (objects, k) the square root of M."""
    matrices = np.asarray(inverse_mass_matrices, dtype=np.float64)
    if matrices.ndim == 2:
        return 1.0 / np.sqrt(matrices)
    return np.linalg.cholesky(np.linalg.inv(matrices))


def stragglers(iterations: np.ndarray, spent: np.ndarray, loop_steps: int, total: int,
               tail_factor: float = TAIL_FACTOR) -> np.ndarray:
    """Objects to release unfinished: every object with a lane short of ``total`` iterations, once more than
    half of the objects have finished and the slowest lane, at its own pace so far (its ``spent`` steps per
    iteration), would keep the loop running past ``tail_factor`` times the median lane's steps; else none.

    ``iterations`` and ``spent`` are (objects, chains); ``loop_steps`` the loop's steps so far.  A lane
    close to its end is waited for, whatever its pace: releasing it costs a program of its own.
    """
    finished = np.all(iterations >= total, axis=1)
    if finished.all() or finished.mean() <= 0.5:
        return np.zeros(0, dtype=np.int64)
    pace = spent / np.maximum(iterations, 1)
    projected = loop_steps + float(np.max((total - np.minimum(iterations, total)) * pace))
    if projected <= tail_factor * float(np.median(spent)):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(~finished)


def sample(evaluate: Callable, key: str, params: Any, init: np.ndarray, inverse_mass_matrices: np.ndarray,
           s: SamplerSettings, description: str, start_slice: int | None = None,
           tail_factor: float | None = TAIL_FACTOR) -> tuple[dict[str, np.ndarray], int, np.ndarray]:
    """Run every lane's ``warmup + draws`` iterations; the records of each iteration, the loop's steps, and
    the objects released unfinished.

    Parameters
    ----------
    evaluate, key, params
        One structure's log density (:class:`bayesphot.structure.Lowered`), its key, and the objects'
        numbers stacked on a leading axis.
    init : (objects, chains, k) array
        Start points (unconstrained).
    inverse_mass_matrices : (objects, k, k) or (objects, k) array
        The fixed metric of each object, dense or diagonal.
    s : SamplerSettings
        ``kernel="nuts"`` without mass-matrix adaptation.
    description : str
        The progress bar's label.
    start_slice : int, optional
        Objects per evaluation of the starts' potentials (memory).
    tail_factor : float or None
        Release stragglers (:func:`stragglers`) at this many times the median lane's steps; None: never.

    Returns
    -------
    records : dict
        ``RECORDS`` with shape (objects, chains, iterations, …): all ``warmup + draws`` unless
        interrupted after the warm-up, when every lane's first common number of iterations are kept and
        ``records["_interrupted"]`` says so (``[draws kept, draws asked, limited]``).  The rows of
        released objects are incomplete and must not be used.
    steps : int
        Leapfrog steps the loop took (every lane took that many, or was idle): with the lanes' own
        steps, the price of their waiting.
    released : int array
        The objects released unfinished (ascending); empty unless a few lagged far behind the rest.

    Raises
    ------
    SamplingInterruptedError, SamplingTimeLimitError
        Ctrl-C, or the time limit, before every lane finished its warm-up.
    """
    import jax
    import jax.numpy as jnp

    from .mode import potential_at

    if s.kernel != "nuts" or s.adapt_mass_matrix:
        raise ValueError("lane-asynchronous sampling is NUTS with a fixed metric")
    matrices = np.asarray(inverse_mass_matrices, dtype=np.float64)
    dense = matrices.ndim == 3
    start_fn, advance_fn = _programs(evaluate, key, s, dense)
    total = s.warmup + s.draws
    objects, chains = init.shape[:2]
    keys = jax.random.split(jax.random.PRNGKey(s.seed), objects * chains).reshape((objects, chains, -1))
    potential, grad = potential_at(key, evaluate, params, init, True, objects_per_call=start_slice)
    inverse, root = jnp.asarray(matrices), jnp.asarray(momentum_root(matrices))
    lanes = start_fn(params, jnp.asarray(init), jnp.asarray(potential), jnp.asarray(grad), inverse, root, keys)
    bar = None
    if s.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc=description, unit="it", leave=False)
    calls, interrupted, limited = 0, False, False
    released = np.zeros(0, dtype=np.int64)
    done = np.zeros((objects, chains), dtype=np.int64)
    kept = np.arange(objects)
    t0 = time.perf_counter()
    try:
        while done[kept].min() < total:  # until every object not released has finished
            if s.time_limit is not None and calls and s.time_spent + (time.perf_counter() - t0) * (calls + 1) / calls \
                    > s.time_limit:
                interrupted = limited = True
                break
            lanes = advance_fn(lanes, params, inverse, root)
            calls += 1
            done = np.asarray(lanes.t)
            if bar is not None:
                bar.n = int(done.min())
                bar.set_postfix(mean=f"{done.mean():.0f}")
                bar.refresh()
            if tail_factor is not None and not released.size:
                released = stragglers(done, np.asarray(lanes.spent), calls * STEPS_PER_CALL, total, tail_factor)
                kept = np.setdiff1d(np.arange(objects), released)
    except KeyboardInterrupt:
        interrupted = True
        done = np.asarray(lanes.t)
    finally:
        if bar is not None:
            bar.close()
    least = int(done[kept].min())
    if interrupted and least <= s.warmup:
        message = f"({least} of {s.warmup} warm-up iterations in every lane)"
        if limited:
            raise SamplingTimeLimitError(f"the time limit of {s.time_limit:g} s came during warm-up {message}: "
                                         "no draws to keep")
        raise SamplingInterruptedError(f"sampling interrupted during warm-up {message}: no draws to keep")
    records = {name: np.asarray(lanes.records[name])[:, :, :least] for name in RECORDS}
    if interrupted:
        records["_interrupted"] = np.asarray([least - s.warmup, s.draws, int(limited)])
    return records, calls * STEPS_PER_CALL, released


__all__ = ["RECORDS", "TAIL_FACTOR", "Lane", "momentum_root", "sample", "stragglers"]
