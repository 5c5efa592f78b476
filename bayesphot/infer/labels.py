"""Label-swapped modes: two components of one type that have traded places.

Two components of the same class with the same free parameters can exchange
their values: the likelihood barely changes (exactly not at all when they share
a window and a quadrature), and only the priors tell the two labellings apart,
in crowded fields mainly the position priors tied to each detection.  A start
with the labels the wrong way round sits in a mode of its own, separated from
the right one by a ridge no sampler crosses; the chains then agree with each
other and report each source's parameters under the other's name (the
calibration study's blended pairs: 12 of 100, with pulls of 30σ and more).

:func:`best_labelling` therefore evaluates, at the start, every exchange of two
such components and applies the one that lowers the potential most, until none
does.  The caller then refines the mode from the relabelled point and keeps it
when it is the better mode.  Each round costs one potential evaluation per pair
of exchangeable components, in blocks through the compiled function the mode
search uses anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np

from ..program import Program

#: an exchange must lower −log density by more than this to be applied (a tie keeps the given labels)
MIN_GAIN = 1.0
#: groups with more exchangeable pairs than this are not checked (the cost grows as the square)
MAX_PAIRS = 300


@dataclass
class Labelling:
    """Outcome of :func:`best_labelling`.

    Attributes
    ----------
    u : (k,) array
        The start with the exchanges applied (the input when none was).
    swaps : list of (str, str)
        The components exchanged, in order.
    gain : float
        How much lower −log density is at ``u`` than at the input.
    summary : str
        What was checked, for the posterior's attributes.
    potential : float
        −log density at the input (nan when nothing was evaluated).
    """

    u: np.ndarray
    swaps: list[tuple[str, str]] = field(default_factory=list)
    gain: float = 0.0
    summary: str = ""
    potential: float = float("nan")


def _component(model: Any, path: str) -> Any:
    for part in path.split(":"):
        model = model.models[part]
    return model


def exchangeable_pairs(program: Program) -> list[tuple[str, str, list[tuple[int, int]]]]:
    """Pairs of components that can trade their free parameters.

    Returns
    -------
    list of (component a, component b, [(entry index in a, entry index in b), …])
        Components of one class whose free parameters have the same local
        names and shapes; the entries are indices into ``program.free.entries``.
    """
    free = program.free
    by_component: dict[str, dict[str, int]] = {}
    for i, (name, _) in enumerate(free.entries):
        component, _, local = name.rpartition(":")
        if component and name not in free.inputs:
            by_component.setdefault(component, {})[local] = i
    kinds: dict[str, tuple[Any, ...]] = {}
    for component, entries in by_component.items():
        try:
            cls = type(_component(program.model, component))
        except (AttributeError, KeyError):
            continue
        kinds[component] = (cls, tuple(sorted((local, free.shapes[i]) for local, i in entries.items())))
    return [(a, b, [(by_component[a][local], by_component[b][local]) for local in sorted(by_component[a])])
            for a, b in combinations(sorted(kinds), 2) if kinds[a] == kinds[b]]


def exchange(program: Program, u: np.ndarray, entries: list[tuple[int, int]]) -> np.ndarray:
    """``u`` with the constrained values of each entry pair exchanged (each kept inside its own support)."""
    free = program.free
    out = np.array(u, dtype=np.float64, copy=True)
    for ia, ib in entries:
        sa = slice(int(free.offsets[ia]), int(free.offsets[ia + 1]))
        sb = slice(int(free.offsets[ib]), int(free.offsets[ib + 1]))
        ta, tb = free.transforms[ia], free.transforms[ib]
        va = np.asarray(ta.forward(np.asarray(u[sa])), dtype=np.float64)
        vb = np.asarray(tb.forward(np.asarray(u[sb])), dtype=np.float64)
        out[sa] = np.ravel(np.asarray(ta.inverse(np.asarray(ta.interior(vb))), dtype=np.float64))
        out[sb] = np.ravel(np.asarray(tb.inverse(np.asarray(tb.interior(va))), dtype=np.float64))
    return out


def best_labelling(program: Program, potential: Callable[[np.ndarray], np.ndarray], u: np.ndarray) -> Labelling:
    """Exchange components of one type while that lowers the potential (greedy, best exchange first).

    Parameters
    ----------
    program : Program
    potential : callable
        ``(n, k) → (n,)``: −log density at unconstrained points.
    u : (k,) array
        The start (usually a mode of the sampled density).

    Returns
    -------
    Labelling
    """
    u = np.asarray(u, dtype=np.float64)
    pairs = exchangeable_pairs(program)
    if not pairs:
        return Labelling(u, summary="no exchangeable components")
    if len(pairs) > MAX_PAIRS:
        return Labelling(u, summary=f"not checked: {len(pairs)} exchangeable pairs (limit {MAX_PAIRS})")
    current = float(potential(u[None, :])[0])
    start, swaps = current, []
    for _ in range(len(pairs)):
        candidates = np.stack([exchange(program, u, entries) for _, _, entries in pairs])
        values = np.asarray(potential(candidates), dtype=np.float64)
        values = np.where(np.isfinite(values), values, np.inf)
        best = int(np.argmin(values))
        if not values[best] < current - MIN_GAIN:
            break
        u, current = candidates[best], float(values[best])
        swaps.append(pairs[best][:2])
    done = ", ".join(f"{a}↔{b}" for a, b in swaps)
    summary = (f"{len(pairs)} exchangeable pair(s) checked: "
               + (f"exchanged {done} (−log density {start - current:.1f} lower)" if swaps else "labels kept"))
    return Labelling(u, swaps, start - current, summary, start)


def relabel_mode(program: Program, u: np.ndarray, interval: np.ndarray, lowered: Any = None,
                 max_iter: int = 100) -> tuple[Any, Labelling]:
    """A better mode than the one at ``u`` with components exchanged (:func:`best_labelling`), if there is one.

    Parameters
    ----------
    program : Program
    u : (k,) array
        The start found so far (a mode of the sampled density or the MAP).
    interval : (k,) bool array
    lowered : bayesphot.structure.Lowered, optional
        The program's lowered ``log_density`` (lowered here, and only when the
        program has exchangeable components, if not given).

    Returns
    -------
    (Mode or None, Labelling)
        The mode refined from the relabelled point when it is more probable
        than ``u`` by more than :data:`MIN_GAIN`; None (and no ``swaps``) when
        the given labels are kept.
    """
    from .mode import potential_at, refine_mode

    def density() -> Any:
        return lowered if lowered is not None else program.lower("log_density")

    def potential(points: np.ndarray) -> np.ndarray:
        low = density()
        return potential_at(low.key, low.evaluator(), low.params, points)[0]

    labelling = best_labelling(program, potential, u)
    if not labelling.swaps:
        return None, labelling
    other = refine_mode(density(), labelling.u, interval, max_iter=max_iter)
    if np.all(np.isfinite(other.u)) and np.isfinite(other.potential) \
            and other.potential < labelling.potential - MIN_GAIN:
        labelling.gain = float(labelling.potential - other.potential)
        labelling.summary += f"; the mode from there is {labelling.gain:.1f} lower: sampling starts there"
        return other, labelling
    labelling.summary += "; the mode from there is not better: labels kept"
    labelling.swaps = []
    return None, labelling


__all__ = ["MAX_PAIRS", "MIN_GAIN", "Labelling", "best_labelling", "exchange", "exchangeable_pairs",
           "relabel_mode"]
