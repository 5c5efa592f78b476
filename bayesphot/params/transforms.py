"""Smooth bijections between a parameter's limits and the real line.

The optimiser and the sampler move in the unconstrained space ``u``; the model
sees ``x = forward(u)``.  ``log_abs_det_jacobian(u)`` is ``log |dx/du|`` summed
over elements, which the sampler adds to the log-density so that a prior on
``x`` stays a prior on ``x``.  All functions are written against the array-API
namespace and run under JAX and torch.  The bounded maps are pure kernels of
``u`` and the limits (:func:`~bayesphot.tracing.traced_once`), traced once for
every parameter of every object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend import Array, namespace
from ..tracing import traced_once


@dataclass(frozen=True)
class Transform:
    """Map of one parameter between its limits and R.

    ``lower``/``upper`` are None where unbounded.  ``cyclic`` parameters wrap
    into ``[lower, upper)`` and are otherwise the identity.
    """

    lower: float | None = None
    upper: float | None = None
    cyclic: bool = False

    @property
    def kind(self) -> str:
        if self.cyclic:
            return "cyclic"
        if self.lower is not None and self.upper is not None:
            return "interval"
        if self.lower is not None:
            return "lower"
        if self.upper is not None:
            return "upper"
        return "identity"

    def interior(self, value: Any) -> Any:
        """``value`` nudged off a closed edge of the interval (by 1e-9 of its span) so that ``inverse`` is finite."""
        lower, upper = self.lower, self.upper
        if self.cyclic or (lower is None and upper is None):
            return value
        span = (upper - lower) if (lower is not None and upper is not None) else 1.0
        eps = 1e-9 * max(span, 1.0)
        v = value
        if lower is not None:
            v = np.maximum(v, lower + eps)
        if upper is not None:
            v = np.minimum(v, upper - eps)
        return v

    def forward(self, u: Array) -> Array:
        """Unconstrained ``u`` → parameter value ``x``."""
        kind = self.kind
        if kind == "interval":
            return _interval_forward(u, self.lower, self.upper - self.lower)
        if kind == "lower":
            return _lower_forward(u, self.lower)
        if kind == "upper":
            return _upper_forward(u, self.upper)
        if kind == "cyclic":
            return _cyclic_forward(u, self.lower, self.upper - self.lower)
        return u

    def inverse(self, x: Array) -> Array:
        """Parameter value ``x`` → unconstrained ``u``."""
        xp = namespace(x)
        kind = self.kind
        if kind == "interval":
            t = (x - self.lower) / (self.upper - self.lower)
            return xp.log(t) - xp.log1p(-t)
        if kind == "lower":
            return xp.log(x - self.lower)
        if kind == "upper":
            return xp.log(self.upper - x)
        return x

    def log_abs_det_jacobian(self, u: Array) -> Array:
        """``sum(log |dx/du|)`` at ``u``."""
        xp = namespace(u)
        kind = self.kind
        if kind == "interval":
            return _interval_log_det(u, math.log(self.upper - self.lower))
        if kind in ("lower", "upper"):
            return xp.sum(u)
        return xp.sum(xp.zeros_like(u))

    def derivative(self, u: Array) -> Array:
        """Elementwise ``dx/du`` (used to map covariances back to parameter space)."""
        xp = namespace(u)
        kind = self.kind
        if kind == "interval":
            s = 1.0 / (1.0 + xp.exp(-u))
            return (self.upper - self.lower) * s * (1.0 - s)
        if kind == "lower":
            return xp.exp(u)
        if kind == "upper":
            return -xp.exp(u)
        return xp.ones_like(u)


# ----------------------------------------------------------------------------- kernels
@traced_once
def _interval_forward(u: Array, lower: float, span: float) -> Array:
    xp = namespace(u)
    return lower + span / (1.0 + xp.exp(-u))


@traced_once
def _lower_forward(u: Array, lower: float) -> Array:
    return lower + namespace(u).exp(u)


@traced_once
def _upper_forward(u: Array, upper: float) -> Array:
    return upper - namespace(u).exp(u)


@traced_once
def _cyclic_forward(u: Array, lower: float, period: float) -> Array:
    return lower + (u - lower) % period


@traced_once
def _interval_log_det(u: Array, log_span: float) -> Array:
    # log σ(u) + log(1-σ(u)) = -softplus(-u) - softplus(u), stable for large |u|
    xp = namespace(u)
    softplus = xp.logaddexp(xp.zeros_like(u), u) + xp.logaddexp(xp.zeros_like(u), -u)
    return xp.sum(log_span - softplus)
