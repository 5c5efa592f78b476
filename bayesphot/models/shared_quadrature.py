"""One pixel-quadrature rule for many models of one layout, so they compile as one program.

With ``quadrature="auto"`` each component picks the cheapest rule that meets the
error budget for *its* parameter values (:func:`bayesphot.render.choose_quadrature`).
For a batch of similar objects (the stamps of a catalog, a calibration set) that
splits one structure into as many compiled programs as there are distinct
choices, and probes every object.  :func:`shared_quadrature` instead gives every
auto component at one place of the model tree (same name path, same type) one
rule: the cheapest candidate that meets the error budget for every one of the
batch's *extreme* objects at once — for each scalar parameter, the object with
its smallest and the one with its largest value
(:func:`~bayesphot.render.choose_common_quadrature`), then checked on every other
object; those it fails keep their own rules, or the rule is chosen again with them added, whichever
costs less (:func:`_group_rule`).  Where that cannot be
probed (no profile, different pixel steps), the componentwise finest of their
own rules, which is at least as fine tier by tier but can cost more than any of
them.  The models get their ``"auto"`` setting back afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import numpy as np

from ..errors import ModelError
from ..render import QuadratureConfig, choose_common_quadrature, quadrature_evaluations
from ..render.choose import DEFAULT_TOLERANCE, budget_error, reference_probe, unresolved_error
from .base import Model, choice_backend
from .resolution import named_leaves


def _extremes(leaves: list[Model]) -> list[Model]:
    """The leaves holding the smallest and the largest value of each scalar parameter."""
    chosen: dict[int, Model] = {}
    for name in leaves[0].parameters:
        values = []
        for leaf in leaves:
            value = leaf.parameters[name].value
            values.append(np.nan if value is None or np.ndim(value) else float(np.asarray(value)))
        values = np.asarray(values)
        if not np.any(np.isfinite(values)):
            continue
        for index in (int(np.nanargmin(values)), int(np.nanargmax(values))):
            chosen[index] = leaves[index]
    return list(chosen.values()) or leaves[:1]


def finest(rules: list[QuadratureConfig]) -> QuadratureConfig:
    """The componentwise finest of ``rules`` (more points, more levels, larger blocks, smaller ratio)."""
    first = rules[0]
    return QuadratureConfig(
        base_order=max(r.base_order for r in rules), block=max(r.block for r in rules),
        levels=max(r.levels for r in rules), order=max(r.order for r in rules),
        ratio=min(r.ratio for r in rules), blend=first.blend,
        mid_block=max(r.mid_block for r in rules), mid_order=max(r.mid_order for r in rules),
    )


def common_rule(leaves: list[Model]) -> QuadratureConfig | None:
    """The cheapest candidate rule within the budget for every one of ``leaves`` at once, or None.

    None when a leaf has no profile to choose from, or the leaves' grid steps differ.
    """
    with choice_backend():
        profiles = [leaf.choice_profile() for leaf in leaves]
        if any(profile is None for profile in profiles) or len({profile[2] for profile in profiles}) != 1:
            return None
        return choose_common_quadrature([(brightness, center) for brightness, center, _ in profiles],
                                        profiles[0][2])


#: a compiled program costs about as much as sampling this many objects (CPU, 64² stamps: 10–20 s of
#: compilation against about 10 s of sampling an object), in the cost model of :func:`split_outliers` and
#: :func:`shared_quadrature`.  On an accelerator, where a small program runs about as long as a large one
#: (launch-bound), the sampler passes the batch's size instead, so that nothing is set apart there
PROGRAM_COST_OBJECTS = 3.0


def _slots(models: list[Model]) -> dict[tuple[str, type], list[tuple[int, Model]]]:
    """(tree position, type) → (index of the model in ``models``, auto-quadrature leaf) for every such leaf."""
    slots: dict[tuple[str, type], list[tuple[int, Model]]] = {}
    for index, model in enumerate(models):
        for path, leaf in named_leaves(model):
            if leaf.auto_quadrature:
                slots.setdefault((path, type(leaf)), []).append((index, leaf))
    return slots


def _group_rule(leaves: list[Model], program_cost: float = PROGRAM_COST_OBJECTS
                ) -> tuple[QuadratureConfig, list[Model]]:
    """The rule two or more ``leaves`` share, and the leaves better left to their own rules.

    The rule is the common rule of the extremes, checked on every leaf.  A leaf between the extremes in
    every parameter can still need a finer rule than all of them (an elongated profile with a steep
    cusp, when the most elongated object has a shallow one and the steepest cusp is round: of 100
    simulated 64² stamps one came out at 1.05e-4 of its peak, over the documented 1e-4).  Those over
    the search's tolerance either keep their own rules (each distinct one a compiled program of its
    own, ``program_cost`` objects' worth) or are added to the profiles the rule is chosen
    on, again until none is over, whichever costs fewer brightness evaluations.  Each round adds a leaf
    at least, and the reference rule, the search's last resort, is within the tolerance for every leaf
    by definition, so this ends.
    """
    probes = _extremes(leaves)
    references: dict[int, list[np.ndarray]] = {}
    first: QuadratureConfig | None = None
    apart: list[Model] = []
    while True:
        rule = common_rule(probes)
        if rule is None:  # nothing to probe (no profile, or different pixel steps)
            return finest([leaf.quadrature for leaf in probes]), []
        chosen = {id(leaf) for leaf in probes}
        failing = _over_budget([leaf for leaf in leaves if id(leaf) not in chosen], rule, references)
        if first is None:
            first, apart = rule, failing
        if not failing:
            break
        probes = probes + failing
    if not apart:
        return rule, []
    kept = [leaf for leaf in leaves if all(leaf is not a for a in apart)]
    own = [leaf.quadrature for leaf in apart]
    cost_apart = (_evaluations(kept, first) + sum(_evaluations([a], r) for a, r in zip(apart, own, strict=True))
                  + program_cost * len(set(own)) * _evaluations(kept, first) / len(kept))
    return (first, apart) if cost_apart < _evaluations(leaves, rule) else (rule, [])


def _over_budget(leaves: list[Model], rule: QuadratureConfig, references: dict[int, list[np.ndarray]]
                 ) -> list[Model]:
    """The ``leaves`` that ``rule`` renders beyond the search's tolerance (reference probes cached by leaf)."""
    failing = []
    with choice_backend():
        for leaf in leaves:
            profile = leaf.choice_profile()
            if profile is None:
                continue
            brightness, center, step = profile
            if id(leaf) not in references:
                references[id(leaf)] = reference_probe(brightness, center, step)
            if not budget_error(brightness, center, step, rule, references[id(leaf)]) <= DEFAULT_TOLERANCE:
                failing.append(leaf)
    return failing


def _evaluations(leaves: list[Model], rule: QuadratureConfig) -> float:
    return float(sum(quadrature_evaluations(rule, leaf.window.shape) for leaf in leaves))


def split_outliers(models: list[Model], max_splits: int = 3,
                   program_cost: float = PROGRAM_COST_OBJECTS) -> list[list[int]]:
    """Groups of indices of ``models`` that should each share one rule: the batch, less its outliers.

    One shared rule makes every object pay for the hardest one: of 100 simulated 64² stamps, one
    (n = 4) needed 5.8× the centre-sampled evaluations and the shared rule followed it, while the
    objects' own rules averaged 2.3×.  Up to ``max_splits`` times, the extreme object whose own rule
    costs most is set apart in a group of its own when that lowers the brightness evaluations of the
    whole batch by more than ``program_cost`` objects' worth (a separate group is a
    separate compiled program).  The evaluations are estimated from the componentwise finest of the
    extremes' own rules, which are chosen once and kept; the groups' shared rules are chosen jointly
    afterwards, by :func:`shared_quadrature`.

    Returns
    -------
    list of lists of int
        The main group first, then one group per object set apart.
    """
    # only leaves that integrate a profile (a flat sky's rule is never used)
    slots = {key: entries for key, entries in _slots(models).items()
             if entries[0][1].choice_step() is not None}
    main = list(range(len(models)))
    if not slots or len(models) < 3:
        return [main]
    apart: list[list[int]] = []
    costs: dict[frozenset[int], float] = {}

    def cost(members: frozenset[int]) -> float:
        if members not in costs:
            total = 0.0
            for entries in slots.values():
                leaves = [leaf for index, leaf in entries if index in members]
                if leaves:  # estimated by the finest of the extremes' own rules (no joint probing)
                    total += _evaluations(leaves, finest([leaf.quadrature for leaf in _extremes(leaves)]))
            costs[members] = total
        return costs[members]

    for _ in range(max_splits):
        members = frozenset(main)
        if len(members) < 3:
            break
        own: dict[int, float] = {}
        for entries in slots.values():
            present = [(index, leaf) for index, leaf in entries if index in members]
            if not present:  # a component only objects already set apart have
                continue
            chosen = {id(leaf) for leaf in _extremes([leaf for _, leaf in present])}
            for index, leaf in present:
                if id(leaf) in chosen:
                    own[index] = own.get(index, 0.0) + _evaluations([leaf], leaf.quadrature)
        if not own:
            break
        hardest = max(own, key=own.__getitem__)
        rest = members - {hardest}
        saving = cost(members) - cost(rest) - own[hardest] - program_cost * cost(rest) / len(rest)
        if saving <= 0.0:
            break
        main = sorted(rest)
        apart.append([hardest])
    return [main, *apart]


def _own_errors(leaves: list[Model], rule: QuadratureConfig) -> list[float]:
    """Each leaf's ``resolution_error`` under the shared ``rule``: all 0 when the extremes it was chosen from
    are resolved; else each leaf checked on its own (a rare case: one narrow extreme should not flag the rest)."""
    if rule.resolution_error <= 0.0:
        return [0.0] * len(leaves)
    errors = []
    with choice_backend():
        for leaf in leaves:
            profile = leaf.choice_profile()
            if profile is None:
                errors.append(rule.resolution_error)
                continue
            brightness, center, step = profile
            errors.append(unresolved_error([(brightness, center)], step, rule))
    return errors


@contextlib.contextmanager
def shared_quadrature(models: list[Model], groups: list[list[int]] | None = None,
                      program_cost: float = PROGRAM_COST_OBJECTS) -> Iterator[dict[str, QuadratureConfig]]:
    """Within the block, the auto-quadrature components of ``models`` share one rule per tree position.

    Parameters
    ----------
    models : list of Model
    groups : list of lists of int, optional
        Indices of ``models`` that share a rule (e.g. from :func:`split_outliers`); default: all.
    program_cost : float
        What one more compiled program costs, in objects' worth (:data:`PROGRAM_COST_OBJECTS`):
        objects the shared rule fails keep their own rules only when that saves more.

    Yields
    ------
    dict
        Tree position ("gal", "group:child") → the rule its components share (in the first group).
    """
    slots = _slots(models)
    groups = groups if groups is not None else [list(range(len(models)))]
    if sorted(index for members in groups for index in members) != list(range(len(models))):
        raise ModelError("shared_quadrature: groups must hold every index of models exactly once")
    group_of = {index: g for g, members in enumerate(groups) for index in members}
    changed: list[Model] = []
    chosen: dict[str, QuadratureConfig] = {}
    try:
        for (path, _), entries in slots.items():
            for g in sorted({group_of[index] for index, _ in entries}):
                leaves = [leaf for index, leaf in entries if group_of[index] == g]
                if len(leaves) < 2:
                    continue  # a lone leaf keeps its own rule
                rule, apart = _group_rule(leaves, program_cost)
                if g == 0:
                    chosen[path] = rule
                leaves = [leaf for leaf in leaves if all(leaf is not a for a in apart)]  # those keep their own
                for leaf, own in zip(leaves, _own_errors(leaves, rule), strict=True):
                    # the same rule (resolution_error takes no part in comparisons: one compiled program)
                    leaf.quadrature = dataclasses.replace(rule, resolution_error=own)
                    changed.append(leaf)
        yield chosen
    finally:
        for leaf in changed:
            leaf.quadrature = "auto"


__all__ = ["PROGRAM_COST_OBJECTS", "common_rule", "finest", "shared_quadrature",
           "split_outliers"]
