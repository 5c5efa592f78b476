"""Models: components (galaxies, point sources, sky) and groups, by type name."""

from .base import Model, ParameterSpec, pixel_grid
from .defaults import default_prior, default_priors, leaf_parameters
from .galaxy import (
    ExponentialGalaxy,
    GalaxyModel,
    GaussianGalaxy,
    MoffatGalaxy,
    SersicGalaxy,
    SplineGalaxy,
)
from .group import GroupModel
from .model_image import ModelImage
from .point import PointSource
from .registry import MODEL_TYPES, model_class
from .sky import FlatSky, PlaneSky

__all__ = [
    "MODEL_TYPES",
    "ExponentialGalaxy",
    "FlatSky",
    "GalaxyModel",
    "GaussianGalaxy",
    "GroupModel",
    "Model",
    "ModelImage",
    "MoffatGalaxy",
    "ParameterSpec",
    "PlaneSky",
    "PointSource",
    "SersicGalaxy",
    "SplineGalaxy",
    "default_prior",
    "default_priors",
    "leaf_parameters",
    "model_class",
    "pixel_grid",
]
