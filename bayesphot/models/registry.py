"""Model type names ("sersic galaxy model", …) → classes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ModelError

if TYPE_CHECKING:  # pragma: no cover
    from .base import Model

MODEL_TYPES: dict[str, type[Model]] = {}


def register(cls: type[Model]) -> type[Model]:
    """Class decorator: make ``cls`` available under its ``model_type`` name."""
    MODEL_TYPES[cls.model_type] = cls
    return cls


def model_class(model_type: str) -> type[Model]:
    """The class registered for ``model_type``; a clear error for unknown names."""
    try:
        return MODEL_TYPES[model_type]
    except KeyError:
        known = ", ".join(sorted(MODEL_TYPES))
        raise ModelError(f"unknown model type {model_type!r}; known types: {known}") from None
