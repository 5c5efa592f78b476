"""A (group) model as a log-density over its free parameters, and as a probabilistic program.

:class:`FreeParameters` maps the model's free parameters to one flat vector in
the unconstrained space (and back); :class:`Program` adds the data: weighted
residuals and the Gaussian or Poisson (Cash) log-likelihood over the unmasked
pixels of the model's window, plus the priors.  Fitting (``bp.fit``) minimises
``map_objective`` (−log posterior in parameter space); sampling (``bp.infer``)
uses ``log_density`` (the same plus the log-Jacobian of the transforms).  All
functions are pure in the vector, so they can be jitted and differentiated on
either backend.

The probabilistic program
-------------------------
:meth:`Program.ppl_model` is the same density written as a numpyro or pyro model
(the PPL module is passed in; both share ``sample``, ``factor``,
``deterministic``, ``plate`` and the distribution names used):

* one ``sample`` site per free parameter, named ``"child:param"``, holding the
  *constrained* value, with an ``ImproperUniform`` distribution whose support
  is the parameter's effective support, its limits intersected with its
  prior's support (``interval``, ``greater_than``, ``less_than`` or
  ``real``; cyclic parameters are ``real`` and wrapped into their period inside
  the program).  Tied parameters have no site: they are computed from their
  sources (a shared bulge/disk centre is one site).  The PPL maps each site to the unconstrained space with its
  own bijection (``biject_to(support)``: affine∘sigmoid, shifted exp, …), which
  is exactly :class:`~bayesphot.params.Transform`, and adds its log-Jacobian;
* one ``factor`` site ``"child:param:prior"`` per parameter with a prior,
  equal to ``Prior.log_prob`` of the (wrapped) value;
* one likelihood site ``"obs"`` inside the plate ``"pixels"`` over the
  unmasked pixels: ``Normal(model, σ)`` or ``Poisson(model)``;
* ``deterministic`` sites for derived quantities (``"child:flux"`` total flux of
  each source; ``"child:mag"`` when the target has a zero-point).

Hence the PPL's potential energy at the unconstrained point ``u`` equals
``-Program.log_density(u)`` up to a constant (tested for both PPLs), and
``log_density`` is ``-map_objective`` plus ``FreeParameters.log_abs_det_jacobian``.
The samplers in :mod:`bayesphot.infer` use ``-log_density`` directly as the
potential on the flat vector ``u`` (the same number, without the PPL's tracing
overhead), which makes the Laplace mass matrix a plain k × k array.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import backend
from .backend import Array, namespace
from .errors import FitError, ModelError, ParameterError
from .models.base import Model
from .params import Parameter, Transform
from .priors.distributions import Prior

LIKELIHOODS = ("gaussian", "poisson")


class FreeParameters:
    """The model's free parameters as one unconstrained vector, and its tied parameters as functions of it.

    A parameter is *free* when it is neither fixed nor tied.  Each free
    parameter maps to its elements of the vector through the transform onto
    its effective support (limits ∩ prior support, see
    :meth:`~bayesphot.params.Parameter.bounds`).  A *tied* parameter has no
    element: :meth:`values` computes it from its sources, so a shared centre
    is one element, one sample site.

    Parameters
    ----------
    model : Model
        Every free parameter must have a value (call ``initialize()`` first).
    priors : mapping, optional
        ``{"child:param": Prior}`` overriding the parameters' own priors (their
        supports bind the transforms in the same way).
    inputs : bool
        Accept ties to parameters outside ``model`` by taking the tied values
        as extra elements at the end of the vector (identity transform; used
        by the per-sub-model Jacobian engines of :mod:`bayesphot.fit`).  Without
        it such a tie is a :class:`~bayesphot.errors.ModelError`.
    """

    def __init__(self, model: Model, priors: Mapping[str, Any] | None = None, inputs: bool = False) -> None:
        params = dict(model.parameters)  # a group checks here that no object appears twice
        self.parameters = params
        priors = dict(priors or {})
        names_by_id = {id(p): name for name, p in params.items()}
        self.entries: list[tuple[str, Parameter]] = []
        self.transforms: list[Transform] = []
        for name, param in params.items():
            if param.is_free:
                self.entries.append((name, param))
                self.transforms.append(param.transform_for(priors.get(name, param.prior)))
        missing = [name for name, param in self.entries if param.value is None]
        if missing:
            raise ModelError(f"parameters without a value: {', '.join(missing)} (call initialize())")
        for (name, param), tr in zip(self.entries, self.transforms, strict=True):
            _check_support(name, param.value, tr)
        # tied parameters, in an order where every source comes before its followers
        self.tied: list[tuple[str, Parameter, list[str]]] = []
        self.inputs: list[str] = []
        available = {name for name, p in params.items() if not p.tied}
        pending = [(name, p) for name, p in params.items() if p.tied]
        for name, param in pending:
            outside = [s for s in param.tie_spec.sources if id(s) not in names_by_id]
            if outside and not inputs:
                raise ModelError(f"{name} is tied to a parameter outside model {model.name!r} "
                                 f"({', '.join(s.name for s in outside)}); fit a group that contains both")
            if outside:
                if param.value is None:
                    raise ModelError(f"tied parameter {name} has no value: its sources are unset")
                self.entries.append((name, param))
                self.transforms.append(Transform())
                self.inputs.append(name)
                available.add(name)
        pending = [(name, p) for name, p in pending if name not in available]
        while pending:
            progress = False
            for name, param in list(pending):
                sources = [names_by_id[id(s)] for s in param.tie_spec.sources]
                if all(src in available for src in sources):
                    self.tied.append((name, param, sources))
                    available.add(name)
                    pending.remove((name, param))
                    progress = True
            if not progress:  # pragma: no cover - Parameter.tie refuses cycles
                raise ModelError(f"circular ties among {', '.join(n for n, _ in pending)}")
        if not self.entries and not inputs:
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

    @property
    def own_size(self) -> int:
        """Elements of the free parameters (the vector without its input elements)."""
        return int(sum(int(np.prod(shape)) if shape else 1
                       for (name, _), shape in zip(self.entries, self.shapes, strict=True) if name not in self.inputs))

    def structure(self) -> tuple[Any, ...]:
        """What a compiled function of the vector depends on besides values (for caches)."""
        return (
            tuple((name, shape, tr) for (name, _), shape, tr in zip(self.entries, self.shapes, self.transforms,
                                                                    strict=True)),
            tuple(self.inputs),
            tuple((name, tuple(sources), param.tie_spec.key()) for name, param, sources in self.tied),
        )

    @property
    def tied_names(self) -> list[str]:
        """Tied parameters computed from the vector (not elements of it)."""
        return [name for name, _, _ in self.tied]

    def labels(self) -> list[str]:
        """One label per vector element: ``"gal:n"`` or ``"gal:logI[3]"``."""
        out = []
        for (name, _), shape in zip(self.entries, self.shapes, strict=True):
            out += [name] if not shape else [f"{name}[{i}]" for i in range(int(np.prod(shape)))]
        return out

    def _pieces(self, u: Array) -> list[Array]:
        xp = namespace(u)
        return [
            xp.reshape(u[int(a):int(b)], shape)
            for a, b, shape in zip(self.offsets[:-1], self.offsets[1:], self.shapes, strict=True)
        ]

    def unconstrained(self) -> np.ndarray:
        """Current values as an unconstrained numpy vector."""
        parts = []
        for (name, param), tr in zip(self.entries, self.transforms, strict=True):
            value = param.value if name in self.inputs else tr.interior(param.value)
            parts.append(np.ravel(tr.inverse(np.asarray(value, dtype=np.float64))))
        return np.concatenate(parts).astype(np.float64)

    def values(self, u: Array, fixed: Mapping[str, Array] | None = None) -> dict[str, Array]:
        """Parameter name → constrained value for an unconstrained vector ``u``, tied parameters included.

        ``fixed`` supplies values of fixed parameters that ties read
        (default: their stored values).
        """
        pieces = self._pieces(u)
        out = {name: tr.forward(piece)
               for (name, _), tr, piece in zip(self.entries, self.transforms, pieces, strict=True)}
        if self.tied:
            be = backend.current()
            for name, param, sources in self.tied:
                args = [out[src] if src in out else
                        (fixed[src] if fixed is not None and src in fixed else be.asarray(self.parameters[src].value))
                        for src in sources]
                out[name] = param.tie_spec.evaluate(args)
        return out

    def log_abs_det_jacobian(self, u: Array) -> Array:
        """Σ log |dx/du| over all elements (the change-of-variables term for sampling)."""
        total = 0.0
        for tr, piece in zip(self.transforms, self._pieces(u), strict=True):
            total = total + tr.log_abs_det_jacobian(piece)
        return total

    def derivative(self, u: np.ndarray) -> np.ndarray:
        """dx/du per element (numpy), to carry covariances to parameter space."""
        parts = [
            np.ravel(backend.to_numpy(tr.derivative(piece)))
            for tr, piece in zip(self.transforms, self._pieces(np.asarray(u, dtype=np.float64)), strict=True)
        ]
        return np.concatenate(parts)

    def assign(self, u: np.ndarray, sigma: np.ndarray | None = None,
               covariance_unconstrained: np.ndarray | None = None) -> None:
        """Store the constrained values of ``u`` (and 1σ per element) in the parameters.

        Tied parameters follow their sources; with ``covariance_unconstrained``
        those tied by a function get their 1σ by the delta method (affine ties
        scale their source's σ).  A tie that drives its parameter outside the
        parameter's limits raises a :class:`~bayesphot.errors.ParameterError`.
        """
        values = self.values(np.asarray(u, dtype=np.float64))
        for (name, param), a, b in zip(self.entries, self.offsets[:-1], self.offsets[1:], strict=True):
            if name in self.inputs:
                continue
            param.value = np.asarray(values[name])
            if sigma is not None:
                param.uncertainty = np.reshape(sigma[int(a):int(b)], param.shape)
        for _, param, _ in self.tied:
            value = param.value
            if value is not None:
                param._check_inside(value, f"{value.tolist()} (from its tie)")
        by_function = [(name, param) for name, param, _ in self.tied if not param.tie_spec.affine]
        if covariance_unconstrained is not None and by_function:
            be = backend.current()

            def tied_vector(uu: Array) -> Array:
                xp = namespace(uu)
                vals = self.values(uu)
                return xp.concat([xp.reshape(xp.asarray(vals[name]) + 0.0 * uu[0], (-1,)) for name, _ in by_function])

            jac = backend.to_numpy(be.jacfwd(tied_vector)(be.asarray(np.asarray(u, dtype=np.float64))))
            jac = np.reshape(jac, (-1, self.size))
            var = np.einsum("ij,jk,ik->i", jac, np.asarray(covariance_unconstrained), jac)
            i = 0
            for _, param in by_function:
                size = param.size
                param.uncertainty = np.reshape(np.sqrt(np.clip(var[i:i + size], 0.0, None)), param.shape)
                i += size


def _check_support(name: str, value: np.ndarray, tr: Transform) -> None:
    """A start value outside the effective support (limits ∩ prior support) is an error."""
    if tr.cyclic:
        return
    if (tr.lower is not None and np.any(value < tr.lower)) or (tr.upper is not None and np.any(value > tr.upper)):
        raise ParameterError(
            f"{name}: value {np.asarray(value).tolist()} lies outside its support [{tr.lower}, {tr.upper}] "
            "(its limits intersected with its prior's support): the prior density there is zero"
        )


class Program:
    """The log-posterior of a model given its target image.

    Parameters
    ----------
    model : Model
        A component or group model with a target; its free parameters must be set.
    likelihood : {"gaussian", "poisson"}
        Gaussian with the target's variance, or Poisson (Cash 1979) for images
        in counts (model and data in counts per pixel; variance unused).
    priors : mapping, optional
        ``{"child:param": Prior}`` used instead of the parameters' own
        ``prior`` (the samplers pass the default priors of
        :mod:`bayesphot.models.defaults` here for parameters without one).
        A free parameter with no prior either way is flat within its limits.
    """

    def __init__(self, model: Model, likelihood: str = "gaussian",
                 priors: Mapping[str, Any] | None = None) -> None:
        if likelihood not in LIKELIHOODS:
            raise FitError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
        self.model = model
        self.likelihood = likelihood
        for name, prior in (priors or {}).items():
            if prior is not None and not isinstance(prior, Prior):
                raise FitError(f"the prior given for {name} is not a bayesphot Prior: {prior!r}")
        self.free = FreeParameters(model, priors)
        unknown = sorted(set(priors or {}) - set(self.free.names))
        if unknown:
            raise FitError(f"priors given for parameters that are not free: {', '.join(unknown)}")
        self.priors: dict[str, Any] = {
            name: (priors or {}).get(name, param.prior) for name, param in self.free.entries
        }
        target = model.target
        window = model.window
        self.window = window
        self.good = ~model.fit_mask
        if not self.good.any():
            raise FitError(f"model {model.name!r} has no unmasked pixel in its window")
        model.check_pixels()
        self.data = np.where(self.good, target.data[window.slices], 0.0)
        variance = target.variance[window.slices]
        self.sqrt_weight = np.where(self.good, 1.0 / np.sqrt(np.where(self.good, variance, 1.0)), 0.0)
        self.n_pixels = int(self.good.sum())
        self.pixel_index = np.flatnonzero(self.good.ravel())
        self.sigma_pixels = np.sqrt(variance[self.good]) if likelihood == "gaussian" else None
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

    def pointwise_log_likelihood(self, u: Array) -> Array:
        """log p(d_i | θ) per unmasked pixel (a vector of ``n_pixels``, in ``pixel_index`` order)."""
        xp = namespace(u)
        be = backend.current()
        idx = be.asarray(self.pixel_index, dtype=be.lib.int64)
        mu = xp.take(xp.reshape(self.model_image(u), (-1,)), idx, axis=0)
        data = be.asarray(self.data.ravel()[self.pixel_index])
        if self.likelihood == "gaussian":
            sigma = be.asarray(self.sigma_pixels)
            z = (data - mu) / sigma
            return -0.5 * z * z - xp.log(sigma) - 0.5 * math.log(2.0 * math.pi)
        return data * xp.log(mu) - mu - backend.gammaln(data + 1.0)

    def log_prior(self, u: Array) -> Array:
        """Σ log p(θ) over free parameters with a prior (no prior = flat within limits)."""
        values = self.free.values(u)
        total = 0.0
        for name, _ in self.free.entries:
            prior = self.priors[name]
            if prior is not None:
                total = total + prior.log_prob(values[name])
        return total

    def log_prior_and_jacobian(self, u: Array) -> Array:
        """log p(θ) + log |dθ/du|: the part of ``log_density`` that needs no rendering."""
        return self.log_prior(u) + self.free.log_abs_det_jacobian(u)

    def draw_summary(self, u: Array) -> tuple[dict[str, Array], Array]:
        """(:meth:`derived`, :meth:`log_prior_and_jacobian`) at ``u``: one traced function per draw."""
        return self.derived(u), self.log_prior_and_jacobian(u)

    def draw_summary_pointwise(self, u: Array) -> tuple[dict[str, Array], Array]:
        """(:meth:`derived`, :meth:`pointwise_log_likelihood`) at ``u``: one traced function per draw."""
        return self.derived(u), self.pointwise_log_likelihood(u)

    def map_objective(self, u: Array) -> Array:
        """−log posterior in parameter space (what the MAP fit minimises)."""
        return -(self.log_likelihood(u) + self.log_prior(u))

    def log_density(self, u: Array) -> Array:
        """Log posterior density of the unconstrained vector (adds the log-Jacobian)."""
        return self.log_likelihood(u) + self.log_prior(u) + self.free.log_abs_det_jacobian(u)

    def log_posterior(self, values: Mapping[str, Any]) -> float:
        """log p(θ | data) up to a constant, for named constrained values (numpy floats)."""
        u = np.concatenate([
            np.ravel(tr.inverse(np.asarray(values[name], dtype=np.float64)))
            for (name, _), tr in zip(self.free.entries, self.free.transforms, strict=True)
        ])
        be = backend.current()
        return float(backend.to_numpy(self.log_likelihood(be.asarray(u)) + self.log_prior(be.asarray(u))))

    def to_unconstrained(self, values: Mapping[str, Any]) -> np.ndarray:
        """Unconstrained numpy vector for named constrained values (missing names: current values)."""
        parts = []
        for (name, param), tr in zip(self.free.entries, self.free.transforms, strict=True):
            value = values[name] if name in values else tr.interior(param.value)
            parts.append(np.ravel(tr.inverse(np.asarray(value, dtype=np.float64))))
        return np.concatenate(parts).astype(np.float64)

    # ------------------------------------------------------ compiled forms
    def lower(self, function: str = "log_density") -> Any:
        """One of this program's functions of ``u`` traced for JAX, keyed by structure.

        Parameters
        ----------
        function : str
            Name of a method of ``u`` (``"log_density"``, ``"map_objective"``,
            ``"pointwise_log_likelihood"``, ``"derived"``, ``"log_likelihood"``, …).

        Returns
        -------
        :class:`bayesphot.structure.Lowered`
            ``lowered(u)`` evaluates it; programs of the same structure (model
            types, shapes, which parameters are free, dtype) share ``lowered.key``
            and hence compiled code (:func:`bayesphot.structure.compiled`).
        """
        from . import structure

        cache = self.__dict__.setdefault("_lowered", {})
        current = backend.current()
        device = current.device if current.name == "jax" else None
        key = (function, device, current.dtype)
        if key not in cache:
            with backend.using("jax", device=device, dtype=current.dtype) as be:
                example = be.asarray(self.free.unconstrained())
                cache[key] = structure.lower(getattr(self, function), example)
        return cache[key]

    # ------------------------------------------------------ derived values
    def derived(self, u: Array) -> dict[str, Array]:
        """Derived quantities at ``u``: ``"child:flux"`` (total flux) and ``"child:mag"``.

        Total fluxes are analytic and untruncated: Sérsic 2π q Re² Ie eᵇ n b^(−2n) Γ(2n)
        (Graham & Driver 2005, PASA 22, 118, eq. 4 times q), exponential the same with
        n = 1, Moffat π q Rd² I0 / (β − 1) (β > 1), Gaussian and point source ``flux``.
        Magnitudes are ``zeropoint − 2.5 log10(flux)`` when the target has a zero-point.
        """
        from .models.defaults import leaf_parameters
        from .models.galaxy import ExponentialGalaxy, GaussianGalaxy, MoffatGalaxy, SersicGalaxy
        from .models.point import PointSource
        from .profiles.sersic import b_n

        xp = namespace(u)
        be = backend.current()
        values = self.free.values(u)
        components: dict[str, tuple[Model, dict[str, Array]]] = {}
        for full, component, local, param in leaf_parameters(self.model):
            prefix = full[: len(full) - len(local)]
            entry = components.setdefault(prefix, (component, {}))
            entry[1][local] = values[full] if full in values else be.asarray(param.value)
        out: dict[str, Array] = {}
        zeropoint = self.model.target.zeropoint
        for prefix, (component, p) in components.items():
            flux = None
            if isinstance(component, (SersicGalaxy, ExponentialGalaxy)):
                n = p["n"] if "n" in p else xp.ones_like(p["Re"])
                b = b_n(n)
                log_flux = (xp.log(2.0 * math.pi * p["q"] * p["Re"] ** 2 * p["Ie"] * n) + b
                            - 2.0 * n * xp.log(b) + backend.gammaln(2.0 * n))
                flux = xp.exp(log_flux)
            elif isinstance(component, MoffatGalaxy):
                flux = math.pi * p["q"] * p["Rd"] ** 2 * p["I0"] / (p["n"] - 1.0)
            elif isinstance(component, (GaussianGalaxy, PointSource)):
                flux = p["flux"]
            if flux is None:
                continue
            if prefix + "flux" not in self.free.names:  # a free "flux" parameter is a sample site already
                out[prefix + "flux"] = flux
            if zeropoint is not None:
                out[prefix + "mag"] = zeropoint - 2.5 * xp.log10(flux)
        return out

    # ------------------------------------------------ probabilistic program
    def ppl_model(self, ppl: Any) -> None:
        """The probabilistic program (see the module docstring); ``ppl`` is ``numpyro`` or ``pyro``.

        Use it as any PPL model, e.g.
        ``numpyro.infer.NUTS(functools.partial(program.ppl_model, numpyro))``.
        Array work runs on the backend matching the PPL (JAX for numpyro,
        torch for pyro), set for the duration of the call.
        """
        from .priors.ppl import ppl_module, ppl_name

        name = ppl_name(ppl)
        ppl = ppl_module(ppl)
        current = backend.current()
        wanted = "jax" if name == "numpyro" else "torch"
        if current.name == wanted:
            self._model_body(ppl)
        else:
            with backend.using(wanted, device=current.device, dtype=current.dtype):
                self._model_body(ppl)

    def _model_body(self, ppl: Any) -> None:
        dist = ppl.distributions
        constraints = dist.constraints
        be = backend.current()
        pieces = []
        for (name, param), tr in zip(self.free.entries, self.free.transforms, strict=True):
            lower, upper = tr.lower, tr.upper  # the effective support: limits ∩ prior support
            if tr.cyclic or (lower is None and upper is None):
                support = constraints.real
            elif lower is not None and upper is not None:
                support = constraints.interval(lower, upper)
            elif lower is not None:
                support = constraints.greater_than(lower)
            else:
                support = constraints.less_than(upper)
            fn = _flat_site(ppl, support, tuple(param.shape), tr.interior(param.value))
            x = be.asarray(ppl.sample(name, fn))
            # the same point as an unconstrained vector of FreeParameters (cyclic: wrapped by forward)
            pieces.append(xp_ravel(x) if tr.cyclic else xp_ravel(tr.inverse(x)))
            prior = self.priors[name]
            if prior is not None:
                ppl.factor(name + ":prior", prior.log_prob(tr.forward(x) if tr.cyclic else x))
        xp = be.xp
        u = xp.concat(pieces) if len(pieces) > 1 else pieces[0]
        for key, value in self.derived(u).items():
            ppl.deterministic(key, value)
        idx = be.asarray(self.pixel_index, dtype=be.lib.int64)
        mu = xp.take(xp.reshape(self.model_image(u), (-1,)), idx, axis=0)
        data = be.asarray(self.data.ravel()[self.pixel_index])
        with ppl.plate("pixels", self.n_pixels):
            if self.likelihood == "gaussian":
                ppl.sample("obs", dist.Normal(mu, be.asarray(self.sigma_pixels)), obs=data)
            else:
                ppl.sample("obs", dist.Poisson(mu, validate_args=False), obs=data)


_FLAT_CLASSES: dict[str, type] = {}


def _flat_site(ppl: Any, support: Any, shape: tuple[int, ...], value: np.ndarray) -> Any:
    """``ImproperUniform(support)`` whose ``sample`` returns ``value`` (the current parameter).

    The density is flat on the support, as ImproperUniform's; the sample is
    only what plain (non-inference) runs of the program and the PPLs' model
    inspection see, so that they need no initialisation strategy.
    """
    name = ppl.__name__
    if name not in _FLAT_CLASSES:
        base = ppl.distributions.ImproperUniform
        if name == "numpyro":
            import jax.numpy as jnp

            def sample(self: Any, key: Any, sample_shape: tuple[int, ...] = ()) -> Any:
                return jnp.broadcast_to(jnp.asarray(self.value), tuple(sample_shape) + self.shape())
        else:
            import torch

            def sample(self: Any, sample_shape: Any = ()) -> Any:
                value = torch.as_tensor(self.value, dtype=torch.get_default_dtype())
                return value.expand(torch.Size(sample_shape) + self.shape())

        _FLAT_CLASSES[name] = type("FlatAtValue", (base,), {"sample": sample})
    fn = _FLAT_CLASSES[name](support, (), shape)
    fn.value = np.asarray(value, dtype=np.float64)
    return fn


def xp_ravel(x: Array) -> Array:
    """``x`` as a 1-D array (scalars become length 1)."""
    xp = namespace(x)
    return xp.reshape(x, (-1,))
