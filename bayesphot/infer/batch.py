"""Many independent objects of one structure sampled as one vectorised program.

``bp.infer.NUTS([m1, m2, ...]).run()`` lowers each model's log-density
(:mod:`bayesphot.structure`), groups the models by structure (model types,
stamp shape, which parameters are free, dtype), and for each group

1. finds every object's start at once: a damped Newton iteration on the
   sampled density from the current values (:func:`~bayesphot.infer.mode.refine_mode_batch`,
   ``vmap`` over objects), then a better mode with components of one type
   exchanged, if there is one (:mod:`~bayesphot.infer.labels`), and the
   inverse exact Hessian there as its mass matrix;
2. samples all objects and chains in one compiled program on an accelerator
   (:func:`~bayesphot.infer._numpyro.run_batch`: NUTS whose lanes step
   independently, :mod:`~bayesphot.infer.lanes`; numpyro's kernel ``vmap``-ed for
   objects that adapt their mass matrix); on a CPU every (object, chain) runs through one compiled
   single-chain program in a pool of threads, and each object searches its own
   start, so no object waits for the slowest (see
   :func:`~bayesphot.infer._numpyro.vectorise_objects`).
   Objects whose start curvature is not trusted (a mode at a limit, an
   ill-conditioned Hessian) form a second batch that adapts its mass matrix;
3. builds one :class:`~bayesphot.infer.Posterior` per object, diagnosed, and
   writes posterior mean ± sd back into each model.  The log-likelihood is kept
   per pixel only when draws × the pixels of all objects stay within the
   sampler's ``pointwise_limit`` (100 stamps of 64² × 2000 draws would be 6.6 GB),
   else as its total per draw.

Stamps of one size share a structure even when their masks differ (the mask
is data: masked pixels carry zero weight).  On a GPU hundreds of small
objects then cost about as much as a few.
"""

from __future__ import annotations

import contextlib
import time
import warnings
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import backend
from ..errors import FitError
from ..models.base import Model
from ..models.shared_quadrature import PROGRAM_COST_OBJECTS, shared_quadrature, split_outliers
from ..program import Program
from ..tracing import nested_calls
from .labels import relabel_mode
from .mode import Mode, refine_mode, refine_mode_batch
from .posterior import Posterior, diagnose
from .start import SamplingWarning, Start, interval_coordinates, start_at_mode, start_points

if TYPE_CHECKING:
    from .samplers import _Sampler


def _group_by_structure(lowered: list[Any]) -> list[list[int]]:
    groups: dict[str, list[int]] = {}
    for i, low in enumerate(lowered):
        groups.setdefault(low.key, []).append(i)
    return list(groups.values())


def _starts(programs: list[Program], lowered: list[Any], max_iter: int) -> list[Start]:
    from ._numpyro import cpu_threads, start_batch_size, vectorise_objects
    from .slices import padded_slices

    interval = interval_coordinates(programs[0])
    u0 = np.stack([p.free.unconstrained() for p in programs])
    count, k = u0.shape
    labels = programs[0].free.labels()

    def start_of(i: int, mode: Mode) -> Start:
        if not (np.all(np.isfinite(mode.u)) and np.isfinite(mode.potential)):
            raise FitError(f"the start search for {programs[i].model.name!r} gave non-finite values")
        better, labelling = relabel_mode(programs[i], mode.u, interval, lowered[i], max_iter=max_iter)
        source = "batched mode of the sampled density"
        if better is not None:
            mode = better
            source += " (components exchanged: " + ", ".join(f"{a}↔{b}" for a, b in labelling.swaps) + ")"
        return start_at_mode(mode.u, mode.hessian, bool(mode.converged), int(mode.iterations), interval,
                             labels, source)

    if vectorise_objects():
        # in slices of bounded memory (each object evaluates 2k + 1 points at once; 200 objects in one
        # call took 18.7 GB), the last slice padded so that every slice runs one compiled function
        size = min(count, start_batch_size(programs[0].n_pixels, k))
        parts = [(refine_mode_batch([lowered[i] for i in index], u0[index], interval, max_iter=max_iter), real)
                 for index, real in padded_slices(count, size)]
        mode = Mode(*(np.concatenate([getattr(part, f.name)[:real] for part, real in parts]) for f in fields(Mode)))
        return [start_of(i, Mode(*(getattr(mode, f.name)[i] for f in fields(Mode)))) for i in range(count)]
    # a CPU: each object's own search (a vectorised one iterates until the slowest converges), threaded
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=cpu_threads(count)) as pool:
        return list(pool.map(lambda i: start_of(i, refine_mode(lowered[i], u0[i], interval, max_iter=max_iter)),
                             range(count)))


def _program_cost(objects: int) -> float:
    """What one more compiled program costs, in objects' worth, where the sampler runs now (backend in effect).

    On a CPU the chains run one by one and a program's cost is its compilation
    (:data:`~bayesphot.models.shared_quadrature.PROGRAM_COST_OBJECTS`).  On an accelerator a vectorised
    program of one object runs about as long as one of the whole batch (the kernels' launches, not the
    lanes, set its time: on an H200 a 64² stamps' render and gradient took 0.41 ms at 256², 1.29 ms at
    2048², 64 times the pixels), so it costs the batch: no object is set apart there.
    """
    from ._numpyro import vectorise_objects

    return float(objects) if vectorise_objects() else PROGRAM_COST_OBJECTS


def _shared_rules(models: list[Model]) -> contextlib.AbstractContextManager[dict[str, Any]]:
    """:func:`shared_quadrature` for ``models`` less their outliers, priced for the device in effect."""
    cost = _program_cost(len(models))
    return shared_quadrature(models, split_outliers(models, program_cost=cost), program_cost=cost)


def sample_many(sampler: _Sampler, models: list[Model], mass_matrix: str = "laplace") -> list[Posterior | None]:
    """Sample every model in ``models`` (see the module docstring); posteriors in input order.

    Interrupted (Ctrl-C) during sampling, it keeps every object sampled in full by then (on a CPU
    each object whose chains had all finished; on an accelerator the vectorised slices that had),
    returns ``None`` in the place of each other object, leaves their models unchanged, and warns.

    Parameters
    ----------
    sampler : NUTS or HMC
        Its settings (chains, warmup, draws, seed, priors, …) apply to every object;
        object ``i`` uses seed ``seed + i``.
    models : list of Model
    mass_matrix : {"laplace"}
    """
    from . import _numpyro
    from .samplers import ADAPT_MIN_WARMUP, write_back

    if sampler.backend != "numpyro":
        raise FitError("sampling a list of models at once needs backend='numpyro'")
    if mass_matrix != "laplace":
        raise FitError("sampling a list of models at once supports mass_matrix='laplace' only")
    if not models:
        raise FitError("no models to sample")
    if len({id(m) for m in models}) != len(models):
        raise FitError("the same model object appears twice in the list")
    out: list[Posterior | None] = [None] * len(models)
    flagged = 0
    interrupted = False
    # one rule per tree position for every auto-quadrature component: one structure, one compiled program,
    # less outliers whose own rule alone would make every object's costlier (each its own program);
    # every program below is traced per object and compiled once per structure: shared traces stay nested calls
    with backend.using("jax", device=sampler.device), _shared_rules(models), nested_calls():
        programs = [Program(m, sampler.likelihood, priors=sampler._priors(m)) for m in models]
        lowered = [p.lower("log_density") for p in programs]
        # per-pixel log-likelihoods only while those of every object together stay within the limit
        pointwise = sampler.chains * sampler.draws * sum(p.n_pixels for p in programs) <= sampler.pointwise_limit
        for members in _group_by_structure(lowered):
            if interrupted:
                break
            t0 = time.perf_counter()
            starts = _starts([programs[i] for i in members], [lowered[i] for i in members], max_iter=100)
            t_map = time.perf_counter() - t0
            interval = interval_coordinates(programs[members[0]])
            lagging: list[int] = []  # objects the first program released unfinished: they adapt too
            for adapt in (False, True):
                chosen = sorted([j for j, start in enumerate(starts) if start.adapt == adapt]
                                + (lagging if adapt else []))
                if not chosen or interrupted:
                    continue
                warmup = max(sampler.warmup, ADAPT_MIN_WARMUP) if adapt else sampler.warmup
                settings = sampler._settings(adapt or sampler.adapt_mass_matrix, warmup)
                init = np.stack([start_points(starts[j], sampler.chains, sampler.init_scatter,
                                              sampler.seed + members[j], interval) for j in chosen])
                matrices = np.stack([starts[j].inverse_mass_matrix for j in chosen])
                t1 = time.perf_counter()
                samples, stats, completed, released = _numpyro.run_batch(
                    [lowered[members[j]] for j in chosen], init, matrices, settings,
                    pixels=programs[members[0]].n_pixels)
                lagging = [chosen[c] for c in released]
                interrupted = len(completed) + len(released) < len(chosen)
                t_sample = (time.perf_counter() - t1) / max(len(completed), 1)
                for pos, j in enumerate(chosen[c] for c in completed):
                    index = members[j]
                    program, start = programs[index], starts[j]
                    draws = samples[pos]
                    if not np.all(np.isfinite(draws)):
                        raise FitError(f"the sampler returned non-finite values for {models[index].name!r}")
                    object_stats = {k: v[pos] for k, v in stats.items() if not k.startswith("_")}
                    post = sampler._posterior(program, draws, object_stats, {
                        "gradient_evaluations": int(np.sum(stats["_gradient_evaluations"][pos])),
                        # the loop steps of its program when the lanes stepped independently (all lanes
                        # together; with the lanes' own steps, what their waiting cost), else absent
                        **({"program_steps": int(stats["_program_steps"][pos])}
                           if "_program_steps" in stats else {}),
                        "map_seconds": t_map / len(members), "sampling_seconds": t_sample, "start": start.source,
                        "mass_matrix": mass_matrix + ("+adapted" if adapt else ""), "warmup_run": warmup,
                        "batched_objects": len(completed),
                        # the compiled program that sampled it (on an accelerator its objects stepped together)
                        "program": lowered[members[0]].key[:12] + ("+adapted" if adapt else ""),
                        # in the adapting program with a trusted start: the first program released it, its
                        # lanes far behind the others' (see lanes.stragglers)
                        **({"lagged": True} if adapt and not start.adapt else {}),
                        "start_notes": list(start.notes),
                        "start_at_limit": list(start.at_limit),
                    }, start=start, pointwise=pointwise)
                    post.issues = diagnose(post, sampler.min_ess, sampler.max_tree_depth, warn=False)
                    if start.notes:
                        post.issues = [f"start: {note}" for note in start.notes] + post.issues
                    flagged += bool(post.issues)
                    if sampler.write_back:
                        write_back(models[index], program, post)
                    out[index] = post
    if flagged:
        warnings.warn(f"{flagged} of {len(models)} objects have diagnostic issues (see each Posterior.issues)",
                      SamplingWarning, stacklevel=3)
    if interrupted:
        done = sum(post is not None for post in out)
        warnings.warn(f"sampling interrupted (Ctrl-C): {done} of {len(models)} objects sampled in full and kept; "
                      "the others are None in the returned list (their models are unchanged)", SamplingWarning,
                      stacklevel=3)
    return out


__all__ = ["sample_many"]
