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
      quadrature: {base_order: 0, ...}      # the model's QuadratureConfig fields
      mask: null                             # or window-shaped rows of 0/1
      extra: {}                              # type-specific (spline "knots", arcsec)
      parameters:                            # local names
        PA: {value: 0.33, uncertainty: 0.004, units: rad, limits: [0.0, 3.14159],
             cyclic: true, fixed: false, user_set: true,
             prior: {type: VonMises, loc: 0.0, concentration: 0.0, period: 3.14159}}
        x: {..., tie: {source: bulge:x, scale: 1.0, offset: 0.0}}   # a tied parameter
      models: [...]                          # groups only: the sub-models, same layout

Values are float lists for vector parameters; ``null`` means unset.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..errors import ModelError
from ..image.target import TargetImage
from ..image.window import Window
from ..render import QuadratureConfig
from .base import Model

FORMAT = "bayesphot-model"
VERSION = 1


def plain(value: Any) -> Any:
    """``value`` with numpy scalars and arrays turned into Python floats, ints, bools and lists (YAML-safe)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


def _tie_state(param: Any, root_names: Mapping[int, str], full: str) -> dict[str, Any] | None:
    tie = param.tie_spec
    if tie is None:
        return None
    if not tie.affine:
        raise ModelError(f"{full} is tied to a Python function, which cannot be saved; use an affine tie "
                         "(tie(source, scale=, offset=)) or untie() it before saving")
    source = root_names.get(id(tie.sources[0]))
    if source is None:
        raise ModelError(f"{full} is tied to a parameter outside the model being saved; save the group that "
                         "holds both")
    return {"source": source, "scale": tie.scale, "offset": tie.offset}


def model_to_dict(model: Model, _root_names: Mapping[int, str] | None = None, _prefix: str = "") -> dict[str, Any]:
    """Plain-data state of ``model`` and, for groups, its sub-models.

    Ties are saved on the tied parameter as ``tie: {source, scale, offset}``
    with the source's full name relative to the saved model.
    """
    from .group import GroupModel

    root_names = model.parameter_names() if _root_names is None else _root_names
    state: dict[str, Any] = {
        "name": model.name,
        "type": model.model_type,
        "window": None if model._window_spec is None else model._window_spec.as_list(),
        "window_arcsec": None if model._window_arcsec is None else model._window_arcsec.tolist(),
        "psf_convolve": model.psf_convolve,
        "quadrature": "auto" if isinstance(model._quadrature, str) else dataclasses.asdict(model.quadrature),
        "mask": None if model._mask_spec is None else model._mask_spec.astype(int).tolist(),
        "extra": model.extra_state(),
    }
    if isinstance(model, GroupModel):
        state["models"] = [model_to_dict(child, root_names, f"{_prefix}{child.name}:")
                           for child in model.models.values()]
    else:
        params = {}
        for key, param in model.parameters.items():
            pstate = param.to_dict()
            tie = _tie_state(param, root_names, _prefix + key)
            if tie is not None:
                pstate["tie"] = tie
            params[key] = pstate
        state["parameters"] = params
    return plain(state)


def _build(state: Mapping[str, Any], target: TargetImage | None, ties: list[tuple[str, dict[str, Any]]],
           prefix: str) -> Model:
    window = state.get("window")
    quadrature = state.get("quadrature")
    kwargs: dict[str, Any] = {
        "window": Window.from_any(window) if window is not None else None,
        "psf_convolve": state.get("psf_convolve"),
        "mask": None if state.get("mask") is None else np.asarray(state["mask"], dtype=bool),
    }
    if quadrature == "auto":
        kwargs["quadrature"] = "auto"
    elif quadrature is not None:
        try:
            kwargs["quadrature"] = QuadratureConfig(**quadrature)
        except TypeError as exc:
            raise ModelError(f"{prefix}{state['name']}: cannot read quadrature settings {quadrature}: {exc}") from exc
    if state["type"] == "group":
        children = [_build(child, target, ties, f"{prefix}{child['name']}:") for child in state.get("models", [])]
        model = Model(state["name"], "group", models=children, target=target, **kwargs)
    else:
        model = Model(state["name"], state["type"], target=target, **kwargs)
        for key, pstate in state.get("parameters", {}).items():
            if pstate.get("tie") is not None:
                ties.append((prefix + key, dict(pstate["tie"])))
            model[key].update_from_dict(pstate)
    if state.get("window") is None and state.get("window_arcsec") is not None:
        model.set_window_arcsec(state["window_arcsec"])
    model.set_extra_state(state.get("extra") or {})
    return model


def model_from_dict(state: dict[str, Any], target: TargetImage | None = None) -> Model:
    """Inverse of :func:`model_to_dict` (ties are restored once the whole tree is built)."""
    ties: list[tuple[str, dict[str, Any]]] = []
    model = _build(state, target, ties, "")
    for follower, spec in ties:
        try:
            model.tie(follower, spec["source"], scale=float(spec.get("scale", 1.0)),
                      offset=float(spec.get("offset", 0.0)))
        except KeyError as exc:
            raise ModelError(f"cannot restore the tie of {follower}: {exc}") from exc
    return model


def save_model(model: Model, path: str | Path) -> None:
    """Write ``model`` to ``path`` as YAML.

    The document is serialised completely first and written to a temporary
    file in the same folder, which then replaces ``path`` in one step: a
    failure never leaves a truncated file or destroys an earlier save.
    """
    path = Path(path)
    document = {"format": FORMAT, "version": VERSION, "model": model_to_dict(model)}
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent or Path("."))
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_model(path: str | Path, target: TargetImage | None = None) -> Model:
    """Read a model written by :func:`save_model`."""
    with open(path, encoding="utf-8") as handle:
        document = yaml.safe_load(handle)
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ModelError(f"{path} is not a bayesphot model file")
    if document.get("version") != VERSION:
        raise ModelError(f"{path} has format version {document.get('version')}, this bayesphot reads {VERSION}")
    return model_from_dict(document["model"], target)
