"""A model parameter: value, units, limits, cyclic, fixed, prior, tie and uncertainty.

The *effective support* of a parameter is its limits intersected with its
prior's support (``Uniform(1, 10)`` on a flux limited to ``[0, ∞)`` gives
``[1, 10]``).  Values outside it are rejected, and the transform to the
unconstrained space maps onto it, so that fits treat the prior's edges as
bounds and samplers never leave them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import ParameterError
from ..priors.distributions import Prior
from .tie import Tie
from .transforms import Transform

_UNSET: Any = object()
Bounds = tuple[float | None, float | None, bool]


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


def _as_limit(name: str, value: Any, side: str) -> float | None:
    """A limit as a Python float (numpy scalars accepted); None (or ∓inf) for unbounded."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"{name}: {side} limit {value!r} is not a number") from None
    if math.isnan(out):
        raise ParameterError(f"{name}: {side} limit is NaN")
    if math.isinf(out):
        if (out < 0) == (side == "lower"):
            return None
        raise ParameterError(f"{name}: {side} limit {out} leaves no room for a value")
    return out


def check_prior(name: str, prior: Any) -> Prior | None:
    """``prior`` if it is None or a :class:`~bayesphot.priors.Prior`; a ParameterError otherwise."""
    if prior is None or isinstance(prior, Prior):
        return prior
    raise ParameterError(
        f"{name}: prior must be a bayesphot prior (e.g. bp.priors.Uniform(0.3, 8.0)) or None, "
        f"got {prior!r} ({type(prior).__name__}); to hold a value constant use fixed=True"
    )


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
        for cyclic parameters; open lower when ``strict_lower``).
    cyclic : bool
        The parameter wraps with period ``upper - lower`` (position angles).
    fixed : bool
        Held constant by fits and samplers.
    prior : bayesphot.priors.Prior or None
        None means the model type's default prior when sampling (flat within
        the limits for MAP fits).  Its support binds: see the module docstring.
    uncertainty : float or array-like or None
        1σ, from the Laplace approximation or the posterior.
    strict_lower : bool
        The lower limit itself is excluded (axis ratios and radii, where 0
        renders as NaN).
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
        strict_lower: bool = False,
    ) -> None:
        self.name = name
        self.units = str(units)
        self.description = description
        self.strict_lower = bool(strict_lower)
        self._value: np.ndarray | None = None
        self._uncertainty: np.ndarray | None = None
        self._prior: Prior | None = None
        self._tie: Tie | None = None
        self.note: str | None = None  # a caveat shown with the value (e.g. an unconverged posterior)
        self._fixed = False
        self._cyclic = bool(cyclic)
        self._limits: tuple[float | None, float | None] = (None, None)
        self._set_limits(limits, self._cyclic)
        self.fixed = fixed
        self.prior = prior
        self.user_set = False
        if value is not None:
            self.value = value
            self.user_set = True
        self.uncertainty = uncertainty

    # ---------------------------------------------------------------- limits
    @property
    def limits(self) -> tuple[float | None, float | None]:
        """(lower, upper); setting them re-checks the current value."""
        return self._limits

    @limits.setter
    def limits(self, limits: Any) -> None:
        self._set_limits(limits, self._cyclic)

    @property
    def cyclic(self) -> bool:
        return self._cyclic

    @cyclic.setter
    def cyclic(self, cyclic: Any) -> None:
        self._set_limits(self._limits, bool(cyclic))

    def _set_limits(self, limits: Any, cyclic: bool) -> None:
        try:
            lower, upper = limits
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: limits must be (lower, upper), got {limits!r}") from None
        lower, upper = _as_limit(self.name, lower, "lower"), _as_limit(self.name, upper, "upper")
        if lower is not None and upper is not None and not lower < upper:
            raise ParameterError(f"{self.name}: lower limit {lower} is not below upper limit {upper}")
        if cyclic and (lower is None or upper is None):
            raise ParameterError(f"{self.name}: a cyclic parameter needs both limits (its period)")
        old = (self._limits, self._cyclic)
        self._limits, self._cyclic = (lower, upper), bool(cyclic)
        try:
            self.bounds()  # the prior's support must still meet the limits
            if self._value is not None:
                self.value = self._value  # re-check (and re-wrap) against the new limits
        except ParameterError:
            self._limits, self._cyclic = old
            raise

    # ------------------------------------------------------- fixed and prior
    @property
    def fixed(self) -> bool:
        """Held constant by fits and samplers."""
        return self._fixed

    @fixed.setter
    def fixed(self, fixed: Any) -> None:
        fixed = bool(fixed)
        if fixed and self._tie is not None:
            raise ParameterError(f"{self.name} is tied; untie() it before fixing it")
        self._fixed = fixed

    @property
    def prior(self) -> Prior | None:
        """The prior (a :class:`~bayesphot.priors.Prior`) or None; its support binds the value."""
        return self._prior

    @prior.setter
    def prior(self, prior: Any) -> None:
        prior = check_prior(self.name, prior)
        if prior is not None and self._tie is not None:
            raise ParameterError(f"{self.name} is tied, so it is not sampled: put the prior on its source")
        old = self._prior
        self._prior = prior
        try:
            self.bounds()
            if self._value is not None:
                self._check_inside(self._value, repr(self._value.tolist()))
        except ParameterError:
            self._prior = old
            raise

    def bounds(self, prior: Any = _UNSET) -> Bounds:
        """Effective support ``(lower, upper, cyclic)``: the limits intersected with the prior's support.

        Parameters
        ----------
        prior : Prior or None, optional
            Use this prior instead of the parameter's own (what a sampler's
            ``priors=`` mapping does).

        Returns
        -------
        (lower, upper, cyclic)
            A cyclic parameter whose prior restricts it to part of its period
            is no longer cyclic: it lives on that interval.
        """
        prior = self._prior if prior is _UNSET else check_prior(self.name, prior)
        lower, upper = self._limits
        if prior is None:
            return lower, upper, self._cyclic
        plow, phigh = prior.support()
        if self._cyclic and ((plow is not None and plow < lower) or (phigh is not None and phigh > upper)):
            raise ParameterError(
                f"{self.name}: the support [{plow}, {phigh}] of its prior {prior} reaches outside the period "
                f"[{lower}, {upper}) of this cyclic parameter; give a prior within the period"
            )
        if plow is not None:
            lower = plow if lower is None else max(lower, plow)
        if phigh is not None:
            upper = phigh if upper is None else min(upper, phigh)
        if lower is not None and upper is not None and not lower < upper:
            raise ParameterError(
                f"{self.name}: its prior {prior} has no support within its limits {list(self._limits)}"
            )
        cyclic = self._cyclic and (lower, upper) == self._limits
        return lower, upper, cyclic

    def transform_for(self, prior: Any = _UNSET) -> Transform:
        """Bijection between R and the effective support (see :meth:`bounds`)."""
        lower, upper, cyclic = self.bounds(prior)
        return Transform(lower, upper, cyclic)

    @property
    def transform(self) -> Transform:
        """Bijection to the unconstrained space used by optimisers and samplers (own prior)."""
        return self.transform_for()

    # ------------------------------------------------------------------ value
    @property
    def value(self) -> np.ndarray | None:
        """Current value as a float64 numpy array (0-d for scalars), or None.

        A tied parameter computes it from its sources.
        """
        if self._tie is not None:
            return self._tied_value()
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        if self._tie is not None:
            raise ParameterError(f"{self.name} is tied to another parameter: set that one, or untie() it")
        if new is None:
            self._value = None
            return
        try:
            arr = np.array(new, dtype=np.float64)
        except (TypeError, ValueError):
            raise ParameterError(f"{self.name}: value {new!r} is not a number") from None
        if not np.all(np.isfinite(arr)):
            raise ParameterError(f"{self.name}: value {new!r} is not finite")
        lower, upper = self._limits
        if self._cyclic:
            arr = lower + np.mod(arr - lower, upper - lower)
        self._check_inside(arr, repr(new))
        self._value = arr
        self.note = None  # a new value: an earlier caveat no longer applies

    def _check_inside(self, arr: np.ndarray, shown: str) -> None:
        """Raise unless ``arr`` lies in the limits and the prior's support."""
        lower, upper = self._limits
        if not self._cyclic:
            if lower is not None and (np.any(arr <= lower) if self.strict_lower else np.any(arr < lower)):
                rel = "at or below" if self.strict_lower else "below"
                raise ParameterError(f"{self.name}: value {shown} is {rel} its lower limit {lower}")
            if upper is not None and np.any(arr > upper):
                raise ParameterError(f"{self.name}: value {shown} is above its upper limit {upper}")
        if self._prior is not None:
            plow, phigh, _ = self.bounds()
            if (plow is not None and np.any(arr < plow)) or (phigh is not None and np.any(arr > phigh)):
                raise ParameterError(
                    f"{self.name}: value {shown} is outside the support [{plow}, {phigh}] of its prior "
                    f"{self._prior} (zero prior density); change the value or the prior"
                )

    def set_value(self, new: Any, *, user: bool = False) -> None:
        """Set the value; ``user=True`` marks it as chosen by the user."""
        self.value = new
        self.user_set = self.user_set or user

    @property
    def size(self) -> int:
        value = self.value
        return 1 if value is None else int(value.size)

    @property
    def shape(self) -> tuple[int, ...]:
        value = self.value
        return () if value is None else value.shape

    @property
    def uncertainty(self) -> np.ndarray | None:
        """1σ; for an affine tie ``|scale|`` × the source's σ."""
        tie = self._tie
        if tie is not None and tie.affine:
            sigma = tie.sources[0].uncertainty
            return None if sigma is None else np.abs(tie.scale) * sigma
        return self._uncertainty

    @uncertainty.setter
    def uncertainty(self, new: Any) -> None:
        self._uncertainty = None if new is None else np.array(new, dtype=np.float64)

    def interior_value(self, prior: Any = _UNSET) -> np.ndarray:
        """The value nudged off a closed edge of the effective support so that the transform is finite."""
        value = self.value
        if value is None:
            raise ParameterError(f"{self.name} has no value: call initialize() or set it")
        return self.transform_for(prior).interior(value)

    def clamp_initial(self, value: Any) -> np.ndarray:
        """An initialisation heuristic's ``value`` moved just inside the effective support."""
        arr = np.asarray(value, dtype=np.float64)
        lower, upper, cyclic = self.bounds()
        if cyclic:
            return arr
        span = 1e-6 * (abs(upper - lower) if (lower is not None and upper is not None) else 1.0)
        if lower is not None:
            arr = np.maximum(arr, lower + span)
        if upper is not None:
            arr = np.minimum(arr, upper - span)
        return arr

    # ------------------------------------------------------------------- ties
    @property
    def tied(self) -> bool:
        """Whether the value follows other parameters (see :meth:`tie`)."""
        return self._tie is not None

    @property
    def is_free(self) -> bool:
        """Neither fixed nor tied: an element of the fit vector."""
        return not self._fixed and self._tie is None

    @property
    def tie_spec(self) -> Tie | None:
        """The :class:`~bayesphot.params.tie.Tie`, or None."""
        return self._tie

    def tie(self, source: Parameter | Callable[..., Any], *sources: Parameter, scale: float = 1.0,
            offset: float = 0.0) -> Parameter:
        """Make this parameter follow others: one fit element, one sample site for all of them.

        Parameters
        ----------
        source : Parameter or callable
            ``disk["x"].tie(bulge["x"])`` shares a centre;
            ``disk["Re"].tie(bulge["Re"], scale=2.0)`` keeps a fixed ratio
            (``value = scale × source + offset``, saved with the model).
            A callable ties to a function of the parameters that follow:
            ``p.tie(lambda a, b: a + b, m1["x"], m2["x"])`` (array-API
            operations only; such a tie cannot be saved to YAML).
        scale, offset : float
            Of the affine tie.

        Returns
        -------
        Parameter
            ``self``.
        """
        if isinstance(source, Parameter):
            if sources:
                raise ParameterError(f"{self.name}: a tie to a parameter takes one source; pass a function "
                                     "first to tie to several")
            srcs: tuple[Parameter, ...] = (source,)
            tie = Tie(srcs, None, float(scale), float(offset))
            if not (math.isfinite(tie.scale) and math.isfinite(tie.offset)):
                raise ParameterError(f"{self.name}: tie scale and offset must be finite")
        elif callable(source):
            if not sources or not all(isinstance(s, Parameter) for s in sources):
                raise ParameterError(f"{self.name}: a tie to a function needs the source Parameters after it")
            if scale != 1.0 or offset != 0.0:
                raise ParameterError(f"{self.name}: scale/offset apply to a tie to one parameter only")
            srcs = tuple(sources)
            tie = Tie(srcs, source)
        else:
            raise ParameterError(f"{self.name}: can tie to a Parameter or a function, not {type(source).__name__}")
        for src in srcs:
            if src is self or self in src.tie_ancestors():
                raise ParameterError(f"{self.name}: tying it to itself (directly or through other ties)")
        if self._fixed:
            raise ParameterError(f"{self.name} is fixed; set fixed=False before tying it")
        if self._prior is not None:
            raise ParameterError(f"{self.name} has a prior; a tied parameter is not sampled (remove the prior)")
        old_tie, old_value = self._tie, self._value
        self._tie = tie
        try:
            value = self._tied_value()
            if value is not None:
                self._check_inside(value, "tied to " + ", ".join(s.name for s in srcs))
        except ParameterError:
            self._tie, self._value = old_tie, old_value
            raise
        self._value = None
        self.user_set = True
        return self

    def untie(self) -> None:
        """Remove the tie, keeping the current value."""
        if self._tie is None:
            return
        value = self._tied_value()
        self._tie = None
        self._value = None if value is None else np.array(value, dtype=np.float64)

    def tie_ancestors(self) -> list[Parameter]:
        """Every parameter this one's value depends on through ties."""
        out: list[Parameter] = []
        stack = list(self._tie.sources) if self._tie is not None else []
        while stack:
            p = stack.pop()
            if any(p is q for q in out):
                continue
            out.append(p)
            if p._tie is not None:
                stack.extend(p._tie.sources)
        return out

    def _tied_value(self) -> np.ndarray | None:
        tie = self._tie
        assert tie is not None
        values = [s.value for s in tie.sources]
        if any(v is None for v in values):
            return None
        try:
            out = np.array(tie.evaluate(values), dtype=np.float64)
        except Exception as exc:  # a user function that fails on numpy arrays
            raise ParameterError(f"{self.name}: its tie function failed: {exc}") from exc
        if self._cyclic:
            lower, upper = self._limits
            out = lower + np.mod(out - lower, upper - lower)
        return out

    # ---------------------------------------------------------------- display
    def describe(self, names: Mapping[int, str] | None = None) -> str:
        """One line for display; ``names`` maps ``id(parameter)`` to its full name (for ties)."""
        value = self.value
        sigma_arr = self.uncertainty
        if value is None:
            body = "unset"
        elif value.ndim == 0:
            sigma = None if sigma_arr is None else float(sigma_arr)
            body = _format_number(float(value), sigma)
        else:
            sigmas = sigma_arr.ravel() if sigma_arr is not None else [None] * value.size
            parts = [
                _format_number(float(v), None if s is None else float(s))
                for v, s in zip(value.ravel(), sigmas, strict=False)
            ]
            body = "[" + ", ".join(parts) + "]"
        text = f"{self.name}: {body}"
        if self.units:
            text += f" {self.units}"
        lower, upper = self._limits
        if lower is not None or upper is not None:
            opening = "(" if self.strict_lower else "["
            close = ")" if self._cyclic or upper is None else "]"
            text += f" {opening}{_format_bound(lower, '-∞')}, {_format_bound(upper, '∞')}{close}"
        if self._cyclic:
            text += " cyclic"
        if self._fixed:
            text += " fixed"
        if self._prior is not None:
            text += f" prior {self._prior}"
        if self._tie is not None:
            src_names = [(names or {}).get(id(s), s.name) for s in self._tie.sources]
            text += f" tied {self._tie.describe(src_names)}"
        notes = [self.note] if self.note else [s.note for s in self.tie_ancestors() if s.note]
        if notes:
            text += f"  [{notes[0]}]"
        return text

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return f"Parameter({self})"

    def __float__(self) -> float:
        value = self.value
        if value is None or value.size != 1:
            raise TypeError(f"{self.name} is not a set scalar")
        return float(value)

    # ------------------------------------------------------------ serialising
    def to_dict(self) -> dict[str, Any]:
        """Plain-data description (YAML-safe) of the whole state (ties are written by the model)."""
        from ..priors import prior_to_dict

        def plain(a: np.ndarray | None) -> Any:
            return None if a is None else a.tolist()

        return {
            "value": plain(None if self._tie is not None else self._value),
            "uncertainty": plain(self._uncertainty),
            "units": self.units,
            "limits": list(self._limits),
            "cyclic": self._cyclic,
            "fixed": self._fixed,
            "user_set": bool(self.user_set),
            "prior": prior_to_dict(self._prior),
        }

    def update_from_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state written by :meth:`to_dict` (limits first, then value, then prior)."""
        from ..priors import prior_from_dict

        self._value = None
        self._prior = None
        self._set_limits(state.get("limits", self._limits), bool(state.get("cyclic", self._cyclic)))
        self.fixed = bool(state.get("fixed", self._fixed))
        self.units = str(state.get("units", self.units))
        if self._tie is None:
            self.value = state.get("value")
        self.uncertainty = state.get("uncertainty")
        self.user_set = bool(state.get("user_set", False))
        self.prior = prior_from_dict(state.get("prior"))
