"""Which components' pixel rules were found not to resolve their profiles.

:func:`bayesphot.render.choose.unresolved_error` measures, when a rule is chosen, how far it stays
from a much finer rule; a rule over the budget carries that figure as
``QuadratureConfig.resolution_error``.  This module reads it back from a model tree, so fits,
posteriors and catalog rows can report it instead of passing the image as exact.
"""

from __future__ import annotations

from collections.abc import Iterator

from .base import Model

#: every message of :func:`quadrature_issues` starts with this (a catalog gives them a flag of their own)
QUADRATURE_ISSUE = "pixel integration of"


def named_leaves(model: Model, path: str = "") -> Iterator[tuple[str, Model]]:
    """(path, component) for every component below ``model``; paths join group names with ``:``.

    A component on its own is named by its ``name``; the components of a group by their names within
    it (``"s3"``, or ``"s3:disk"`` one group further down).
    """
    children = getattr(model, "models", None)
    if children:
        for name, child in children.items():
            yield from named_leaves(child, f"{path}{name}:")
        return
    yield path.rstrip(":") or model.name, model


def unresolved_components(model: Model) -> dict[str, float]:
    """Path → ``resolution_error`` (fraction of the peak pixel) of each component whose rule is unresolved.

    Reads each component's current rule (:attr:`Model.quadrature`, chosen at the current values for
    an automatic one); components that integrate no profile over pixels are skipped.
    """
    out = {}
    for path, leaf in named_leaves(model):
        if leaf.choice_step() is None:
            continue  # no profile integrated over pixels
        error = leaf.quadrature.resolution_error
        if error > 0.0:
            out[path] = float(error)
    return out


def quadrature_issues(model: Model) -> list[str]:
    """One line per component of ``model`` whose pixel rule was found not to resolve its profile."""
    return [f"{QUADRATURE_ISSUE} {path} uncertain to at least {error:.1e} of its peak pixel: a profile "
            "narrower than the quadrature resolves (see QuadratureConfig.resolution_error)"
            for path, error in unresolved_components(model).items()]


__all__ = ["QUADRATURE_ISSUE", "named_leaves", "quadrature_issues", "unresolved_components"]
