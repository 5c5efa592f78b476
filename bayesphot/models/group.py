"""Group models: several (possibly nested) models fitted together."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
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
        At least one; names must be unique.
    target, window, mask
        As for :class:`Model`; children without a target get the group's.
    """

    model_type = "group"

    def __init__(self, name: str, model_type: str | None = None, *, models: Iterable[Model] = (),
                 target: TargetImage | None = None, **kwargs: Any) -> None:
        self.models: dict[str, Model] = {}
        super().__init__(name, model_type, **kwargs)
        models = list(models)
        if not models:
            raise ModelError(f"group {name!r} has no models")
        for model in models:
            self.add_model(model)
        if target is not None:
            self.target = target
        elif all(m.has_target for m in models):
            self._target = models[0].target

    def add_model(self, model: Model) -> None:
        """Add a sub-model (its name must be new to this group)."""
        if not isinstance(model, Model):
            raise ModelError(f"a group holds models, not {type(model).__name__}")
        if model.name in self.models:
            raise ModelError(f"group {self.name!r} already has a model named {model.name!r}")
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
        out: dict[str, Parameter] = {}
        for child_name, model in self.models.items():
            for key, param in model.parameters.items():
                out[f"{child_name}:{key}"] = param
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

    def __str__(self) -> str:
        lines = [f"{self.name} (group of {len(self.models)})"]
        for model in self.models.values():
            lines += ["  " + line for line in str(model).splitlines()]
        return "\n".join(lines)
