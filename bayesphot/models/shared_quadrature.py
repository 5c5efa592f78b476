"""One pixel-quadrature rule for many models of one layout, so they compile as one program.

With ``quadrature="auto"`` each component picks the cheapest rule that meets the
error budget for *its* parameter values (:func:`bayesphot.render.choose_quadrature`).
For a batch of similar objects (the stamps of a catalog, a calibration set) that
splits one structure into as many compiled programs as there are distinct
choices, and probes every object.  :func:`shared_quadrature` instead gives every
auto component at one place of the model tree (same name path, same type) one
rule: the componentwise finest of the rules that the batch's *extreme* objects
need — for each scalar parameter, the object with its smallest and the one with
its largest value.  The rule is at least as fine, tier by tier, as what each of
those objects needs (finer tiers only lower the error).  The models get their
``"auto"`` setting back afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

from ..render import QuadratureConfig
from .base import Model


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
            rule = finest([leaf.quadrature for leaf in _extremes(leaves)])
            chosen[path] = rule
            for leaf in leaves:
                leaf.quadrature = rule
                changed.append(leaf)
        yield chosen
    finally:
        for leaf in changed:
            leaf.quadrature = "auto"


__all__ = ["finest", "shared_quadrature"]
