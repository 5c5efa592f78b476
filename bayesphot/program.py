"""A (group) model as a log-density over its free parameters.

:class:`FreeParameters` maps the model's free parameters to one flat vector in
the unconstrained space (and back); :class:`Program` adds the data: weighted
residuals and the Gaussian or Poisson (Cash) log-likelihood over the unmasked
pixels of the model's window, plus the priors.  Fitting (``bp.fit``) minimises
``map_objective`` (−log posterior in parameter space); sampling (``bp.infer``)
uses ``log_density`` (the same plus the log-Jacobian of the transforms).  All
functions are pure in the vector, so they can be jitted and differentiated on
either backend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from . import backend
from .backend import Array, namespace
from .errors import FitError, ModelError
from .models.base import Model
from .params import Parameter

LIKELIHOODS = ("gaussian", "poisson")


class FreeParameters:
    """The model's free (not fixed) parameters as one unconstrained vector.

    Parameters
    ----------
    model : Model
        Every free parameter must have a value (call ``initialize()`` first).
    """

    def __init__(self, model: Model) -> None:
        self.entries: list[tuple[str, Parameter]] = [
            (name, param) for name, param in model.parameters.items() if not param.fixed
        ]
        missing = [name for name, param in self.entries if param.value is None]
        if missing:
            raise ModelError(f"parameters without a value: {', '.join(missing)} (call initialize())")
        if not self.entries:
            raise ModelError(f"model {model.name!r} has no free parameters")
        self.shapes = [param.shape for _, param in self.entries]
        sizes = [int(np.prod(shape)) if shape else 1 for shape in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.entries]

    @property
    def size(self) -> int:
        return int(self.offsets[-1])

    def labels(self) -> list[str]:
        """One label per vector element: ``"gal:n"`` or ``"gal:logI[3]"``."""
        out = []
        for (name, _), shape in zip(self.entries, self.shapes):
            out += [name] if not shape else [f"{name}[{i}]" for i in range(int(np.prod(shape)))]
        return out

    def _pieces(self, u: Array) -> list[Array]:
        xp = namespace(u)
        return [
            xp.reshape(u[int(a):int(b)], shape)
            for a, b, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes)
        ]

    def unconstrained(self) -> np.ndarray:
        """Current values as an unconstrained numpy vector."""
        parts = [np.ravel(param.transform.inverse(param.interior_value())) for _, param in self.entries]
        return np.concatenate(parts).astype(np.float64)

    def values(self, u: Array) -> dict[str, Array]:
        """Parameter name → constrained value for an unconstrained vector ``u``."""
        return {name: param.transform.forward(piece) for (name, param), piece in zip(self.entries, self._pieces(u))}

    def log_abs_det_jacobian(self, u: Array) -> Array:
        """Σ log |dx/du| over all elements (the change-of-variables term for sampling)."""
        total = 0.0
        for (_, param), piece in zip(self.entries, self._pieces(u)):
            total = total + param.transform.log_abs_det_jacobian(piece)
        return total

    def derivative(self, u: np.ndarray) -> np.ndarray:
        """dx/du per element (numpy), to carry covariances to parameter space."""
        parts = [
            np.ravel(backend.to_numpy(param.transform.derivative(piece)))
            for (_, param), piece in zip(self.entries, self._pieces(np.asarray(u, dtype=np.float64)))
        ]
        return np.concatenate(parts)

    def assign(self, u: np.ndarray, sigma: np.ndarray | None = None) -> None:
        """Store the constrained values of ``u`` (and 1σ per element) in the parameters."""
        values = self.values(np.asarray(u, dtype=np.float64))
        for (name, param), a, b in zip(self.entries, self.offsets[:-1], self.offsets[1:]):
            param.value = np.asarray(values[name])
            if sigma is not None:
                param.uncertainty = np.reshape(sigma[int(a):int(b)], param.shape)


class Program:
    """The log-posterior of a model given its target image.

    Parameters
    ----------
    model : Model
        A component or group model with a target; its free parameters must be set.
    likelihood : {"gaussian", "poisson"}
        Gaussian with the target's variance, or Poisson (Cash 1979) for images
        in counts (model and data in counts per pixel; variance unused).
    """

    def __init__(self, model: Model, likelihood: str = "gaussian") -> None:
        if likelihood not in LIKELIHOODS:
            raise FitError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.model = model
        self.likelihood = likelihood
        self.free = FreeParameters(model)
        target = model.target
        window = model.window
        self.window = window
        self.good = ~model.fit_mask
        if not self.good.any():
            raise FitError(f"model {model.name!r} has no unmasked pixel in its window")
        self.data = np.where(self.good, target.data[window.slices], 0.0)
        variance = target.variance[window.slices]
        self.sqrt_weight = np.where(self.good, 1.0 / np.sqrt(np.where(self.good, variance, 1.0)), 0.0)
        self.n_pixels = int(self.good.sum())
        if likelihood == "gaussian":
            self._log_norm = -0.5 * float(np.sum(np.log(2.0 * math.pi * variance[self.good])))
        else:
            from scipy.special import gammaln

            if np.any(self.data[self.good] < 0):
                raise FitError("a Poisson likelihood needs non-negative data (counts)")
            self._log_norm = -float(np.sum(gammaln(self.data[self.good] + 1.0)))

    # ----------------------------------------------------------- constants
    @property
    def ndf(self) -> int:
        """Degrees of freedom: unmasked pixels minus free parameters."""
        return max(self.n_pixels - self.free.size, 1)

    def _arrays(self) -> dict[str, Array]:
        """Data constants on the current backend (not cached: under JIT they become
        trace-time constants, and a cache filled while tracing would leak tracers)."""
        be = backend.current()
        return {
            "data": be.asarray(self.data),
            "sqrt_weight": be.asarray(self.sqrt_weight),
            "good": be.asarray(self.good.astype(np.float64)),
        }

    # ----------------------------------------------------------- functions
    def model_image(self, u: Array) -> Array:
        """Model pixels on the window for unconstrained vector ``u``."""
        return self.model.sample_image(self.free.values(u))

    def residuals(self, u: Array) -> Array:
        """Flattened (data − model)/σ, zero at masked pixels (Gaussian likelihood)."""
        xp = namespace(u)
        arrays = self._arrays()
        return xp.reshape((arrays["data"] - self.model_image(u)) * arrays["sqrt_weight"], (-1,))

    def chi2(self, u: Array) -> Array:
        r = self.residuals(u)
        return (r * r).sum()

    def log_likelihood(self, u: Array) -> Array:
        """log p(data | θ) including its normalisation."""
        xp = namespace(u)
        if self.likelihood == "gaussian":
            return -0.5 * self.chi2(u) + self._log_norm
        arrays = self._arrays()
        mu = self.model_image(u)
        good = arrays["good"]
        safe_mu = xp.where(good > 0, mu, xp.ones_like(mu))
        return xp.sum(good * (arrays["data"] * xp.log(safe_mu) - safe_mu)) + self._log_norm

    def log_prior(self, u: Array) -> Array:
        """Σ log p(θ) over free parameters with a prior (no prior = flat within limits)."""
        values = self.free.values(u)
        total = 0.0
        for name, param in self.free.entries:
            if param.prior is not None:
                total = total + param.prior.log_prob(values[name])
        return total

    def map_objective(self, u: Array) -> Array:
        """−log posterior in parameter space (what the MAP fit minimises)."""
        return -(self.log_likelihood(u) + self.log_prior(u))

    def log_density(self, u: Array) -> Array:
        """Log posterior density of the unconstrained vector (adds the log-Jacobian)."""
        return self.log_likelihood(u) + self.log_prior(u) + self.free.log_abs_det_jacobian(u)

    def log_posterior(self, values: Mapping[str, Any]) -> float:
        """log p(θ | data) up to a constant, for named constrained values (numpy floats)."""
        u = np.concatenate([
            np.ravel(param.transform.inverse(np.asarray(values[name], dtype=np.float64)))
            for name, param in self.free.entries
        ])
        be = backend.current()
        return float(backend.to_numpy(self.log_likelihood(be.asarray(u)) + self.log_prior(be.asarray(u))))
