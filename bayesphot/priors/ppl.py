"""The same priors as numpyro (JAX) or pyro (torch) distributions.

:func:`to_ppl` turns a :class:`~bayesphot.priors.Prior` into the equal
distribution of either probabilistic-programming library, so that prior
draws (for simulation studies) and PPL-native models use the very density
that ``Prior.log_prob`` computes:

=================  ===========================================================
bayesphot          numpyro / pyro
=================  ===========================================================
Uniform            ``Uniform(low, high)``
Normal             ``Normal(loc, scale)``
TruncatedNormal    ``TruncatedNormal(loc, scale, low, high)`` (numpyro);
                   an inverse-CDF truncated normal (pyro has none built in)
LogNormal          ``LogNormal(loc, scale)``
HalfNormal         ``HalfNormal(scale)``
VonMises           ``VonMises(2π loc / P, κ)`` on the angle θ = 2π x / P, as a
                   periodic density in x (period P, π for PA): log p(x) =
                   log VonMises(θ) + log(2π / P); samples in [0, P)
=================  ===========================================================
"""

from __future__ import annotations

import math
from typing import Any

from ..errors import ParameterError
from .distributions import HalfNormal, LogNormal, Normal, Prior, TruncatedNormal, Uniform, VonMises

PPLS = ("numpyro", "pyro")


def ppl_module(ppl: str | Any) -> Any:
    """The PPL module for ``"numpyro"`` or ``"pyro"`` (a module is passed through)."""
    if not isinstance(ppl, str):
        return ppl
    if ppl == "numpyro":
        import numpyro

        return numpyro
    if ppl == "pyro":
        import pyro

        return pyro
    raise ParameterError(f"ppl must be one of {PPLS}, got {ppl!r}")


def ppl_name(ppl: str | Any) -> str:
    """``"numpyro"`` or ``"pyro"`` for a name or a module."""
    name = ppl if isinstance(ppl, str) else getattr(ppl, "__name__", "")
    if name not in PPLS:
        raise ParameterError(f"ppl must be one of {PPLS}, got {ppl!r}")
    return name


def _const(ppl: str, value: float) -> Any:
    if ppl == "numpyro":
        import jax.numpy as jnp

        return jnp.asarray(value, dtype=jnp.float64 if _x64() else jnp.float32)
    import torch

    return torch.tensor(value, dtype=torch.float64)


def _x64() -> bool:
    import jax

    return bool(jax.config.jax_enable_x64)


def _pyro_truncated_normal(loc: float, scale: float, low: float | None, high: float | None) -> Any:
    """A truncated normal for pyro, sampled by inverse CDF (torch has no built-in one)."""
    import torch
    from pyro.distributions import TorchDistribution, constraints

    class _TruncatedNormal(TorchDistribution):
        arg_constraints: dict[str, Any] = {}  # noqa: RUF012
        has_rsample = True

        def __init__(self) -> None:
            self.loc = torch.tensor(loc, dtype=torch.float64)
            self.scale = torch.tensor(scale, dtype=torch.float64)
            self.base = torch.distributions.Normal(self.loc, self.scale)
            self.low = -math.inf if low is None else low
            self.high = math.inf if high is None else high
            self.cdf_low = self.base.cdf(torch.tensor(self.low, dtype=torch.float64))
            self.cdf_high = self.base.cdf(torch.tensor(self.high, dtype=torch.float64))
            super().__init__(batch_shape=torch.Size(), event_shape=torch.Size(), validate_args=False)

        @property
        def support(self) -> Any:
            if low is None and high is None:
                return constraints.real
            if low is None:
                return constraints.less_than(high)
            if high is None:
                return constraints.greater_than(low)
            return constraints.interval(low, high)

        def rsample(self, sample_shape: Any = torch.Size()) -> Any:  # noqa: B008
            shape = self._extended_shape(sample_shape)
            p = torch.rand(shape, dtype=torch.float64)
            return self.base.icdf(self.cdf_low + p * (self.cdf_high - self.cdf_low))

        def log_prob(self, value: Any) -> Any:
            log_norm = torch.log(self.cdf_high - self.cdf_low)
            inside = (value >= self.low) & (value <= self.high)
            lp = self.base.log_prob(value) - log_norm
            return torch.where(inside, lp, torch.full_like(lp, -math.inf))

    return _TruncatedNormal()


def _periodic_von_mises(name: str, prior: VonMises) -> Any:
    """The PPL's von Mises on the angle θ = 2π x / P, seen as a density in x of period P.

    log p(x) = log VonMises(θ(x) wrapped to [−π, π) | 2π loc / P, κ) + log(2π / P);
    the support is the real line (the density is periodic) and samples lie in [0, P).
    """
    scale = 2.0 * math.pi / prior.period

    def wrap(theta: Any) -> Any:
        return theta - 2.0 * math.pi * ((theta + math.pi) // (2.0 * math.pi))

    if name == "numpyro":
        import jax.numpy as jnp
        import numpyro.distributions as dist

        class PeriodicVonMises(dist.VonMises):
            support = dist.constraints.real

            def log_prob(self, value: Any) -> Any:
                return super().log_prob(wrap(scale * value)) + math.log(scale)

            def sample(self, key: Any, sample_shape: tuple[int, ...] = ()) -> Any:
                theta = super().sample(key, sample_shape)
                return jnp.mod(theta / scale, prior.period)

        return PeriodicVonMises(_const(name, prior.loc * scale), _const(name, max(prior.concentration, 1e-12)))

    import pyro.distributions as dist
    import torch

    class PyroPeriodicVonMises(dist.VonMises):
        support = dist.constraints.real

        def log_prob(self, value: Any) -> Any:
            return super().log_prob(wrap(scale * value)) + math.log(scale)

        def sample(self, sample_shape: Any = torch.Size()) -> Any:  # noqa: B008
            return torch.remainder(super().sample(sample_shape) / scale, prior.period)

    return PyroPeriodicVonMises(_const(name, prior.loc * scale), _const(name, max(prior.concentration, 1e-12)))


def to_ppl(prior: Prior, ppl: str | Any = "numpyro") -> Any:
    """The numpyro or pyro distribution equal to ``prior``.

    Parameters
    ----------
    prior : Prior
    ppl : {"numpyro", "pyro"} or the module itself

    Returns
    -------
    distribution
        ``log_prob`` agrees with ``prior.log_prob`` on the support (summed
        over elements there, per element here).
    """
    name = ppl_name(ppl)
    if name == "numpyro":
        import numpyro.distributions as dist
    else:
        import pyro.distributions as dist
    c = lambda v: _const(name, float(v))
    if isinstance(prior, Uniform):
        return dist.Uniform(c(prior.low), c(prior.high))
    if isinstance(prior, TruncatedNormal):
        if name == "numpyro":
            return dist.TruncatedNormal(c(prior.loc), c(prior.scale), low=prior.low, high=prior.high)
        return _pyro_truncated_normal(prior.loc, prior.scale, prior.low, prior.high)
    if isinstance(prior, Normal):
        return dist.Normal(c(prior.loc), c(prior.scale))
    if isinstance(prior, LogNormal):
        return dist.LogNormal(c(prior.loc), c(prior.scale))
    if isinstance(prior, HalfNormal):
        return dist.HalfNormal(c(prior.scale))
    if isinstance(prior, VonMises):
        return _periodic_von_mises(name, prior)
    raise ParameterError(f"no {name} distribution for prior {type(prior).__name__}")


__all__ = ["PPLS", "ppl_module", "ppl_name", "to_ppl"]
