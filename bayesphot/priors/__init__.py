"""Priors on parameters (``bp.priors.Uniform(0.3, 8.0)``)."""

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
]
