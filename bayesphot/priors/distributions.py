"""Prior distributions, written once against the array-API namespace.

Each prior is a small frozen dataclass with ``log_prob(x)`` (summed over
elements, natural log) that runs under JAX and torch, and a plain-data form for
saving.  The class names match the distributions of numpyro and pyro so the
inference layer can hand the same prior to either PPL.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ..backend import Array, namespace
from ..errors import ParameterError

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Prior:
    """Base class: a distribution over one (scalar or vector) parameter."""

    registry: ClassVar[dict[str, type[Prior]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Prior.registry[cls.__name__] = cls

    def log_prob(self, x: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def support(self) -> tuple[float | None, float | None]:
        """(lower, upper) outside which the density is zero."""
        return (None, None)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": class name, **fields}`` with plain floats (YAML-safe)."""
        fields = {key: (None if v is None else float(v)) for key, v in asdict(self).items()}
        return {"type": type(self).__name__, **fields}


def _check_scale(prior: Prior) -> None:
    scale = prior.scale  # type: ignore[attr-defined]
    if not scale > 0:
        raise ParameterError(f"{type(prior).__name__} prior needs scale > 0, got {scale}")


def _std_normal_logcdf_diff(a: float, b: float) -> float:
    """log(Φ(b) − Φ(a)) for the truncated normal's normaliser."""
    cdf = lambda t: 0.5 * math.erfc(-t / math.sqrt(2.0))
    return math.log(cdf(b) - cdf(a))


@dataclass(frozen=True)
class Uniform(Prior):
    """Flat between ``low`` and ``high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ParameterError(f"Uniform prior needs low < high, got {self.low}, {self.high}")

    def log_prob(self, x: Array) -> Array:
        xp = namespace(x)
        return xp.sum(xp.zeros_like(x) - math.log(self.high - self.low))

    def support(self) -> tuple[float | None, float | None]:
        return (self.low, self.high)


@dataclass(frozen=True)
class Normal(Prior):
    """Gaussian with mean ``loc`` and standard deviation ``scale``."""

    loc: float
    scale: float

    def __post_init__(self) -> None:
        _check_scale(self)

    def log_prob(self, x: Array) -> Array:
        xp = namespace(x)
        z = (x - self.loc) / self.scale
        return xp.sum(-0.5 * z * z - math.log(self.scale) - _LOG_SQRT_2PI)


@dataclass(frozen=True)
class TruncatedNormal(Prior):
    """Gaussian restricted to ``[low, high]`` and renormalised."""

    loc: float
    scale: float
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        _check_scale(self)
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ParameterError(f"TruncatedNormal prior needs low < high, got {self.low}, {self.high}")

    def log_prob(self, x: Array) -> Array:
        xp = namespace(x)
        a = -math.inf if self.low is None else (self.low - self.loc) / self.scale
        b = math.inf if self.high is None else (self.high - self.loc) / self.scale
        z = (x - self.loc) / self.scale
        norm = _std_normal_logcdf_diff(a, b)
        return xp.sum(-0.5 * z * z - math.log(self.scale) - _LOG_SQRT_2PI - norm)

    def support(self) -> tuple[float | None, float | None]:
        return (self.low, self.high)


@dataclass(frozen=True)
class LogNormal(Prior):
    """log(x) is Normal(``loc``, ``scale``); for positive scale-like parameters."""

    loc: float
    scale: float

    def __post_init__(self) -> None:
        _check_scale(self)

    def log_prob(self, x: Array) -> Array:
        xp = namespace(x)
        logx = xp.log(x)
        z = (logx - self.loc) / self.scale
        return xp.sum(-0.5 * z * z - math.log(self.scale) - _LOG_SQRT_2PI - logx)

    def support(self) -> tuple[float | None, float | None]:
        return (0.0, None)


@dataclass(frozen=True)
class HalfNormal(Prior):
    """|Normal(0, ``scale``)|, for non-negative parameters."""

    scale: float

    def __post_init__(self) -> None:
        _check_scale(self)

    def log_prob(self, x: Array) -> Array:
        xp = namespace(x)
        z = x / self.scale
        return xp.sum(-0.5 * z * z - math.log(self.scale) - _LOG_SQRT_2PI + math.log(2.0))

    def support(self) -> tuple[float | None, float | None]:
        return (0.0, None)


@dataclass(frozen=True)
class VonMises(Prior):
    """Angle prior on the circle of period ``period`` (π for position angles).

    Density ∝ exp(κ cos(2π (x − loc) / period)); κ = 0 is uniform on the circle.
    """

    loc: float = 0.0
    concentration: float = 0.0
    period: float = math.pi

    def __post_init__(self) -> None:
        if not self.concentration >= 0:
            raise ParameterError(f"VonMises prior needs concentration >= 0, got {self.concentration}")
        if not self.period > 0:
            raise ParameterError(f"VonMises prior needs period > 0, got {self.period}")

    def log_prob(self, x: Array) -> Array:
        xp = namespace(x)
        angle = 2.0 * math.pi * (x - self.loc) / self.period
        log_norm = math.log(self.period) + _log_bessel_i0(self.concentration)
        return xp.sum(self.concentration * xp.cos(angle) - log_norm)


def _log_bessel_i0(kappa: float) -> float:
    """log I0(κ) for a constant κ ≥ 0, stable for large κ (via the scaled Bessel function)."""
    from scipy.special import i0e

    return math.log(float(i0e(kappa))) + kappa


def prior_to_dict(prior: Prior | None) -> dict[str, Any] | None:
    """Plain-data form of a prior (None stays None)."""
    return None if prior is None else prior.to_dict()


def prior_from_dict(state: dict[str, Any] | None) -> Prior | None:
    """Inverse of :func:`prior_to_dict`."""
    if state is None:
        return None
    state = dict(state)
    name = state.pop("type")
    if name not in Prior.registry:
        raise ParameterError(f"unknown prior type {name!r}")
    try:
        return Prior.registry[name](**state)
    except TypeError as exc:
        raise ParameterError(f"cannot build a {name} prior from {state}: {exc}") from exc
