"""A model parameter: value, units, limits, cyclic, fixed, prior and uncertainty."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ParameterError
from .transforms import Transform


def _format_bound(value: float | None, default: str) -> str:
    """A limit for display, writing multiples of π as such."""
    if value is None:
        return default
    for k, text in ((1, "π"), (2, "2π"), (0.5, "π/2")):
        if math.isclose(value, k * math.pi) or math.isclose(value, -k * math.pi):
            return ("-" if value < 0 else "") + text
    return f"{value:g}"


def _format_number(value: float, sigma: float | None) -> str:
    if sigma is None or not np.isfinite(sigma) or sigma <= 0:
        return f"{value:.6g}"
    digits = max(0, 1 - math.floor(math.log10(sigma)))
    digits = min(digits, 12)
    return f"{value:.{digits}f} ± {sigma:.{digits}f}"


class Parameter:
    """One named quantity of a model.

    Parameters
    ----------
    name : str
        Local name (``"PA"``); a group addresses it as ``"child:PA"``.
    value : float or array-like or None
        None until set by the user or by ``initialize()``.
    units : str
        Physical units for display (``"arcsec"``, ``"rad"``, ``"flux/arcsec^2"``).
    limits : (lower, upper)
        Either may be None. Values must lie inside (closed lower, open upper
        for cyclic parameters).
    cyclic : bool
        The parameter wraps with period ``upper - lower`` (position angles).
    fixed : bool
        Held constant by fits and samplers.
    prior : bayesphot.priors.Prior or None
        None means the model type's default prior (flat within the limits until
        the inference layer assigns one).
    uncertainty : float or array-like or None
        1σ, from the Laplace approximation or the posterior.
    """

    def __init__(
        self,
        name: str,
        value: Any = None,
        *,
        units: str = "",
        limits: tuple[float | None, float | None] = (None, None),
        cyclic: bool = False,
        fixed: bool = False,
        prior: Any = None,
        uncertainty: Any = None,
        description: str = "",
    ) -> None:
        lower, upper = limits
        if lower is not None and upper is not None and not lower < upper:
            raise ParameterError(f"{name}: lower limit {lower} is not below upper limit {upper}")
        if cyclic and (lower is None or upper is None):
            raise ParameterError(f"{name}: a cyclic parameter needs both limits (its period)")
        self.name = name
        self.units = units
        self.limits = (
            None if lower is None else float(lower),
            None if upper is None else float(upper),
        )
        self.cyclic = bool(cyclic)
        self.fixed = bool(fixed)
        self.prior = prior
        self.description = description
        self.user_set = False
        self._value: np.ndarray | None = None
        self._uncertainty: np.ndarray | None = None
        if value is not None:
            self.value = value
            self.user_set = True
        self.uncertainty = uncertainty

    # ------------------------------------------------------------------ value
    @property
    def value(self) -> np.ndarray | None:
        """Current value as a float64 numpy array (0-d for scalars), or None."""
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        if new is None:
            self._value = None
            return
        arr = np.array(new, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"{self.name}: value {new!r} is not finite")
        lower, upper = self.limits
        if self.cyclic:
            arr = lower + np.mod(arr - lower, upper - lower)
        else:
            if lower is not None and np.any(arr < lower):
                raise ParameterError(f"{self.name}: value {new!r} is below its lower limit {lower}")
            if upper is not None and np.any(arr > upper):
                raise ParameterError(f"{self.name}: value {new!r} is above its upper limit {upper}")
        self._value = arr

    def set_value(self, new: Any, *, user: bool = False) -> None:
        """Set the value; ``user=True`` marks it as chosen by the user."""
        self.value = new
        self.user_set = self.user_set or user

    @property
    def size(self) -> int:
        return 1 if self._value is None else int(self._value.size)

    @property
    def shape(self) -> tuple[int, ...]:
        return () if self._value is None else self._value.shape

    @property
    def uncertainty(self) -> np.ndarray | None:
        return self._uncertainty

    @uncertainty.setter
    def uncertainty(self, new: Any) -> None:
        self._uncertainty = None if new is None else np.array(new, dtype=np.float64)

    @property
    def transform(self) -> Transform:
        """Bijection to the unconstrained space used by optimisers and samplers."""
        return Transform(self.limits[0], self.limits[1], self.cyclic)

    def interior_value(self) -> np.ndarray:
        """The value nudged off a closed limit so that the transform is finite."""
        if self._value is None:
            raise ParameterError(f"{self.name} has no value: call initialize() or set it")
        lower, upper = self.limits
        if self.cyclic or (lower is None and upper is None):
            return self._value
        span = (upper - lower) if (lower is not None and upper is not None) else 1.0
        eps = 1e-9 * max(span, 1.0)
        v = self._value
        if lower is not None:
            v = np.maximum(v, lower + eps)
        if upper is not None:
            v = np.minimum(v, upper - eps)
        return v

    # ---------------------------------------------------------------- display
    def __str__(self) -> str:
        if self._value is None:
            body = "unset"
        elif self._value.ndim == 0:
            sigma = None if self._uncertainty is None else float(self._uncertainty)
            body = _format_number(float(self._value), sigma)
        else:
            sig = self._uncertainty
            sigmas = sig.ravel() if sig is not None else [None] * self._value.size
            parts = [
                _format_number(float(v), None if s is None else float(s))
                for v, s in zip(self._value.ravel(), sigmas, strict=False)
            ]
            body = "[" + ", ".join(parts) + "]"
        text = f"{self.name}: {body}"
        if self.units:
            text += f" {self.units}"
        lower, upper = self.limits
        if lower is not None or upper is not None:
            close = ")" if self.cyclic or upper is None else "]"
            text += f" [{_format_bound(lower, '-∞')}, {_format_bound(upper, '∞')}{close}"
        if self.cyclic:
            text += " cyclic"
        if self.fixed:
            text += " fixed"
        return text

    def __repr__(self) -> str:
        return f"Parameter({self})"

    def __float__(self) -> float:
        if self._value is None or self._value.size != 1:
            raise TypeError(f"{self.name} is not a set scalar")
        return float(self._value)

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict[str, Any]:
        """Plain-data description (YAML-safe) of the whole state."""
        from ..priors import prior_to_dict

        def plain(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {
            "value": plain(self._value),
            "uncertainty": plain(self._uncertainty),
            "units": self.units,
            "limits": list(self.limits),
            "cyclic": self.cyclic,
            "fixed": self.fixed,
            "user_set": self.user_set,
            "prior": prior_to_dict(self.prior),
        }

    def update_from_dict(self, state: dict[str, Any]) -> None:
        """Restore a state written by :meth:`to_dict` (limits first, then value)."""
        from ..priors import prior_from_dict

        lower, upper = state.get("limits", self.limits)
        if lower is not None and upper is not None and not lower < upper:
            raise ParameterError(f"{self.name}: lower limit {lower} is not below upper limit {upper}")
        self.limits = (lower, upper)
        self.cyclic = bool(state.get("cyclic", self.cyclic))
        self.fixed = bool(state.get("fixed", self.fixed))
        self.units = state.get("units", self.units)
        self.value = state.get("value")
        self.uncertainty = state.get("uncertainty")
        self.user_set = bool(state.get("user_set", False))
        self.prior = prior_from_dict(state.get("prior"))
