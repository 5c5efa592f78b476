"""bayesphot: Bayesian forward modelling of astronomical images.

A group model is a probabilistic program over images; a MAP fit finds its
mode, NUTS maps its posterior, and a catalog is many such programs.

Everything below is imported on first use, so that ``import bayesphot`` (and
the ``bayesphot --help`` command) does not load JAX, torch, astropy or
matplotlib until they are needed.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

from . import errors

__version__ = "0.1.0"

# Float64 by default (backend.py): JAX reads this when it is first imported;
# if it is imported already, switch it now, as importing bayesphot.backend would.
os.environ.setdefault("JAX_ENABLE_X64", "1")
if "jax" in sys.modules:  # pragma: no cover - depends on import order
    sys.modules["jax"].config.update("jax_enable_x64", True)

#: attribute → (module, name in it); name None means the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "GroupModel": (".models", "GroupModel"),
    "Model": (".models", "Model"),
    "ModelImage": (".models", "ModelImage"),
    "PSFImage": (".image", "PSFImage"),
    "Parameter": (".params", "Parameter"),
    "TargetImage": (".image", "TargetImage"),
    "Window": (".image", "Window"),
    **{name: (f".{name}", None) for name in ("backend", "priors", "plots", "fit", "infer", "utils", "program",
                                              "catalog", "data", "report")},
}

__all__ = [
    "GroupModel",
    "Model",
    "ModelImage",
    "PSFImage",
    "Parameter",
    "TargetImage",
    "Window",
    "backend",
    "errors",
    "priors",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'bayesphot' has no attribute {name!r}")
    module_name, attr = _LAZY[name]
    module = importlib.import_module(module_name, __name__)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
