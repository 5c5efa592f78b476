"""Saving and loading a model's whole state as YAML.

The file is plain YAML, readable without bayesphot::

    format: bayesphot-model
    version: 1
    model:
      name: field
      type: group
      window: [[xmin, xmax], [ymin, ymax]]   # pixels, half-open; null = whole target
      window_arcsec: null                    # a window given in arcsec before any target
      psf_convolve: true
      mask: null                             # or window-shaped rows of 0/1
      extra: {}                              # type-specific (spline "knots", arcsec)
      parameters:                            # local names
        PA: {value: 0.33, uncertainty: 0.004, units: rad, limits: [0.0, 3.14159],
             cyclic: true, fixed: false, user_set: true,
             prior: {type: VonMises, loc: 0.0, concentration: 0.0, period: 3.14159}}
      models: [...]                          # groups only: the sub-models, same layout

Values are float lists for vector parameters; ``null`` means unset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ModelError
from ..image.target import TargetImage
from ..image.window import Window
from .base import Model

FORMAT = "bayesphot-model"
VERSION = 1


def model_to_dict(model: Model) -> dict[str, Any]:
    """Plain-data state of ``model`` and, for groups, its sub-models."""
    from .group import GroupModel

    state: dict[str, Any] = {
        "name": model.name,
        "type": model.model_type,
        "window": None if model._window_spec is None else model._window_spec.as_list(),
        "window_arcsec": None if model._window_arcsec is None else model._window_arcsec.tolist(),
        "psf_convolve": model.psf_convolve,
        "mask": None if model._mask_spec is None else model._mask_spec.astype(int).tolist(),
        "extra": model.extra_state(),
    }
    if isinstance(model, GroupModel):
        state["models"] = [model_to_dict(child) for child in model.models.values()]
    else:
        state["parameters"] = {key: param.to_dict() for key, param in model.parameters.items()}
    return state


def model_from_dict(state: dict[str, Any], target: TargetImage | None = None) -> Model:
    """Inverse of :func:`model_to_dict`."""
    window = state.get("window")
    kwargs: dict[str, Any] = {
        "window": Window.from_any(window) if window is not None else state.get("window_arcsec"),
        "psf_convolve": state.get("psf_convolve"),
        "mask": None if state.get("mask") is None else np.asarray(state["mask"], dtype=bool),
    }
    if state["type"] == "group":
        children = [model_from_dict(child, target) for child in state.get("models", [])]
        model = Model(state["name"], "group", models=children, target=target, **kwargs)
    else:
        model = Model(state["name"], state["type"], target=target, **kwargs)
        for key, pstate in state.get("parameters", {}).items():
            model[key].update_from_dict(pstate)
    model.set_extra_state(state.get("extra") or {})
    return model


def save_model(model: Model, path: str | Path) -> None:
    """Write ``model`` to ``path`` as YAML."""
    document = {"format": FORMAT, "version": VERSION, "model": model_to_dict(model)}
    with open(path, "w", encoding="utf-8") as handle:
        yaml.safe_dump(document, handle, sort_keys=False, allow_unicode=True)


def load_model(path: str | Path, target: TargetImage | None = None) -> Model:
    """Read a model written by :func:`save_model`."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelError(f"{path} is not a bayesphot model file")
    if document.get("version") != VERSION:
        raise ModelError(f"{path} has format version {document.get('version')}, this bayesphot reads {VERSION}")
    return model_from_dict(document["model"], target)
