"""Group models: several (possibly nested) models fitted together."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from ..backend import Array, device_of, namespace
from ..errors import ModelError
from ..image.target import TargetImage
from ..image.window import Window
from ..params import Parameter
from ..render import embed
from .base import Model
from .registry import register


def place(image: Array, source: Window, destination: Window) -> Array:
    """An image on ``source`` moved onto ``destination`` (cropped, zero-padded)."""
    overlap = source & destination
    if overlap.is_empty:
        xp = namespace(image)
        return xp.zeros(destination.shape, dtype=image.dtype, device=device_of(image))
    rows, cols = overlap.relative_to(source)
    cut = image[rows, cols]
    return embed(
        cut,
        overlap.ymin - destination.ymin, destination.ymax - overlap.ymax,
        overlap.xmin - destination.xmin, destination.xmax - overlap.xmax,
    )


@register
class GroupModel(Model):
    """A model whose image is the sum of its sub-models' images.

    Parameters are its children's, addressed ``"child:param"`` (nested:
    ``"outer:inner:param"``).  The group renders within the union of its
    children's windows unless given a window.

    Parameters
    ----------
    name : str
    model_type : "group"
    models : iterable of Model
        At least one; names must be unique, and a model object may appear
        only once in a group tree (a group cannot contain itself).
    target, window, mask
        As for :class:`Model`; children without a target get the group's.
    ties : mapping, optional
        ``{"disk:x": "bulge:x"}`` ties a parameter to another (one fit
        element, one sample site); ``{"disk:Re": {"source": "bulge:Re",
        "scale": 2.0, "offset": 0.0}}`` to a fixed multiple.  Same as
        :meth:`Model.tie` after construction.
    """

    model_type = "group"

    def __init__(self, name: str, model_type: str | None = None, *, models: Iterable[Model] = (),
                 target: TargetImage | None = None, ties: Mapping[str, Any] | None = None,
                 **kwargs: Any) -> None:
        self.models: dict[str, Model] = {}
        super().__init__(name, model_type, **kwargs)
        if isinstance(models, Model):
            raise ModelError(f"group {name!r}: models must be a list of models, got a single {models!r}")
        models = list(models)
        if not models:
            raise ModelError(f"group {name!r} has no models")
        for model in models:
            self.add_model(model)
        if target is not None:
            self.target = target
        elif all(m.has_target for m in models):
            self._target = models[0].target
        for follower, spec in (ties or {}).items():
            if isinstance(spec, str):
                self.tie(follower, spec)
            elif isinstance(spec, Mapping) and set(spec) <= {"source", "scale", "offset"} and "source" in spec:
                self.tie(follower, spec["source"], scale=float(spec.get("scale", 1.0)),
                         offset=float(spec.get("offset", 0.0)))
            else:
                raise ModelError(f"group {name!r}: tie of {follower!r} must be a parameter name or "
                                 f"{{'source': name, 'scale': s, 'offset': o}}, got {spec!r}")

    def walk(self) -> Iterator[Model]:
        """This group and every model below it, depth first (each once; a cycle is an error)."""
        seen: set[int] = set()
        stack: list[Model] = [self]
        while stack:
            model = stack.pop()
            if id(model) in seen:
                raise ModelError(f"model {model.name!r} appears more than once in group {self.name!r}")
            seen.add(id(model))
            yield model
            stack.extend(reversed(list(getattr(model, "models", {}).values())))

    def add_model(self, model: Model) -> None:
        """Add a sub-model (its name must be new to this group; the object new to the tree)."""
        if not isinstance(model, Model):
            raise ModelError(f"a group holds models, not {type(model).__name__}")
        if model is self:
            raise ModelError(f"group {self.name!r} cannot contain itself")
        if model.name in self.models:
            raise ModelError(f"group {self.name!r} already has a model named {model.name!r}")
        mine = {id(m): m for m in self.walk()}
        theirs = list(model.walk()) if isinstance(model, GroupModel) else [model]
        for m in theirs:
            if id(m) in mine:
                where = "itself" if m is self else f"model {m.name!r}"
                raise ModelError(
                    f"group {self.name!r} already contains {where}; a model object may appear once in a group "
                    "tree (it would be drawn twice). Use a second model, tied to the first if need be "
                    "(model[\"x\"].tie(other[\"x\"]))"
                )
        if self.has_target and not model.has_target:
            model.target = self.target
        self.models[model.name] = model

    @property
    def target(self) -> TargetImage:
        return Model.target.fget(self)

    @target.setter
    def target(self, target: TargetImage) -> None:
        Model.target.fset(self, target)
        for model in self.models.values():
            if not model.has_target:
                model.target = target
            elif model.target is not target:
                raise ModelError(f"sub-model {model.name!r} of {self.name!r} has a different target")

    @property
    def window(self) -> Window:
        if self._window_spec is not None:
            return self._window_spec
        window = None
        for model in self.models.values():
            window = model.window if window is None else window | model.window
        if window is None:
            raise ModelError(f"group {self.name!r} has no models")
        return window

    @window.setter
    def window(self, window: Any) -> None:
        Model.window.fset(self, window)

    @property
    def parameters(self) -> dict[str, Parameter]:
        """Every parameter below, by full name ``"child:param"`` (a fresh dict)."""
        out: dict[str, Parameter] = {}
        seen: dict[int, str] = {}
        for _ in self.walk():  # a model twice in the tree (or a cycle) is an error, not a RecursionError
            pass
        for child_name, model in self.models.items():
            for key, param in model.parameters.items():
                full = f"{child_name}:{key}"
                if id(param) in seen:
                    raise ModelError(f"the same Parameter object is {seen[id(param)]!r} and {full!r} in group "
                                     f"{self.name!r}; give each model its own and tie them instead")
                seen[id(param)] = full
                out[full] = param
        return out

    def __getitem__(self, key: str) -> Any:
        if key in self.models:
            return self.models[key]
        return super().__getitem__(key)

    @property
    def fit_mask(self) -> np.ndarray:
        """Group-window mask: the target's and the group's own, plus each sub-model's own mask."""
        mask = Model.fit_mask.fget(self).copy()
        window = self.window
        for model in self.models.values():
            overlap = model.window & window
            if overlap.is_empty:
                continue
            child = model.fit_mask[overlap.relative_to(model.window)]
            mask[overlap.relative_to(window)] |= child
        return mask

    def components(self) -> list[Model]:
        return [leaf for model in self.models.values() for leaf in model.components()]

    def check_pixels(self) -> None:
        """Raise a :class:`ModelError` naming every sub-model with free parameters but no unmasked pixel.

        A sub-model whose window is entirely masked (or outside the group's
        window) leaves its parameters unconstrained by the data: fitting it
        would report a prior-only value with a meaningless σ.
        """
        mask = self.fit_mask
        window = self.window
        empty: list[str] = []

        def visit(model: Model, prefix: str) -> None:
            for name, child in getattr(model, "models", {}).items():
                if isinstance(child, GroupModel):
                    visit(child, f"{prefix}{name}:")
                    continue
                if not any(p.is_free for p in child.parameters.values()):
                    continue
                overlap = child.window & window
                if overlap.is_empty or not (~mask[overlap.relative_to(window)]).any():
                    empty.append(prefix + name)

        visit(self, "")
        if empty:
            raise ModelError(
                f"sub-model(s) {', '.join(empty)} of {self.name!r} have no unmasked pixel in their window: "
                "the data do not constrain them. Fix their parameters (fixed=True), remove them, or unmask pixels"
            )

    def sample_image(self, values: Mapping[str, Array] | None = None) -> Array:
        """Sum of the children's images on the group's window (pure in ``values``)."""
        window = self.window
        total = None
        for child_name, model in self.models.items():
            prefix = child_name + ":"
            child_values = None if values is None else {
                key[len(prefix):]: val for key, val in values.items() if key.startswith(prefix)
            }
            image = place(model.sample_image(child_values), model.window, window)
            total = image if total is None else total + image
        return total

    def initialize(self) -> None:
        """Initialise every sub-model (each from the data in its own window)."""
        for model in self.models.values():
            model.initialize()

    def describe(self, names: Mapping[int, str] | None = None) -> str:
        """Multi-line description; tied parameters name their sources by full name."""
        names = self.parameter_names() if names is None else names
        lines = [f"{self.name} (group of {len(self.models)})"]
        for model in self.models.values():
            lines += ["  " + line for line in model.describe(names).splitlines()]
        return "\n".join(lines)
