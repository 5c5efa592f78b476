"""bayesphot: Bayesian forward modelling of astronomical images.

A group model is a probabilistic program over images; a MAP fit finds its
mode, NUTS maps its posterior, and a catalog is many such programs.
"""

from . import backend, errors, priors
from .image import PSFImage, TargetImage, Window
from .models import GroupModel, Model, ModelImage
from .params import Parameter

__version__ = "0.1.0"

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


def __getattr__(name: str):
    # heavier sub-packages (matplotlib, samplers) load on first use
    import importlib

    if name in ("plots", "fit", "infer", "utils", "program", "catalog"):
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'bayesphot' has no attribute {name!r}")
