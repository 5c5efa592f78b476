"""Priors on parameters (``bp.priors.Uniform(0.3, 8.0)``)."""

from .defaults import default_prior, default_priors
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
    "default_prior",
    "default_priors",
    "prior_from_dict",
    "prior_to_dict",
    "to_ppl",
]
