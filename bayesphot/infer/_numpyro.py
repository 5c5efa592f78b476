"""Run HMC/NUTS on the flat unconstrained vector with numpyro's kernels, as one compiled program.

The potential is a structurally lowered ``−log_density`` (:mod:`bayesphot.structure`):
its numbers (data, weights, pixel grid, limits) are an argument, not constants
baked into the code.  Warm-up and sampling are a ``lax.scan`` over numpyro's
functional HMC/NUTS kernel (``numpyro.infer.hmc.hmc`` with ``potential_fn_gen``),
jitted once per (structure, settings).  On a CPU the chains run side by side in
threads through one single-chain program; on an accelerator, and always for
:func:`run_batch` (objects of one structure), chains and objects are one
vectorised program.  A fresh model object
of the same structure, or the next stamp of a catalog, reuses the compiled run.

The run is cut into equal chunks (for a progress bar); every chunk calls the
same compiled function.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from ..errors import SamplingInterruptedError, SamplingTimeLimitError
from .settings import SamplerSettings, tree_depth
from .slices import padded_slices

_RUNNERS: OrderedDict[tuple, tuple[Callable, Callable]] = OrderedDict()
_MAX_RUNNERS = 32


def _potential(evaluate: Callable) -> Callable:
    """−log density whose gradient is one jitted value-and-gradient function (traced once).

    numpyro differentiates the potential wherever its kernel takes a leapfrog step.
    Handed the log density itself, every such place re-derives the gradient of the
    model's whole jaxpr while the sampler is traced (6.7 s for a 64² Sérsic on
    two cores).  Here the gradient is a ``jax.jit`` function: tracing sees one
    call, traced once and cached by JAX, and XLA inlines it as before.
    """
    import jax

    value_and_grad = jax.jit(jax.value_and_grad(lambda params, u: -evaluate(params, u), argnums=1))

    @jax.custom_vjp
    def potential(params: Any, u: Any) -> Any:
        return value_and_grad(params, u)[0]

    def forward(params: Any, u: Any) -> tuple[Any, Any]:
        value, grad = value_and_grad(params, u)
        return value, (params, grad)

    def backward(residual: Any, cotangent: Any) -> tuple[Any, Any]:
        params, grad = residual
        return jax.tree_util.tree_map(jax.numpy.zeros_like, params), cotangent * grad

    potential.defvjp(forward, backward)
    return potential


def finite_kinetic_energy(inverse_mass_matrix: Any, r: Any) -> Any:
    """numpyro's Euclidean kinetic energy, +∞ where it is not finite (the proposal is then rejected).

    A trajectory that blows up (a step size far too large, tried while warm-up
    adapts it) can carry a momentum whose ½ rᵀ M⁻¹ r overflows. numpyro sums it
    as a dot product, and with a fused multiply-add one overflowed term of each
    sign gave −∞ instead of NaN: an energy of −∞ is accepted with probability 1,
    and a chain of the linear-Gaussian test jumped to sky = −4210 (3 × 10⁴ σ
    away) and stayed there. An infinite momentum is an infinite energy.
    """
    import jax.numpy as jnp
    from numpyro.infer.hmc_util import euclidean_kinetic_energy

    energy = euclidean_kinetic_energy(inverse_mass_matrix, r)
    return jnp.where(jnp.isfinite(energy), energy, jnp.inf)


def _kernel(evaluate: Callable, s: SamplerSettings) -> tuple[Callable, Callable]:
    from numpyro.infer.hmc import hmc
    from numpyro.infer.hmc_util import euclidean_kinetic_energy

    potential = _potential(evaluate)

    def potential_gen(params: Any) -> Callable:
        return lambda u: potential(params, u)

    # the position update keeps numpyro's gradient of the kinetic energy, M⁻¹ r
    finite_kinetic_energy._kinetic_grad = euclidean_kinetic_energy._kinetic_grad  # type: ignore[attr-defined]
    return hmc(potential_fn_gen=potential_gen, kinetic_fn=finite_kinetic_energy,
               algo="NUTS" if s.kernel == "nuts" else "HMC")


def _runners(evaluate: Callable, key: str, s: SamplerSettings, chunk: int, batched: bool,
             vector_chains: bool = True) -> tuple[Callable, Callable]:
    """Compiled (init, advance) for one structure and settings; cached.

    ``vector_chains``: the chains are one vectorised program (``vmap``); else the
    functions take one chain (run side by side in threads by :func:`_sample`).
    """
    cache_key = (key, s.kernel, s.dense_mass, s.adapt_mass_matrix, s.warmup, s.target_accept, s.max_tree_depth,
                 s.trajectory_length, s.num_steps, chunk, batched, vector_chains)
    if cache_key in _RUNNERS:
        _RUNNERS.move_to_end(cache_key)
        return _RUNNERS[cache_key]
    import jax
    import jax.numpy as jnp
    from numpyro.infer.util import ParamInfo

    init_kernel, sample_kernel = _kernel(evaluate, s)
    length: dict[str, Any] = {}
    if s.kernel == "nuts":
        length["max_tree_depth"] = s.max_tree_depth
    elif s.num_steps is not None:
        # no trajectory length with it: numpyro's default (2π) would fix the step at 2π / num_steps and
        # leave the adapted step size unused (every proposal rejected while the adaptation shrank it to 0)
        length["num_steps"] = int(s.num_steps)
        length["trajectory_length"] = None
    else:
        length["trajectory_length"] = float(s.trajectory_length if s.trajectory_length is not None
                                             else 0.5 * math.pi)

    def init_one(params: Any, u0: Any, potential: Any, grad: Any, inverse_mass: Any, rng: Any) -> Any:
        # the potential and its gradient at the start come in computed (by the compiled gradient the
        # mode search shares), so this program does not compile the model a second time
        matrix = inverse_mass if s.dense_mass else jnp.diag(inverse_mass)
        return init_kernel(ParamInfo(u0, potential, grad), s.warmup, inverse_mass_matrix=matrix,
                           adapt_mass_matrix=s.adapt_mass_matrix, dense_mass=s.dense_mass,
                           target_accept_prob=s.target_accept,
                           model_args=(params,), rng_key=rng, **length)

    def advance_one(state: Any, params: Any) -> tuple[Any, dict[str, Any]]:
        def step(carry: Any, _: Any) -> tuple[Any, dict[str, Any]]:
            new = sample_kernel(carry, model_args=(params,))
            record = {"z": new.z, "diverging": new.diverging, "num_steps": new.num_steps,
                      "energy": new.energy, "step_size": new.adapt_state.step_size,
                      "potential_energy": new.potential_energy, "accept_prob": new.accept_prob}
            return new, record

        return jax.lax.scan(step, state, None, length=chunk)

    if not vector_chains and not batched:
        pair = (jax.jit(init_one), jax.jit(advance_one, donate_argnums=0))
        _RUNNERS[cache_key] = pair
        return pair
    # over chains: params shared, start and key per chain
    init_chains = jax.vmap(init_one, in_axes=(None, 0, 0, 0, None, 0))
    advance_chains = jax.vmap(advance_one, in_axes=(0, None))
    if batched:  # over objects: params, starts, matrices and keys per object
        init_chains = jax.vmap(init_chains, in_axes=(0, 0, 0, 0, 0, 0))
        advance_chains = jax.vmap(advance_chains, in_axes=(0, 0))
    pair = (jax.jit(init_chains), jax.jit(advance_chains, donate_argnums=0))
    _RUNNERS[cache_key] = pair
    while len(_RUNNERS) > _MAX_RUNNERS:
        _RUNNERS.popitem(last=False)
    return pair


def _chain_threads(chains: int, batched: bool) -> int:
    """Threads running the chains of one program side by side; 0: vectorise them (``vmap``).

    On a CPU the chains run as one single-chain program in up to one thread per
    core: that compiles in about half the time of the vectorised program, and
    the chains' trees need not wait for each other's (a vectorised NUTS step
    lasts as long as its longest tree).  On an accelerator, and for batches of
    objects, one vectorised program keeps the device busy.  One chain on a CPU
    is the single-chain program too: vectorising it over a chain axis of one took
    4 s of tracing and 1.5–2× the compilation for a 64² Sérsic.
    """
    if batched or vectorise_objects():
        return 0
    return cpu_threads(chains)


def cpu_threads(tasks: int) -> int:
    """Threads for ``tasks`` independent runs: one per core, at most one per task, at least one."""
    import os

    return max(1, min(tasks, os.cpu_count() or 1))


#: iterations per compiled block when a time limit is set: the limit is checked between blocks, and a
#: pathological warm-up (trees of 1023 steps) can spend seconds per iteration
LIMITED_CHUNK = 10

#: a warm-up is given up early once a quarter of the time limit is spent and, at its rate since the
#: first block (which includes compilation), it would end only after this many time limits
HOPELESS_WARMUP = 2.0


def _warmup_is_hopeless(s: SamplerSettings, elapsed: float, first: float, blocks: int, chunk: int) -> float | None:
    """The projected end (s) of a warm-up that cannot end within the time limit, else None.

    ``elapsed`` seconds of sampling ran ``blocks`` blocks of ``chunk`` iterations, the first of
    them in ``first`` seconds.  The projection uses the later blocks' mean duration; it is made once
    a quarter of the limit is spent and only while blocks of warm-up remain.
    """
    assert s.time_limit is not None
    remaining = math.ceil((s.warmup - blocks * chunk) / chunk)
    if blocks < 2 or remaining <= 0 or s.time_spent + elapsed < s.time_limit / 4:
        return None
    end = s.time_spent + elapsed + remaining * (elapsed - first) / (blocks - 1)
    return end if end > HOPELESS_WARMUP * s.time_limit else None


def _chunking(total: int, progress: bool, limited: bool = False) -> tuple[int, int]:
    """(chunk length, number of chunks): ≈ 20 with a progress bar, ≈ 10 without (so Ctrl-C keeps draws).

    With a time limit (``limited``) chunks are at most :data:`LIMITED_CHUNK` iterations long.
    """
    parts = 20 if progress else 10
    if total <= parts:
        return total, 1
    chunk = math.ceil(total / parts)
    if limited:
        chunk = min(chunk, LIMITED_CHUNK)
    return chunk, math.ceil(total / chunk)


def _sample(evaluate: Callable, key: str, params: Any, init: np.ndarray, matrix: np.ndarray,
            s: SamplerSettings, batched: bool, description: str,
            start_slice: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    import jax

    from .mode import potential_at

    total = s.warmup + s.draws
    chunk, n_chunks = _chunking(total, s.progress, s.time_limit is not None)
    threads = _chain_threads(init.shape[0], batched)
    init_fn, advance_fn = _runners(evaluate, key, s, chunk, batched, vector_chains=threads == 0)
    lead = init.shape[:-1]  # (chains,) or (objects, chains)
    keys = jax.random.split(jax.random.PRNGKey(s.seed), int(np.prod(lead))).reshape((*lead, -1))
    potential, grad = (jax.numpy.asarray(a) for a in potential_at(key, evaluate, params, init, batched,
                                                                  objects_per_call=start_slice))
    u0, matrix_j = jax.numpy.asarray(init), jax.numpy.asarray(matrix)
    if threads:  # one compiled single-chain program, the chains side by side in threads
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="bayesphot-chain")
        states = [init_fn(params, u0[c], potential[c], grad[c], matrix_j, keys[c]) for c in range(init.shape[0])]

        def advance_all(states: list[Any], params: Any) -> tuple[list[Any], dict[str, Any]]:
            done = list(pool.map(lambda st: advance_fn(st, params), states))
            stacked = {k: np.stack([np.asarray(d[1][k]) for d in done]) for k in done[0][1]}
            return [d[0] for d in done], stacked

        state: Any = states
        step_fn: Callable = advance_all
    else:
        state = init_fn(params, u0, potential, grad, matrix_j, keys)
        step_fn = advance_fn
    records: list[dict[str, np.ndarray]] = []
    bar = None
    if s.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_chunks * chunk, desc=description, unit="it", leave=False)
    interrupted = limited = False
    first = projected = None
    t0 = time.perf_counter()
    try:
        for i in range(n_chunks):
            if s.time_limit is not None:
                if i == 0:  # the first chunk's length is not known yet
                    over = s.time_spent >= s.time_limit
                else:  # the next chunk would end past the limit, or the warm-up far past it
                    elapsed = time.perf_counter() - t0
                    first = elapsed if first is None else first
                    over = s.time_spent + elapsed + elapsed / i > s.time_limit
                    projected = _warmup_is_hopeless(s, elapsed, first, i, chunk)
                if over or projected is not None:
                    interrupted = limited = True
                    break
            state, record = step_fn(state, params)
            records.append({k: np.asarray(v) for k, v in record.items()})
            if bar is not None:
                bar.update(chunk)
                bar.set_postfix(divergences=int(sum(r["diverging"].sum() for r in records)))
    except KeyboardInterrupt:  # keep the draws of the chunks that finished
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
        if threads:
            pool.shutdown(wait=False, cancel_futures=True)
    done = len(records) * chunk
    if limited and done <= s.warmup:
        rate = done / max(time.perf_counter() - t0, 1e-9)
        spent = f"; the start search took {s.time_spent:.0f} s" if s.time_spent >= 0.5 else ""
        if projected is not None:
            raise SamplingTimeLimitError(f"the warm-up would end after about {projected:.0f} s at its rate so far "
                                         f"({done} of {s.warmup} iterations, {rate:.2g} per second{spent}), "
                                         f"past the time limit of {s.time_limit:g} s: no draws to keep")
        raise SamplingTimeLimitError(f"the time limit of {s.time_limit:g} s came during warm-up ({done} of "
                                     f"{s.warmup} iterations, {rate:.2g} per second{spent}): no draws to keep")
    if interrupted and done <= s.warmup:
        raise SamplingInterruptedError(f"sampling interrupted during warm-up ({done} of {s.warmup} iterations): no "
                                  "draws to keep")
    axis = len(lead)  # the scan's time axis sits after the chains (and objects) axes
    full = {k: np.concatenate([r[k] for r in records], axis=axis) for k in records[0]}
    samples, stats = _collect(full, s, axis, done)
    if interrupted:
        stats["_interrupted"] = np.asarray([min(total, done) - s.warmup, s.draws, int(limited)])
    return samples, stats


def _collect(full: dict[str, np.ndarray], s: SamplerSettings, axis: int,
             done: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draws and per-draw statistics after warm-up from the records of every iteration (time on ``axis``)."""
    total = s.warmup + s.draws
    kept = {k: np.take(v, np.arange(s.warmup, min(total, done)), axis=axis) for k, v in full.items()}
    samples = kept["z"].astype(np.float64)
    steps = kept["num_steps"].astype(np.int64)
    stats = {
        "diverging": kept["diverging"].astype(bool),
        "n_steps": steps,
        "tree_depth": tree_depth(steps),
        "energy": kept["energy"].astype(np.float64),
        "step_size": kept["step_size"].astype(np.float64),
        "lp": -kept["potential_energy"].astype(np.float64),
        "acceptance_rate": kept["accept_prob"].astype(np.float64),
        # leapfrog steps of the whole run, warm-up included (popped by the caller into the attributes)
        "_gradient_evaluations": np.asarray(full["num_steps"].astype(np.int64).sum(axis=-1)),
    }
    return samples, stats


def run(lowered: Any, init: np.ndarray, inverse_mass_matrix: np.ndarray | None,
        settings: SamplerSettings) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample one program; returns unconstrained draws (chains, draws, k) and per-draw statistics.

    Parameters
    ----------
    lowered : bayesphot.structure.Lowered
        The program's ``log_density``, lowered.
    init : (chains, k) array
        Start points (unconstrained).
    inverse_mass_matrix : (k, k) array or None
        None: the identity.
    settings : SamplerSettings
    """
    k = init.shape[-1]
    matrix = np.eye(k) if inverse_mass_matrix is None else np.asarray(inverse_mass_matrix, dtype=np.float64)
    return _sample(lowered.evaluator(), lowered.key, lowered.params, np.asarray(init, dtype=np.float64),
                   matrix, settings, batched=False, description="NUTS" if settings.kernel == "nuts" else "HMC")


def vectorise_objects() -> bool:
    """Whether a batch of objects runs as one vectorised program (an accelerator) or chain by chain (a CPU).

    A vectorised NUTS iteration lasts as long as the longest tree among all its
    objects and chains: on an accelerator the lanes are free, but a CPU computes
    every lane, so 200 objects × 4 chains paid the deepest of 800 trees at every
    iteration.  On a CPU each (object, chain) instead runs through the one
    compiled single-chain program, in a pool of one thread per core.  The
    device is the one in effect (``device=`` of the sampler, e.g. ``"cpu"`` on
    a GPU machine), else JAX's default.
    """
    import jax

    from .. import backend

    current = backend.current()
    if current.name == "jax" and current.device is not None:
        return not current.device.startswith("cpu")
    return jax.default_backend() != "cpu"


def _sample_objects_in_threads(lowered: list[Any], init: np.ndarray, matrices: np.ndarray,
                               s: SamplerSettings) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """:func:`run_batch` on a CPU: every (object, chain) a single-chain run of one compiled program, in threads.

    On Ctrl-C the objects whose chains had all finished are kept (the third element lists them).
    """
    from concurrent.futures import ThreadPoolExecutor

    import jax

    from .mode import potential_at

    total = s.warmup + s.draws
    chunk, n_chunks = _chunking(total, False)
    evaluate, key = lowered[0].evaluator(), lowered[0].key
    init_fn, advance_fn = _runners(evaluate, key, s, chunk, batched=False, vector_chains=False)
    objects, chains = init.shape[:2]
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(s.seed), objects * chains)).reshape(objects, chains, -1)

    # the start's potential and gradient, one compiled block per object; then every (object, chain) is a task
    starts = [potential_at(key, evaluate, lowered[i].params, init[i]) for i in range(objects)]

    def one_chain(i: int, c: int) -> dict[str, np.ndarray]:
        params = lowered[i].params
        state = init_fn(params, init[i, c], starts[i][0][c], starts[i][1][c], matrices[i], keys[i, c])
        records = []
        for _ in range(n_chunks):
            state, record = advance_fn(state, params)
            records.append({k: np.asarray(v) for k, v in record.items()})
        return {k: np.concatenate([r[k] for r in records]) for k in records[0]}

    bar = None
    if s.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=objects * chains, desc=f"NUTS, {objects} objects", unit="chain", leave=False)
    pool = ThreadPoolExecutor(max_workers=cpu_threads(objects * chains), thread_name_prefix="bayesphot-chain")
    futures = [[pool.submit(one_chain, i, c) for c in range(chains)] for i in range(objects)]
    results: dict[int, list[dict[str, np.ndarray]]] = {}
    try:
        for i, per_object in enumerate(futures):
            results[i] = [future.result() for future in per_object]
            if bar is not None:
                bar.update(chains)
    except KeyboardInterrupt:
        # keep every object whose chains all finished (chains still running are abandoned)
        for i, per_object in enumerate(futures):
            if i not in results and all(f.done() and not f.cancelled() and f.exception() is None
                                        for f in per_object):
                results[i] = [f.result() for f in per_object]
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        if bar is not None:
            bar.close()
    completed = np.array(sorted(results), dtype=np.int64)
    if not completed.size:
        return np.empty((0,)), {}, completed
    full = {k: np.stack([np.stack([chain[k] for chain in results[i]]) for i in completed])
            for k in results[int(completed[0])][0]}
    return (*_collect(full, s, 2, n_chunks * chunk), completed)


#: device memory one pixel of one vectorised lane (a chain, or a point of the start search) may take, bytes,
#: and the least one lane may take.  A lane's gradient holds a part that grows with its pixels and a part that
#: does not (the pixel rule's ~10⁵ evaluations near the centre, a PSF's padded transforms).  Measured: on an
#: NVIDIA H100, 17 000 lanes of a 64² Sérsic + sky stamp asked for one 53.6 GB buffer (3.2 MB a lane, 770 B a
#: pixel; XLA's CPU memory analysis: 1.2 MB); on a CPU, 200 stamps of 16² with a PSF × 17 points took
#: 18.7 GB (5.5 MB a lane).  2 kB a pixel and 10 MB a lane leave a margin of 1.8–2.6 on both.
BYTES_PER_PIXEL_LANE = 2_000
BYTES_PER_LANE_MIN = 10_000_000


def batch_memory() -> float:
    """Memory (bytes) one vectorised program may take: ``BAYESPHOT_BATCH_GB`` if set, else half of
    the accelerator's memory as JAX reports it, else 4 GB (a CPU)."""
    import os

    if os.environ.get("BAYESPHOT_BATCH_GB"):
        return float(os.environ["BAYESPHOT_BATCH_GB"]) * 1e9
    if vectorise_objects():
        from .. import backend

        current = backend.current()
        try:
            import jax

            # the device in effect (the sampler's device=), else JAX's default
            device = (current._jax_device() if current.name == "jax" else None) or jax.devices()[0]
            limit = (device.memory_stats() or {}).get("bytes_limit")
        except Exception:  # a device without memory statistics
            limit = None
        if limit:
            return 0.5 * float(limit)
    return 4e9


def batch_size(pixels: int, lanes: int, extra_bytes_per_lane: int = 0) -> int:
    """Objects per vectorised program, each of ``lanes`` lanes (chains, or points) of ``pixels`` pixels
    (and ``extra_bytes_per_lane`` more, e.g. draws kept on the device), so that it stays within
    :func:`batch_memory`."""
    per_lane = max(BYTES_PER_LANE_MIN, BYTES_PER_PIXEL_LANE * max(pixels, 1)) + max(extra_bytes_per_lane, 0)
    return max(1, int(batch_memory() // (per_lane * max(lanes, 1))))


def start_batch_size(pixels: int, k: int) -> int:
    """Objects per vectorised evaluation of the start search's 2k + 1 points each (:func:`batch_size`)."""
    return batch_size(pixels, 2 * k + 1)


#: pixel-lanes (pixels × chains × objects) of one vectorised NUTS program at most.  Measured on an H100 (64²
#: stamps, 4 chains × (200 + 500)): 100 objects in one program took 0.063 s per iteration (compilation
#: included), 500 took 1.6–1.7 s: 26 times as long for 5 times the objects.  The cause is not isolated: the
#: lanes step in lockstep, and on a CPU the longest of 160 lanes' trajectories was 1.52 times their mean
#: (40 stamps, one flagged; ``benchmarks/lockstep.py``), but the 100-stamp program paid that too.  100
#: stamps of 64² × 4 chains is what was measured to go well.
MAX_NUTS_PIXEL_LANES = 100 * 4 * 64 * 64


def nuts_batch_size(pixels: int, chains: int, independent_lanes: bool = False, record_bytes: int = 0) -> int:
    """Objects per vectorised NUTS program: within :func:`batch_memory`, and unless its lanes step
    independently (:mod:`~bayesphot.infer.lanes`) within :data:`MAX_NUTS_PIXEL_LANES`.  Independent lanes
    keep every iteration's record on the device, ``record_bytes`` a lane."""
    if independent_lanes:
        return batch_size(pixels, chains, record_bytes)
    lanes = max(pixels, 1) * max(chains, 1)
    return max(1, min(batch_size(pixels, chains), MAX_NUTS_PIXEL_LANES // lanes))


def lanes_apart(settings: SamplerSettings) -> bool:
    """Whether a vectorised run with these settings steps its lanes independently (:mod:`~bayesphot.infer.lanes`):
    NUTS with a fixed metric.  HMC, and NUTS adapting its mass matrix, run numpyro's kernel in lockstep."""
    return settings.kernel == "nuts" and not settings.adapt_mass_matrix


def _sample_lanes(lowered: Any, params: Any, init: np.ndarray, matrices: np.ndarray, s: SamplerSettings,
                  description: str, start_slice: int | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`~bayesphot.infer.lanes.sample`, its records collected as :func:`_sample`'s are; the loop's
    steps go into ``_program_steps`` (one per object), the objects it released unfinished into
    ``_released`` (their rows are not to be used)."""
    from . import lanes

    records, steps, released = lanes.sample(lowered.evaluator(), lowered.key, params, init, matrices, s,
                                            description, start_slice=start_slice)
    interrupted = records.pop("_interrupted", None)
    samples, stats = _collect(records, s, 2, records["z"].shape[2])
    stats["_program_steps"] = np.full(init.shape[0], steps, dtype=np.int64)
    stats["_released"] = released
    if interrupted is not None:
        stats["_interrupted"] = interrupted
    return samples, stats


def run_batch(lowered: list[Any], init: np.ndarray, inverse_mass_matrices: np.ndarray,
              settings: SamplerSettings,
              pixels: int = 0) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Sample many programs of one structure: vectorised programs of a bounded size, or on a CPU chain by chain.

    Interrupted (Ctrl-C), it returns what had finished: on a CPU every object whose chains had all
    finished, else the slices of objects that had; the third element says which.  A vectorised program
    whose lanes step independently may release a few objects that lag far behind the rest
    (:func:`~bayesphot.infer.lanes.stragglers`): the fourth element lists them, unsampled.

    Parameters
    ----------
    lowered : list of Lowered
        One per object, all with the same ``key``.
    init : (objects, chains, k) array
    inverse_mass_matrices : (objects, k, k) array
    settings : SamplerSettings
    pixels : int
        Data pixels per object: the objects go in slices of :func:`nuts_batch_size` (the last one padded
        with copies, so that every slice runs the same compiled program); 0: all at once.

    Returns
    -------
    draws (m, chains, draws, k), statistics (m, chains, draws), the indices into ``lowered`` of the m
    objects they belong to, ascending (all of them unless interrupted or released), and the indices of
    the released objects, ascending.
    """
    import jax

    keys = {low.key for low in lowered}
    if len(keys) != 1:
        raise ValueError("run_batch needs programs of one structure")
    if not vectorise_objects():
        return (*_sample_objects_in_threads(lowered, np.asarray(init, dtype=np.float64),
                                            np.asarray(inverse_mass_matrices, dtype=np.float64), settings),
                np.zeros(0, dtype=np.int64))
    count = len(lowered)
    apart = lanes_apart(settings)
    # a lane's records: every iteration's draw (k values) and six statistics, 8 bytes each
    records = (settings.warmup + settings.draws + 1) * (init.shape[-1] + 6) * 8
    size = count if pixels <= 0 else min(count, nuts_batch_size(pixels, init.shape[1], independent_lanes=apart,
                                                                 record_bytes=records))
    # the chains' starting potentials are evaluated in blocks of the start search's 2k + 1 points per object
    start_slice = None if pixels <= 0 else start_batch_size(pixels, init.shape[-1])
    parts: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    completed: list[np.ndarray] = []
    released: list[int] = []
    for index, real in padded_slices(count, size):
        params = jax.tree_util.tree_map(lambda *xs: jax.numpy.stack(xs), *[lowered[i].params for i in index])
        starts = np.asarray(init, dtype=np.float64)[index]
        matrices = np.asarray(inverse_mass_matrices, dtype=np.float64)[index]
        slice_settings = replace(settings, seed=settings.seed + index[0])
        description = f"NUTS × {len(index)} objects"
        try:
            if apart:
                draws, stats = _sample_lanes(lowered[0], params, starts, matrices, slice_settings, description,
                                             start_slice)
            else:
                draws, stats = _sample(lowered[0].evaluator(), lowered[0].key, params, starts, matrices,
                                       slice_settings, batched=True, description=description,
                                       start_slice=start_slice)
        except SamplingInterruptedError:
            break  # Ctrl-C in this slice's warm-up: the slices before it are kept
        if "_interrupted" in stats:
            break  # Ctrl-C: this slice's draws are cut short; the slices before it are kept
        # the slice's own objects (not its padding), less those released unfinished
        lagging = stats.pop("_released", np.zeros(0, dtype=np.int64))
        keep = np.setdiff1d(np.arange(real), lagging)
        released.extend(int(index[pos]) for pos in lagging if pos < real)
        parts.append((draws[keep], {k: v[keep] for k, v in stats.items()}))
        completed.append(np.asarray(index, dtype=np.int64)[keep])
    if not parts:
        return np.empty((0,)), {}, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    draws = np.concatenate([p[0] for p in parts])
    stats = {k: np.concatenate([p[1][k] for p in parts]) for k in parts[0][1]}
    return draws, stats, np.concatenate(completed), np.asarray(sorted(released), dtype=np.int64)
