"""Prior distributions, written once against the array-API namespace.

Each prior is a small frozen dataclass with ``log_prob(x)`` (summed over
elements, natural log) that runs under JAX and torch, and a plain-data form for
saving.  The class names match the distributions of numpyro and pyro so the
inference layer can hand the same prior to either PPL.

Each ``log_prob`` is a pure kernel of the value and the prior's numbers
(:func:`~bayesphot.tracing.traced_once`): JAX traces it once per prior type,
and an object's program takes its numbers as arguments.  Traced op by op, the
eight priors of a Sérsic + sky cost 15 ms for every program of every object.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from ..backend import Array, namespace
from ..errors import ParameterError
from ..tracing import traced_once

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


class Prior:
    """Base class: a distribution over one (scalar or vector) parameter.

    ``log_prob`` is −∞ outside :meth:`support`: a prior's support is part of
    the model, and a parameter's transform maps onto its limits intersected
    with it (see :class:`~bayesphot.params.Parameter`).
    """

    registry: ClassVar[dict[str, type[Prior]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Prior.registry[cls.__name__] = cls

    def _check_numbers(self) -> None:
        """Every field a finite real number (None allowed for open truncation bounds); numpy scalars become floats."""
        for key, value in asdict(self).items():
            if value is None and key in ("low", "high") and isinstance(self, TruncatedNormal):
                continue
            if isinstance(value, bool) or (not isinstance(value, (int, float)) and not hasattr(value, "__float__")):
                raise ParameterError(f"{type(self).__name__} prior: {key} must be a number, got {value!r}")
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"{type(self).__name__} prior: {key} must be a number, got {value!r}") from None
            if not math.isfinite(number):
                raise ParameterError(f"{type(self).__name__} prior: {key} must be finite, got {value!r}")
            object.__setattr__(self, key, number)

    def log_prob(self, x: Array) -> Array:  # pragma: no cover - abstract
        raise NotImplementedError

    def support(self) -> tuple[float | None, float | None]:
        """(lower, upper) outside which the density is zero."""
        return (None, None)

    def to_dict(self) -> dict[str, Any]:
        """``{"type": class name, **fields}`` with plain floats (YAML-safe)."""
        fields = {key: (None if v is None else float(v)) for key, v in asdict(self).items()}
        return {"type": type(self).__name__, **fields}


def _bounded(x: Array, log_density: Array, low: float | None, high: float | None) -> Array:
    """Σ of the per-element ``log_density``, −∞ if any element of ``x`` lies outside [low, high]."""
    xp = namespace(x)
    if low is None and high is None:
        return xp.sum(log_density)
    inside = xp.ones_like(x) > 0
    if low is not None:
        inside = inside & (x >= low)
    if high is not None:
        inside = inside & (x <= high)
    return xp.sum(xp.where(inside, log_density, xp.full_like(log_density, -math.inf)))


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
        self._check_numbers()
        if not self.low < self.high:
            raise ParameterError(f"Uniform prior needs low < high, got {self.low}, {self.high}")

    def log_prob(self, x: Array) -> Array:
        return _uniform_log_prob(x, self.low, self.high, math.log(self.high - self.low))

    def support(self) -> tuple[float | None, float | None]:
        return (self.low, self.high)


@dataclass(frozen=True)
class Normal(Prior):
    """Gaussian with mean ``loc`` and standard deviation ``scale``."""

    loc: float
    scale: float

    def __post_init__(self) -> None:
        self._check_numbers()
        _check_scale(self)

    def log_prob(self, x: Array) -> Array:
        return _normal_log_prob(x, self.loc, self.scale, math.log(self.scale) + _LOG_SQRT_2PI)


@dataclass(frozen=True)
class TruncatedNormal(Prior):
    """Gaussian restricted to ``[low, high]`` and renormalised."""

    loc: float
    scale: float
    low: float | None = None
    high: float | None = None

    def __post_init__(self) -> None:
        self._check_numbers()
        _check_scale(self)
        if self.low is not None and self.high is not None and not self.low < self.high:
            raise ParameterError(f"TruncatedNormal prior needs low < high, got {self.low}, {self.high}")

    def log_prob(self, x: Array) -> Array:
        a = -math.inf if self.low is None else (self.low - self.loc) / self.scale
        b = math.inf if self.high is None else (self.high - self.loc) / self.scale
        constant = math.log(self.scale) + _LOG_SQRT_2PI + _std_normal_logcdf_diff(a, b)
        return _truncated_normal_log_prob(x, self.loc, self.scale, constant,
                                          -math.inf if self.low is None else self.low,
                                          math.inf if self.high is None else self.high)

    def support(self) -> tuple[float | None, float | None]:
        return (self.low, self.high)


@dataclass(frozen=True)
class LogNormal(Prior):
    """log(x) is Normal(``loc``, ``scale``); for positive scale-like parameters."""

    loc: float
    scale: float

    def __post_init__(self) -> None:
        self._check_numbers()
        _check_scale(self)

    def log_prob(self, x: Array) -> Array:
        return _lognormal_log_prob(x, self.loc, self.scale, math.log(self.scale) + _LOG_SQRT_2PI)

    def support(self) -> tuple[float | None, float | None]:
        return (0.0, None)


@dataclass(frozen=True)
class HalfNormal(Prior):
    """|Normal(0, ``scale``)|, for non-negative parameters."""

    scale: float

    def __post_init__(self) -> None:
        self._check_numbers()
        _check_scale(self)

    def log_prob(self, x: Array) -> Array:
        return _half_normal_log_prob(x, self.scale, math.log(self.scale) + _LOG_SQRT_2PI - math.log(2.0))

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
        self._check_numbers()
        if not self.concentration >= 0:
            raise ParameterError(f"VonMises prior needs concentration >= 0, got {self.concentration}")
        if not self.period > 0:
            raise ParameterError(f"VonMises prior needs period > 0, got {self.period}")

    def log_prob(self, x: Array) -> Array:
        return _von_mises_log_prob(x, self.loc, self.concentration, 2.0 * math.pi / self.period,
                                   math.log(self.period) + _log_bessel_i0(self.concentration))


# ----------------------------------------------------------------------------- kernels
# pure in (value, numbers); ``constant`` folds the normalisation computed once in Python
@traced_once
def _uniform_log_prob(x: Array, low: float, high: float, log_width: float) -> Array:
    xp = namespace(x)
    return _bounded(x, xp.zeros_like(x) - log_width, low, high)


@traced_once
def _normal_log_prob(x: Array, loc: float, scale: float, constant: float) -> Array:
    xp = namespace(x)
    z = (x - loc) / scale
    return xp.sum(-0.5 * z * z - constant)


@traced_once
def _truncated_normal_log_prob(x: Array, loc: float, scale: float, constant: float, low: float,
                               high: float) -> Array:
    z = (x - loc) / scale
    return _bounded(x, -0.5 * z * z - constant, low, high)


@traced_once
def _lognormal_log_prob(x: Array, loc: float, scale: float, constant: float) -> Array:
    xp = namespace(x)
    positive = x > 0
    logx = xp.log(xp.where(positive, x, xp.ones_like(x)))
    z = (logx - loc) / scale
    lp = -0.5 * z * z - constant - logx
    return xp.sum(xp.where(positive, lp, xp.full_like(lp, -math.inf)))


@traced_once
def _half_normal_log_prob(x: Array, scale: float, constant: float) -> Array:
    z = x / scale
    return _bounded(x, -0.5 * z * z - constant, 0.0, None)


@traced_once
def _von_mises_log_prob(x: Array, loc: float, concentration: float, frequency: float, log_norm: float) -> Array:
    xp = namespace(x)
    return xp.sum(concentration * xp.cos(frequency * (x - loc)) - log_norm)


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
