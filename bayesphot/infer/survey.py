"""Dispersed chain starts: look for other modes of the sampled density before sampling.

Every chain starting at the same MAP hides a multimodal posterior: the chains
agree, r̂ passes and σ is that of one mode.  In image models the common case is
a position ambiguity — one model between two similar sources, or a model that
can sit on either of them.  So before sampling, the position coordinates
(``x``, ``y`` of every component) are displaced to points spread around the
MAP on a circle of one prior standard deviation (one point per chain after the
first, a random phase per component, so that any half-plane holds some start),
and from each point the damped Newton search of :mod:`.mode` finds the nearest
mode of the sampled density.  If one is more probable than the MAP's, the MAP
was a local mode and sampling starts at the best mode instead (a note says so).
Every mode that differs from the best by more than :data:`DISTINCT` posterior σ
and is not much less probable (within :data:`MODE_GAP` in log density) gets
chains of its own: if they then do not mix, r̂ says so; if they do, the
posterior they describe includes both modes.  The survey costs a few Newton searches through the compiled gradient
the sampler uses anyway.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..priors.distributions import Normal, Prior, TruncatedNormal, Uniform
from ..program import Program

#: log-density gap below the best mode beyond which a mode is not worth a chain (mass ratio ≲ e⁻¹⁰)
MODE_GAP = 10.0
#: distance (Mahalanobis, in the Laplace metric at the start) beyond which two modes are distinct
DISTINCT = 6.0
#: Newton iterations per dispersed start
MAX_ITER = 40
#: local parameter names treated as positions
POSITIONS = ("x", "y")
#: the survey runs for at most this many positioned components and free elements: each Newton
#: step costs 2k + 1 gradients, and in larger groups swapped labels are modes of their own
MAX_COMPONENTS = 3
MAX_SIZE = 30


@dataclass
class Survey:
    """Where each chain starts (before the small scatter of :func:`~.start.start_points`).

    Attributes
    ----------
    centres : (chains, k) array
        Unconstrained start of each chain.
    notes : list of str
        What the survey found (empty when every search came back to the MAP's mode).
    modes : int
        Distinct modes the chains start in.
    better : bayesphot.infer.mode.Mode or None
        A mode more probable than the start's (the MAP was a local mode).
    summary : str
        What was done, for the posterior's attributes (e.g. why no survey ran).
    """

    centres: np.ndarray
    notes: list[str] = field(default_factory=list)
    modes: int = 1
    better: Any = None
    summary: str = ""


def _spread(prior: Prior | None) -> float | None:
    """The prior's standard deviation (None when it is not a prior with one we know)."""
    if isinstance(prior, Normal | TruncatedNormal):
        return float(prior.scale)
    if isinstance(prior, Uniform):
        return float(prior.high - prior.low) / math.sqrt(12.0)
    return None


def position_coordinates(program: Program, priors: Mapping[str, Prior]) -> list[tuple[str, int, int, float]]:
    """(component, index of x, index of y, spread) for every component with free scalar x and y."""
    index = {name: int(program.free.offsets[i]) for i, (name, _) in enumerate(program.free.entries)
             if not program.free.shapes[i] and name not in program.free.inputs}
    out = []
    for name in index:
        component, _, local = name.rpartition(":")
        if local != POSITIONS[0]:
            continue
        y_name = f"{component}:{POSITIONS[1]}" if component else POSITIONS[1]
        if y_name not in index:
            continue
        spreads = [_spread(priors.get(n, program.free.parameters[n].prior)) for n in (name, y_name)]
        if any(s is None or not s > 0 for s in spreads):
            continue
        out.append((component, index[name], index[y_name], float(min(spreads))))
    return out


def dispersed_points(program: Program, u: np.ndarray, coordinates: list[tuple[str, int, int, float]],
                     count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` copies of ``u`` with each component's (x, y) moved onto a circle of its prior spread."""
    points = np.repeat(np.asarray(u, dtype=np.float64)[None, :], count, axis=0)
    transforms = program.free.transforms
    entry_of = {int(program.free.offsets[i]): i for i in range(len(program.free.entries))}
    for _, ix, iy, spread in coordinates:
        phase = rng.uniform(0.0, 2.0 * math.pi)
        angles = phase + 2.0 * math.pi * np.arange(count) / max(count, 1)
        for i, offsets in ((ix, np.cos(angles)), (iy, np.sin(angles))):
            tr = transforms[entry_of[i]]
            value = tr.forward(np.asarray(u[i]))
            moved = np.asarray([tr.interior(float(value) + spread * o) for o in offsets], dtype=np.float64)
            points[:, i] = np.asarray(tr.inverse(moved), dtype=np.float64)
    return points


def survey_modes(lowered: Any, program: Program, priors: Mapping[str, Prior], u: np.ndarray,
                 inverse_mass_matrix: np.ndarray, chains: int, seed: int, interval: np.ndarray) -> Survey:
    """Search for other modes from dispersed positions; one start per chain.

    Parameters
    ----------
    lowered : bayesphot.structure.Lowered
        The program's ``log_density``, lowered.
    program : Program
    priors : mapping
        The priors used for sampling (their spread sets the displacement).
    u : (k,) array
        The start found by :func:`~.start.prepare` (the MAP's mode).
    inverse_mass_matrix : (k, k) array
        Its Laplace covariance (the metric for "distinct").
    chains, seed : int
    interval : (k,) bool array
        Interval-bounded coordinates.

    Returns
    -------
    Survey
        ``better`` is set when a search found a mode more probable than the
        start's (the MAP was a local mode): the sampler must start there.
    """
    from .mode import potential_at, refine_mode

    u = np.asarray(u, dtype=np.float64)
    coordinates = position_coordinates(program, priors)
    same = np.repeat(u[None, :], chains, axis=0)
    if chains < 2:
        return Survey(same, summary="not run: one chain")
    if not coordinates:
        return Survey(same, summary="not run: no position with a prior spread")
    if len(coordinates) > MAX_COMPONENTS or u.size > MAX_SIZE:
        return Survey(same, summary=f"not run: {len(coordinates)} positioned components, {u.size} free elements "
                                    f"(the survey runs up to {MAX_COMPONENTS} and {MAX_SIZE})")
    rng = np.random.default_rng([seed, 7919])
    points = dispersed_points(program, u, coordinates, chains - 1, rng)
    base = float(potential_at(lowered.key, lowered.evaluator(), lowered.params, u[None, :])[0][0])
    try:
        precision = np.linalg.inv(inverse_mass_matrix)
    except np.linalg.LinAlgError:
        return Survey(same, ["dispersed starts skipped: singular covariance"], summary="not run: singular covariance")
    found: list[tuple[np.ndarray, float, Any]] = [(u, base, None)]
    failed = 0
    for point in points:
        mode = refine_mode(lowered, point, interval, max_iter=MAX_ITER)
        if np.all(np.isfinite(mode.u)) and np.isfinite(mode.potential) and bool(mode.converged):
            found.append((np.asarray(mode.u, dtype=np.float64), float(mode.potential), mode))
        else:
            failed += 1

    def far(a: np.ndarray, b: np.ndarray) -> bool:
        return float(np.sqrt(max((a - b) @ precision @ (a - b), 0.0))) > DISTINCT

    best_u, best, best_mode = min(found, key=lambda item: item[1])
    distinct = [(best_u, best)]
    for mode_u, potential, _ in found:
        if potential <= best + MODE_GAP and all(far(mode_u, d) for d, _ in distinct):
            distinct.append((mode_u, potential))
    centres = np.stack([distinct[c % len(distinct)][0] for c in range(chains)])
    notes: list[str] = []
    better = None
    if best < base - 1.0 and far(best_u, u):
        better = best_mode
        notes.append(f"the MAP sat in a local mode {base - best:.1f} below (in log density) a mode that a search "
                     "from dispersed positions found; sampling starts at the better mode")
    if len(distinct) > 1:
        gaps = ", ".join(f"{p - best:.1f}" for _, p in distinct)
        notes.append(f"dispersed starts found {len(distinct)} distinct modes of the sampled density within "
                     f"{MODE_GAP:g} of the best (−log density above the best: {gaps}); the chains start in "
                     "different modes, so r_hat shows whether they mix")
    if failed:
        notes.append(f"{failed} of {len(points)} searches from dispersed positions did not converge")
    summary = (f"{len(points)} searches from dispersed positions: {len(distinct)} distinct mode(s)"
               + (", a better mode than the MAP's" if better is not None else "")
               + (f", {failed} failed" if failed else ""))
    return Survey(centres, notes, len(distinct), better, summary)


__all__ = ["DISTINCT", "MAX_COMPONENTS", "MAX_SIZE", "MODE_GAP", "Survey", "dispersed_points",
           "position_coordinates", "survey_modes"]
