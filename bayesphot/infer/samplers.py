"""``bp.infer.NUTS`` and ``bp.infer.HMC``: MAP-initialised samplers on numpyro or pyro.

Both sample the flat unconstrained vector of :class:`~bayesphot.program.FreeParameters`
with potential ``−Program.log_density`` (priors and log-Jacobian included; the
same density as the PPL program :meth:`~bayesphot.program.Program.ppl_model`).
They start at the MAP (fitting first when the model has not been fitted), use
the Laplace covariance there as a dense inverse mass matrix, and by default
keep it fixed, so that warm-up only tunes the step size.

Examples
--------
>>> post = bp.infer.NUTS(group, chains=4, warmup=500, draws=1000).run()
>>> post.summary()
>>> print(group["gal:PA"])     # posterior mean ± sd
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .. import backend
from ..backend import current as current_backend
from ..errors import FitError, SamplingTimeLimitError
from ..models.base import Model
from ..models.defaults import default_priors
from ..models.resolution import quadrature_issues
from ..priors.distributions import Prior
from ..program import Program
from .labels import relabel_mode
from .posterior import Posterior, circular_mean, diagnose, from_dict_compat, unwrap_about
from .settings import SamplerSettings
from .start import SamplingWarning, Start, interval_coordinates, prepare, start_at_mode, start_points

BACKENDS = ("numpyro", "pyro")
#: warm-up length used when the start's curvature is not trusted and the mass matrix must be adapted
ADAPT_MIN_WARMUP = 400


class _Sampler:
    kernel = "nuts"

    def __init__(
        self,
        model: Model | Sequence[Model],
        *,
        backend: str | None = None,
        chains: int = 4,
        warmup: int = 500,
        draws: int = 1000,
        seed: int = 0,
        device: str | None = None,
        dense_mass: bool = True,
        adapt_mass_matrix: bool = False,
        likelihood: str = "gaussian",
        priors: str | Mapping[str, Prior] | None = "default",
        fit: str | bool = "auto",
        target_accept: float = 0.8,
        max_tree_depth: int = 10,
        trajectory_length: float | None = None,
        num_steps: int | None = None,
        init_scatter: float = 0.5,
        disperse: bool = True,
        progress: bool = True,
        min_ess: float | None = None,
        pointwise_limit: int = 10_000_000,
        write_back: bool = True,
        time_limit: float | None = None,
    ) -> None:
        if backend is None:
            # follow the array backend in force: pyro for torch, numpyro for JAX (and its device)
            active = current_backend()
            backend = "pyro" if active.name == "torch" else "numpyro"
            if device is None:
                device = active.device
        if backend not in BACKENDS:
            raise FitError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if chains < 1 or draws < 1 or warmup < 0:
            raise FitError(f"need chains ≥ 1, draws ≥ 1, warmup ≥ 0 (got {chains}, {draws}, {warmup})")
        if time_limit is not None:
            if not time_limit > 0:
                raise FitError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
            if backend != "numpyro" or isinstance(model, list | tuple):
                raise FitError("time_limit is supported for one model on the numpyro backend")
        if device not in (None, "auto", "cpu") and not str(device).startswith("cuda"):
            raise FitError(f"device must be 'cpu', 'cuda' or None (auto), got {device!r}")
        self.model = model
        self.backend = backend
        self.chains = int(chains)
        self.warmup = int(warmup)
        self.draws = int(draws)
        self.seed = int(seed)
        self.device = None if device in (None, "auto") else str(device)
        self.dense_mass = bool(dense_mass)
        self.adapt_mass_matrix = bool(adapt_mass_matrix)
        self.likelihood = likelihood
        self.priors_option = priors
        self.fit = fit
        self.target_accept = float(target_accept)
        self.max_tree_depth = int(max_tree_depth)
        self.trajectory_length = trajectory_length
        self.num_steps = num_steps
        self.init_scatter = float(init_scatter)
        self.disperse = bool(disperse)
        self.progress = bool(progress)
        self.min_ess = min_ess
        self.pointwise_limit = int(pointwise_limit)
        self.write_back = bool(write_back)
        self.time_limit = None if time_limit is None else float(time_limit)
        self.start: Start | None = None
        self.program: Program | None = None

    # -------------------------------------------------------------- pieces
    def _priors(self, model: Model | None = None) -> dict[str, Prior]:
        option = self.priors_option
        if option is None or option == "none":
            return {}
        if option == "default":
            return default_priors(self.model if model is None else model)
        if isinstance(option, Mapping):
            return dict(option)
        raise FitError(f"priors must be 'default', None or a mapping, got {option!r}")

    def _settings(self, adapt_mass_matrix: bool, warmup: int) -> SamplerSettings:
        return SamplerSettings(
            kernel=self.kernel, dense_mass=self.dense_mass, adapt_mass_matrix=adapt_mass_matrix,
            warmup=warmup, draws=self.draws, seed=self.seed, device=self.device, progress=self.progress,
            target_accept=self.target_accept, max_tree_depth=self.max_tree_depth,
            trajectory_length=self.trajectory_length, num_steps=self.num_steps, time_limit=self.time_limit,
        )

    def _check_time(self, t0: float, phase: str) -> None:
        """Raise :class:`SamplingTimeLimitError` when ``phase`` (begun at ``t0``) ended past the time limit."""
        if self.time_limit is None:
            return
        spent = time.perf_counter() - t0
        if spent > self.time_limit:
            raise SamplingTimeLimitError(f"{phase} took {spent:.0f} s, past the time limit of "
                                         f"{self.time_limit:g} s: no draws")

    def _run_backend(self, program: Program, init: np.ndarray, matrix: np.ndarray | None,
                     settings: SamplerSettings) -> tuple[Any, Any]:
        if self.backend == "numpyro":
            from . import _numpyro as runner

            with backend.using("jax", device=self.device):
                return runner.run(program.lower("log_density"), init, matrix, settings)
        from . import _pyro as runner

        return runner.run(program.log_density, init, matrix, settings)

    # ----------------------------------------------------------------- run
    def run(self, mass_matrix: str = "laplace") -> Posterior | list[Posterior | None]:
        """Fit if needed, sample, build the Posterior, diagnose, write mean ± sd into the model.

        Parameters
        ----------
        mass_matrix : {"laplace", "identity"}
            "laplace" (default): the inverse Hessian of the potential at the
            MAP; "identity": start from the identity (then usually with
            ``adapt_mass_matrix=True``: numpyro's / pyro's own adaptation).
        """
        if isinstance(self.model, list | tuple):
            from .batch import sample_many

            return sample_many(self, list(self.model), mass_matrix)
        model = self.model
        t0 = time.perf_counter()
        # the MAP and the Laplace matrix are found with the priors used for sampling
        priors = self._priors()
        program = Program(model, self.likelihood, priors=priors)
        self.program = program
        start = prepare(model, program, self.fit)
        self._check_time(t0, "the fit and start search")
        interval = interval_coordinates(program)
        with backend.using("jax"):
            relabelled, labelling = relabel_mode(program, start.u, interval)
        self._check_time(t0, "the start search with its label check")
        if relabelled is not None:  # the MAP had two components the wrong way round
            warnings.warn(f"start point: {labelling.summary}", SamplingWarning, stacklevel=2)
            start = start_at_mode(relabelled.u, relabelled.hessian, bool(relabelled.converged),
                                  int(relabelled.iterations), interval, program.free.labels(),
                                  "mode of the sampled density with components exchanged", start.message)
        centres, survey_notes, survey_summary = None, [], "off (disperse=False)"
        if self.disperse:
            from .survey import survey_modes

            with backend.using("jax"):
                survey = survey_modes(program.lower("log_density"), program, priors, start.u,
                                      start.inverse_mass_matrix, self.chains, self.seed, interval)
            centres, survey_notes, survey_summary = survey.centres, survey.notes, survey.summary
            for note in survey_notes:
                warnings.warn(note, SamplingWarning, stacklevel=2)
            if survey.better is not None:  # the MAP was a local mode: start (and take the metric) at the best
                better = survey.better
                start = start_at_mode(better.u, better.hessian, bool(better.converged), int(better.iterations),
                                      interval, program.free.labels(), "best mode of a dispersed search",
                                      start.message)
        self._check_time(t0, "the start search with its dispersed survey")
        self.start = start
        t_map = time.perf_counter() - t0
        matrix: np.ndarray | None = start.inverse_mass_matrix
        if mass_matrix == "identity":
            matrix = None
        elif mass_matrix != "laplace":
            raise FitError(f"mass_matrix must be 'laplace' or 'identity', got {mass_matrix!r}")
        adapt, warmup = self.adapt_mass_matrix, self.warmup
        if start.adapt and mass_matrix == "laplace" and not adapt:
            adapt, warmup = True, max(self.warmup, ADAPT_MIN_WARMUP)
            warnings.warn(f"start point: {'; '.join(start.notes)}; its curvature is not trusted as the mass "
                          f"matrix, which is adapted during a warm-up of {warmup} iterations", SamplingWarning,
                          stacklevel=2)
        scatter_start = Start(start.u, start.inverse_mass_matrix, start.source)
        init = start_points(scatter_start, self.chains, self.init_scatter, self.seed, interval, centres)
        t1 = time.perf_counter()
        settings = replace(self._settings(adapt, warmup), time_spent=t1 - t0)  # the limit counts from t0
        samples, stats = self._run_backend(program, init, matrix, settings)
        t_sample = time.perf_counter() - t1
        if not np.all(np.isfinite(samples)):
            raise FitError("the sampler returned non-finite values")
        evaluations = stats.pop("_gradient_evaluations", None)
        interrupted = stats.pop("_interrupted", None)
        post = self._posterior(program, samples, stats, {
            "gradient_evaluations": -1 if evaluations is None else int(np.sum(evaluations)),
            "map_seconds": t_map, "sampling_seconds": t_sample, "start": start.source,
            "mass_matrix": mass_matrix + ("+adapted" if adapt else ""), "warmup_run": warmup,
            "start_notes": json.dumps(list(start.notes) + survey_notes),
            "start_at_limit": json.dumps(list(start.at_limit)), "survey": survey_summary, "labels": labelling.summary,
        })
        post.min_ess = self.min_ess
        if self.min_ess is not None:
            post.idata.posterior.attrs["min_ess"] = float(self.min_ess)
        post.issues = diagnose(post, self.min_ess, self.max_tree_depth)
        if post.misfit:
            warnings.warn(post.misfit, SamplingWarning, stacklevel=2)
        if interrupted is not None:
            why = f"stopped at the time limit of {self.time_limit:g} s" if interrupted[2] else "interrupted"
            post.issues.insert(0, f"{why}: {int(interrupted[0])} of {int(interrupted[1])} draws per chain")
            warnings.warn(f"sampling {why}: kept {int(interrupted[0])} of {int(interrupted[1])} draws per "
                          "chain", SamplingWarning, stacklevel=2)
        if self.write_back:
            write_back(model, program, post)
        return post

    def _posterior(self, program: Program, samples: np.ndarray, stats: dict[str, np.ndarray],
                   info: dict[str, Any], start: Start | None = None, pointwise: bool | None = None) -> Posterior:
        chains, draws, k = samples.shape
        free = program.free
        posterior: dict[str, np.ndarray] = {}
        cyclic: dict[str, list[float]] = {}
        for (name, _), tr, a, b, shape in zip(free.entries, free.transforms, free.offsets[:-1], free.offsets[1:],
                                              free.shapes, strict=True):
            values = np.asarray(tr.forward(samples[..., int(a):int(b)]), dtype=np.float64)
            values = values.reshape((chains, draws, *tuple(shape)))
            if tr.cyclic:
                lower, upper = tr.lower, tr.upper
                period = upper - lower
                center = circular_mean(values.reshape((chains * draws, *tuple(shape))), lower, period, axis=0)
                values = unwrap_about(values, center, period)
                cyclic[name] = [lower, period]
            posterior[name] = values
        flat = samples.reshape(chains * draws, k)
        derived, loglik = self._per_draw(program, flat, np.asarray(stats["lp"]).reshape(-1), pointwise)
        for key, value in derived.items():
            posterior[key] = value.reshape((chains, draws, *value.shape[1:]))
        dims: dict[str, list[str]] = {}
        observed = program.data.ravel()[program.pixel_index]
        groups: dict[str, dict[str, np.ndarray]] = {
            "posterior": posterior,
            "sample_stats": stats,
            "observed_data": {"obs": observed},
        }
        if loglik.ndim == 2:
            groups["log_likelihood"] = {"obs": loglik.reshape(chains, draws, -1)}
            dims["obs"] = ["pixel"]
        else:
            groups["log_likelihood"] = {"obs_total": loglik.reshape(chains, draws)}
            dims["obs"] = ["pixel"]
        priors = {name: (None if p is None else p.to_dict()) for name, p in program.priors.items()}
        used_start = start or self.start
        attrs = {
            **predictive_check(program, loglik.reshape(chains * draws, -1).sum(axis=1)),
            "start_inverse_mass": json.dumps(used_start.inverse_mass_matrix.tolist() if used_start else []),
            "sampler": self.kernel.upper(), "backend": self.backend, "chains": chains, "warmup": self.warmup,
            "draws": draws, "seed": self.seed, "likelihood": program.likelihood, "model": program.model.name,
            "dense_mass": int(self.dense_mass), "adapt_mass_matrix": int(self.adapt_mass_matrix),
            "max_tree_depth": self.max_tree_depth, "parameters": json.dumps(free.names),
            "priors": json.dumps(priors), "cyclic": json.dumps(cyclic),
            "map_u": json.dumps((start or self.start).u.tolist() if (start or self.start) else []),
            "inference_library": self.backend,
            "quadrature_issues": json.dumps(quadrature_issues(program.model)),
        }
        attrs.update({key: (json.dumps(v) if isinstance(v, (list, dict)) else v) for key, v in info.items()})
        idata = from_dict_compat(groups, dims, attrs)
        return Posterior(idata=idata, names=list(free.names))

    def _per_draw(self, program: Program, flat: np.ndarray, lp: np.ndarray,
                  pointwise: bool | None = None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Derived quantities and the log-likelihood of every draw (JAX, vectorised, batched).

        Per pixel when ``pointwise`` (default: draws × pixels ≤ ``pointwise_limit``; a render
        per draw, in batches of one size, the last one padded, so that the function compiles
        once); otherwise the total, without rendering: log L = lp − log prior − log-Jacobian,
        all draws in one call (no image per draw bounds its memory; five padded batches of
        2000 draws of a 64² stamp took 18 ms, one call 12 ms).
        """
        from .. import structure

        n = flat.shape[0]
        if pointwise is None:
            pointwise = n * program.n_pixels <= self.pointwise_limit
        batch = max(1, min(n, 2_000_000 // max(program.n_pixels, 1))) if pointwise else max(n, 1)
        with backend.using("jax", device=self.device):
            # one traced function per draw (tracing costs ~0.1 s an object, which counts for many objects)
            lowered = program.lower("draw_summary_pointwise" if pointwise else "draw_summary")
            summary_fn = structure.compiled(lowered, "vmap_value")
            derived_parts, ll_parts = [], []
            for i in range(0, n, batch):
                chunk = flat[i:i + batch]
                size = chunk.shape[0]
                if size < batch:
                    chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - size, axis=0)])
                derived, second = summary_fn(lowered.params, chunk)
                derived_parts.append({k: np.asarray(v)[:size] for k, v in derived.items()})
                values = np.asarray(second)[:size]
                ll_parts.append(values if pointwise else lp[i:i + size] - values)
        derived_out = {k: np.concatenate([p[k] for p in derived_parts]) for k in derived_parts[0]} \
            if derived_parts and derived_parts[0] else {}
        return derived_out, np.concatenate(ll_parts)




def predictive_check(program: Program, loglik_total: np.ndarray) -> dict[str, float]:
    """Posterior-predictive check of the fit statistic (Gaussian likelihood).

    For each draw θ the observed χ²(θ) = Σ (d − μ(θ))²/σ² follows from the
    stored log-likelihood (log L = −χ²/2 + const); replicated data
    d_rep ~ N(μ(θ), σ²) have χ²_rep ~ χ²(n_pixels) exactly, so the
    posterior-predictive p-value is the mean over draws of
    P(χ²_rep ≥ χ²(θ)) — no replicated images needed (Gelman, Meng & Stern
    1996, Statistica Sinica 6, 733).  A small p-value means the model does not
    describe the data to within their noise, and its uncertainties are too
    optimistic.

    Returns
    -------
    {"ppc_chi2_ndf": mean χ²(θ) / n_pixels, "ppc_p_value": p}; empty for Poisson.
    """
    if program.likelihood != "gaussian" or loglik_total.size == 0:
        return {}
    from scipy.stats import chi2 as chi2_dist

    chi2 = -2.0 * (np.asarray(loglik_total, dtype=np.float64) - program._log_norm)
    n = program.n_pixels
    return {"ppc_chi2_ndf": float(np.mean(chi2) / n), "ppc_p_value": float(np.mean(chi2_dist.sf(chi2, n)))}


def write_back(model: Model, program: Program, post: Posterior) -> None:
    """Store posterior mean ± sd (circular mean for cyclic parameters) in the model's parameters.

    When the diagnostics found issues (``post.ok`` is False) every value is
    marked (``param.note``, shown when the parameter is printed).
    """
    note = None if post.ok else "posterior not converged: see Posterior.issues"
    for name, param in program.free.entries:
        mean = post.mean(name)
        param.value = np.reshape(mean, param.shape)
        param.uncertainty = np.reshape(post.sd(name), param.shape)
        param.note = note


class NUTS(_Sampler):
    """The No-U-Turn sampler (Hoffman & Gelman 2014), MAP-initialised with a Laplace mass matrix.

    Parameters
    ----------
    model : Model or list of Model
        Component or group model with a target; parameters set (``initialize()``).
        A list of independent models is sampled as one vectorised program per
        structure (numpyro; see :func:`bayesphot.infer.batch.sample_many`), and
        ``run()`` returns a list of posteriors in the same order; after a Ctrl-C
        during sampling, the objects sampled in full are kept and the others are
        ``None`` (with a warning).
    backend : {"numpyro", "pyro"}, optional
        numpyro (JAX, JIT-compiled) or pyro (torch).  Default: the one that
        matches ``bp.backend.current()`` — pyro after
        ``bp.backend.use("torch")``, numpyro otherwise — with that backend's
        device.  ``posterior.attrs["backend"]`` records which ran.
    chains, warmup, draws : int
        numpyro on a CPU runs the chains side by side in threads (one per
        core), on an accelerator as one vectorised program; pyro runs them in turn.
    seed : int
    device : {"cpu", "cuda", None}
        None picks the backend's default (CUDA when present).
    dense_mass : bool
        Dense inverse mass matrix (the Laplace covariance); False keeps its diagonal.
    adapt_mass_matrix : bool
        Let warm-up re-estimate the mass matrix (default False: only the
        step size is tuned, the Laplace matrix is kept).
    likelihood : {"gaussian", "poisson"}
    priors : "default", None or mapping
        "default": parameters without a prior get the default of
        :mod:`bayesphot.models.defaults`; None: flat within the limits;
        a mapping ``{"child:param": Prior}`` overrides.
    fit : "auto", True or False
        Run the MAP fit first ("auto": unless the model was fitted already).
    target_accept, max_tree_depth : float, int
    init_scatter : float
        Chains start at the MAP plus this fraction of a Laplace draw (0: all at the MAP).
    disperse : bool
        Before sampling, search for other modes from positions spread around
        the MAP (:mod:`bayesphot.infer.survey`) and start chains in the distinct
        ones, so that a multimodal posterior shows up as r̂ (default True; with
        one chain there is nothing to disperse).
    progress : bool
        Progress bars.
    min_ess : float, optional
        Bulk-ESS threshold of the diagnostics (default 100 per chain).
    pointwise_limit : int
        Store the per-pixel log-likelihood when draws × pixels ≤ this (for a list of
        models: draws × the pixels of all of them), else its total per draw (``obs_total``).
    write_back : bool
        Write posterior mean ± sd into the model's parameters (default True).
    time_limit : float, optional
        Seconds for the whole run (numpyro, one model): the start search (fit, mode,
        label check, dispersed survey) and sampling, warm-up included.  It is checked
        between the phases of the start search and before each block of iterations, which
        is not started when it would end past the limit.  Past warm-up the draws so far are
        kept and the posterior's issues say the run was stopped; before the draws begin
        :class:`~bayesphot.errors.SamplingTimeLimitError` is raised.
    """

    kernel = "nuts"


class HMC(_Sampler):
    """Static Hamiltonian Monte Carlo, MAP-initialised with a Laplace mass matrix.

    Takes the parameters of :class:`NUTS` plus ``trajectory_length`` (default
    π/2: a quarter period of the whitened Gaussian, where draws decorrelate)
    or ``num_steps``.
    """

    kernel = "hmc"

    def __init__(self, model: Model, **kwargs: Any) -> None:
        if kwargs.get("trajectory_length") is not None and kwargs.get("num_steps") is not None:
            raise FitError("HMC takes trajectory_length or num_steps, not both (together they fix the step "
                           "size, which warm-up then cannot tune)")
        if kwargs.get("trajectory_length") is None and kwargs.get("num_steps") is None:
            kwargs["trajectory_length"] = 0.5 * math.pi
        super().__init__(model, **kwargs)


__all__ = ["HMC", "NUTS", "predictive_check", "write_back"]
