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
(:func:`~bayesphot.render.choose_common_quadrature`).  Where that cannot be
probed (no profile, different pixel steps), the componentwise finest of their
own rules, which is at least as fine tier by tier but can cost more than any of
them.  The models get their ``"auto"`` setting back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..render import QuadratureConfig, choose_common_quadrature
from .base import Model, choice_backend


def _leaves(model: Model, path: str = "") -> Iterator[tuple[str, Model]]:
    children = getattr(model, "models", None)
    if children:
        for name, child in children.items():
            yield from _leaves(child, f"{path}{name}:")
        return
    yield path.rstrip(":") or model.name, model


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


@contextlib.contextmanager
def shared_quadrature(models: list[Model]) -> Iterator[dict[str, QuadratureConfig]]:
    """Within the block, the auto-quadrature components of ``models`` share one rule per tree position.

    Yields
    ------
    dict
        Tree position ("gal", "group:child") → the rule its components share.
    """
    slots: dict[tuple[str, type], list[Model]] = {}
    for model in models:
        for path, leaf in _leaves(model):
            if leaf.auto_quadrature:
                slots.setdefault((path, type(leaf)), []).append(leaf)
    changed: list[Model] = []
    chosen: dict[str, QuadratureConfig] = {}
    try:
        for (path, _), leaves in slots.items():
            if len(leaves) < 2:
                continue
            extremes = _extremes(leaves)
            rule = common_rule(extremes) or finest([leaf.quadrature for leaf in extremes])
            chosen[path] = rule
            for leaf in leaves:
                leaf.quadrature = rule
                changed.append(leaf)
        yield chosen
    finally:
        for leaf in changed:
            leaf.quadrature = "auto"


__all__ = ["common_rule", "finest", "shared_quadrature"]
