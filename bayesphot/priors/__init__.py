"""Priors on parameters (``bp.priors.Uniform(0.3, 8.0)``).

The default priors of each model type depend on the model (its window and
target), so they live one layer up, in :mod:`bayesphot.models.defaults`
(``bp.models.default_priors``).
"""

from .distributions import (
    HalfNormal,
    LogNormal,
    Normal,
    Prior,
    TruncatedNormal,
    Uniform,
    VonMises,
    prior_from_dict,
    prior_to_dict,
)
from .ppl import to_ppl

__all__ = [
    "HalfNormal",
    "LogNormal",
    "Normal",
    "Prior",
    "TruncatedNormal",
    "Uniform",
    "VonMises",
    "prior_from_dict",
    "prior_to_dict",
    "to_ppl",
]
