"""Levenberg–Marquardt MAP fit in the unconstrained space.

The objective is −2 log posterior in χ² units, ``F(u) = χ²(u) − 2 log p(θ(u))``
(Gaussian), or the Cash deviance ``C = 2 Σ [μ − d + d ln(d/μ)]`` in place of
χ² (Poisson).  Each iteration linearises the model image μ(u) (Jacobian J by
forward-mode autodiff) and solves

    (A + λ diag(A)) δ = b,   A = Jᵀ W J − ∇² log p,   b = Jᵀ W (d − μ) + ∇ log p

with W = 1/σ² (Gaussian) or W = 1/μ (Poisson: Fisher scoring; the
expected Hessian of C/2, which replaces d/μ² by its expectation 1/μ and
stays positive definite).  A step is accepted when it lowers F; the damping
λ follows Nielsen's rule (λ × max(1/3, 1 − (2ρ − 1)³) after a success, × 2ᵏ
after k failures, with ρ the ratio of actual to predicted reduction).

Convergence, tested after every accepted step (gradient also before):

* ``gradient``: every component of b in σ units, |b_i| / √A_ii < ``gtol``;
* ``chi2 change``: actual and predicted reductions of F both below ``ftol × F``;
* ``step``: every |δ_i| √A_ii < ``xtol`` (the step, in units of the conditional σ);
* ``precision``: no step lowers F, and the undamped Gauss–Newton step would
  lower it by less than ``ftol × F``.

``ftol`` is raised to at least 10 × the machine epsilon of the backend's dtype
(float32: 1.2e-6), below which changes of F are rounding noise.

The fit ends with ``max iterations reached`` or ``no step improves chi²``
(λ beyond ``lambda_max``) otherwise, and says so.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..errors import FitError
from ..models.base import Model
from ..models.resolution import quadrature_issues
from ..program import Program
from .engine import DEFAULT_MAX_MEMORY, make_engine
from .laplace import invert_hessian, parameter_covariance
from .result import FitResult, remember

AT_LIMIT_FRACTION = 1e-4


class Problem:
    """Data, weights and engine of one fit (a model, maybe against a fixed offset image).

    Parameters
    ----------
    model : Model
    likelihood : {"gaussian", "poisson"}
    offset : array, optional
        Window-shaped image added to the model (the other sub-models in Iter).
    engine : LeafEngine or GroupEngine, optional
    max_memory, chunk_size
        For the Jacobian engine.
    """

    def __init__(self, model: Model, likelihood: str = "gaussian", offset: np.ndarray | None = None,
                 engine: Any = None, max_memory: int = DEFAULT_MAX_MEMORY, chunk_size: int | None = None) -> None:
        self.program = Program(model, likelihood)
        self.model = model
        self.likelihood = likelihood
        self.free = self.program.free
        self.engine = engine if engine is not None else make_engine(model, max_memory, chunk_size)
        if self.engine.size != self.free.size:  # pragma: no cover - structural invariant
            raise FitError("internal error: the Jacobian engine and the free parameters disagree")
        good = np.ravel(self.program.good)
        self.index = np.flatnonzero(good)
        self.data = np.ravel(self.program.data)[self.index]
        self.weight = np.ravel(self.program.sqrt_weight)[self.index] ** 2
        self.set_offset(offset)
        self.ndf = self.program.ndf
        self.has_prior = any(p.prior is not None for _, p in self.free.entries)
        if self.has_prior:
            be = backend.current()
            if be.name == "jax":  # compiled once per structure, shared by every model of this shape
                from .. import structure

                lowered = self.program.lower("log_prior")
                value, grad = structure.compiled(lowered, "value"), structure.compiled(lowered, "grad")
                hess = structure.compiled(lowered, "hessian")
                self._lp = lambda u: value(lowered.params, u)
                self._lp_grad = lambda u: grad(lowered.params, u)
                self._lp_hess = lambda u: hess(lowered.params, u)
            else:
                lp = self.program.log_prior
                self._lp = be.jit(lp)
                self._lp_grad = be.jit(be.grad(lp))
                self._lp_hess = be.jit(be.jacfwd(be.grad(lp)))

    def set_offset(self, offset: np.ndarray | None) -> None:
        """Replace the fixed image added to the model (window-shaped, flux per pixel)."""
        self.offset = 0.0 if offset is None else np.ravel(np.asarray(offset, dtype=np.float64))[self.index]

    # ------------------------------------------------------------ pieces
    def model_pixels(self, u: np.ndarray) -> np.ndarray:
        """μ at the unmasked pixels (flux per pixel)."""
        return np.ravel(self.engine.value(u))[self.index] + self.offset

    def linearize(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(μ, dμ/du) at the unmasked pixels."""
        mu = self.model_pixels(u)
        jac = self.engine.jacobian(u)[self.index]
        return mu, jac

    def fit_statistic(self, mu: np.ndarray) -> float:
        """χ² (Gaussian) or the Cash deviance (Poisson); inf where μ ≤ 0 for Poisson."""
        d = self.data
        if self.likelihood == "gaussian":
            r = d - mu
            return float(np.sum(self.weight * r * r))
        if np.any(mu <= 0) or not np.all(np.isfinite(mu)):
            return math.inf
        dlog = np.where(d > 0, d * np.log(np.where(d > 0, d, 1.0) / mu), 0.0)
        return float(2.0 * np.sum(mu - d + dlog))

    def weights(self, mu: np.ndarray) -> np.ndarray:
        return self.weight if self.likelihood == "gaussian" else 1.0 / mu

    def prior_penalty(self, u: np.ndarray) -> float:
        """−2 log prior (0 without priors)."""
        if not self.has_prior:
            return 0.0
        be = backend.current()
        return float(-2.0 * backend.to_numpy(self._lp(be.asarray(u))))

    def prior_terms(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∇ log p, −∇² log p) in u."""
        k = self.free.size
        if not self.has_prior:
            return np.zeros(k), np.zeros((k, k))
        be = backend.current()
        uu = be.asarray(u)
        return backend.to_numpy(self._lp_grad(uu)), -backend.to_numpy(self._lp_hess(uu))

    def normal_equations(self, u: np.ndarray, mu: np.ndarray, jac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(A, b) of the Gauss–Newton step (−log posterior units)."""
        w = self.weights(mu)
        wj = jac * w[:, None]
        a = jac.T @ wj
        b = wj.T @ (self.data - mu)
        grad_lp, hess = self.prior_terms(u)
        return a + hess, b + grad_lp

    def at_limit(self, u: np.ndarray, u_start: np.ndarray) -> list[str]:
        """Labels of elements on (within a 1e-4 fraction of the range of) a limit."""
        out = []
        labels = self.free.labels()
        i = 0
        for (_, param), tr in zip(self.free.entries, self.free.transforms, strict=True):
            size = int(np.prod(param.shape)) if param.shape else 1
            for j in range(size):
                ui, u0 = float(u[i + j]), float(u_start[i + j])
                kind = tr.kind
                if kind == "interval":
                    t = 1.0 / (1.0 + math.exp(-ui)) if ui > -700 else 0.0
                    hit = min(t, 1.0 - t) < AT_LIMIT_FRACTION
                elif kind in ("lower", "upper"):
                    hit = ui - u0 < math.log(AT_LIMIT_FRACTION)  # 1e4 times closer than at the start
                else:
                    hit = False
                if hit:
                    out.append(labels[i + j])
            i += size
        return out


@dataclass
class _State:
    u: np.ndarray
    mu: np.ndarray
    jac: np.ndarray
    chi2: float
    objective: float


class LM:
    """Levenberg–Marquardt MAP fit of a (group) model.

    Parameters
    ----------
    model : Model
        Component or group model with a target; every free parameter set
        (``model.initialize()``).
    verbose : int
        0 silent; 1 prints χ²/ndf and the damping λ every iteration.
    likelihood : {"gaussian", "poisson"}
        Gaussian with the target's variance, or Poisson (Cash) for images in
        counts (see the module docstring for the weights).
    max_iterations : int
        Jacobian evaluations per start.
    ftol : float
        Relative change of the objective that counts as converged.  The default, 1e-8, is
        Imfit's and scipy's: on IC 3478 (χ² ≈ 6.7e4) it stops when an iteration lowers χ² by
        less than 7e-4, i.e. within a few hundredths of a σ of the optimum when the descent
        converges linearly (a misfitting model) and far closer when it converges quadratically.
    xtol : float
        Step, in units of each element's conditional σ, that counts as converged.
    gtol : float
        Gradient, in units of each element's conditional σ, that counts as converged.
    lambda0 : float
        Initial damping (relative to diag(A)).
    lambda_max : float
        Damping beyond which the fit stops with ``no step improves chi²``.
    restarts : int
        Further starts tried when the fit ends with an element on a limit
        (a ``q`` pinned at 1, say): the element is moved back to the middle of
        its range (the start value for one-sided limits), and the cyclic
        parameters of the same sub-model are turned by ±π/4; the start with
        the lowest objective wins.  0 disables.
    covariance : bool
        Compute the Laplace covariance and store ± σ in the parameters.
    max_memory : int
        Bytes the forward-mode Jacobian of one (sub-)model may take before it
        is computed in column chunks.
    chunk_size : int, optional
        Force a number of Jacobian columns per pass.
    offset : array, optional
        Window-shaped image added to the model (used by :class:`Iter`).
    engine, problem : optional
        A prepared Jacobian engine or :class:`Problem` to reuse (used by :class:`Iter`).
    """

    def __init__(self, model: Model, verbose: int = 0, likelihood: str = "gaussian", max_iterations: int = 100,
                 ftol: float = 1e-8, xtol: float = 1e-6, gtol: float = 1e-6, lambda0: float = 1e-3,
                 lambda_max: float = 1e10, restarts: int = 2, covariance: bool = True,
                 max_memory: int = DEFAULT_MAX_MEMORY, chunk_size: int | None = None,
                 offset: np.ndarray | None = None, engine: Any = None, problem: Problem | None = None) -> None:
        if max_iterations < 1:
            raise FitError(f"max_iterations must be at least 1, got {max_iterations}")
        self.model = model
        self.verbose = int(verbose)
        self.likelihood = likelihood
        self.max_iterations = int(max_iterations)
        self.ftol, self.xtol, self.gtol = float(ftol), float(xtol), float(gtol)
        self.lambda0, self.lambda_max = float(lambda0), float(lambda_max)
        self.restarts = int(restarts)
        self.want_covariance = bool(covariance)
        if problem is None:
            problem = Problem(model, likelihood, offset=offset, engine=engine, max_memory=max_memory,
                              chunk_size=chunk_size)
        self.problem = problem

    # ------------------------------------------------------------ helpers
    def _state(self, u: np.ndarray, mu: np.ndarray | None = None) -> _State:
        """The state at ``u``; ``mu`` (the model at ``u``, when just computed) is not rendered again."""
        pb = self.problem
        if mu is None:
            mu, jac = pb.linearize(u)
        else:
            jac = pb.engine.jacobian(u)[pb.index]
        chi2 = pb.fit_statistic(mu)
        return _State(u, mu, jac, chi2, chi2 + pb.prior_penalty(u))

    def _print(self, text: str) -> None:
        if self.verbose:
            print(text, flush=True)

    def _run(self, u0: np.ndarray) -> tuple[_State, str, str | None, int, list[dict[str, Any]]]:
        """One LM descent from ``u0``: (final state, message, converged_by, iterations, history)."""
        pb = self.problem
        state = self._state(np.array(u0, dtype=np.float64))
        if not np.isfinite(state.objective):
            raise FitError(f"the objective is not finite at the start (chi2 = {state.chi2}); check the "
                           "initial values, priors and (for Poisson) that the model is positive")
        if not np.all(np.isfinite(state.jac)):
            raise FitError("the Jacobian has non-finite entries at the start")
        lam, nu = self.lambda0, 2.0
        # the model is computed in the backend's precision: changes of F below its rounding are noise
        eps = float(np.finfo(backend.current().dtype).eps)
        ftol = max(self.ftol, 10.0 * eps)
        history: list[dict[str, Any]] = []
        ndf = pb.ndf
        self._print(f"  start     chi2/ndf {state.chi2 / ndf:.6f}")
        for it in range(1, self.max_iterations + 1):
            a, b = pb.normal_equations(state.u, state.mu, state.jac)
            diag = np.clip(np.diag(a), 1e-12 * max(float(np.max(np.abs(np.diag(a)))), 1e-300), None)
            scale = np.sqrt(diag)
            if np.max(np.abs(b) / scale) < self.gtol:
                return state, "success", "gradient", it - 1, history
            while True:
                try:
                    step = np.linalg.solve(a + lam * np.diag(diag), b)
                except np.linalg.LinAlgError:
                    step = np.linalg.lstsq(a + lam * np.diag(diag), b, rcond=None)[0]
                predicted = 0.5 * float(step @ (b + lam * diag * step))  # half objective units
                u_new = state.u + step
                mu_new = pb.model_pixels(u_new)
                chi2_new = pb.fit_statistic(mu_new)
                obj_new = chi2_new + pb.prior_penalty(u_new) if np.isfinite(chi2_new) else math.inf
                actual = 0.5 * (state.objective - obj_new)
                rho = actual / predicted if predicted > 0 else -1.0
                accepted = bool(np.isfinite(obj_new) and actual > 0 and rho > 1e-4)
                new_state = None
                if accepted:
                    new_state = self._state(u_new, mu_new)
                    if not np.all(np.isfinite(new_state.jac)):
                        accepted = False  # e.g. a profile parameter driven to where its derivative is undefined
                history.append({"chi2": chi2_new, "lambda": lam, "accepted": accepted})
                if accepted:
                    break
                self._print(f"  iter {it:3d}  rejected  chi2/ndf {chi2_new / ndf:.6f}  lambda {lam:.3g}")
                lam *= nu
                nu *= 2.0
                if lam > self.lambda_max:
                    # at the optimum to the precision in use (float32), no step can lower F measurably
                    undamped = np.linalg.lstsq(a, b, rcond=None)[0]
                    if 0.5 * float(undamped @ b) <= ftol * max(abs(state.objective), 1.0):
                        return state, "success", "precision", it, history
                    return state, "no step improves chi²", None, it, history
            old = state.objective
            state = new_state
            self._print(f"  iter {it:3d}  chi2/ndf {state.chi2 / ndf:.6f}  lambda {lam:.3g}")
            lam *= max(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3)
            lam = max(lam, 1e-12)
            nu = 2.0
            norm = max(abs(state.objective), 1.0)
            if (old - state.objective) <= ftol * norm and predicted * 2.0 <= ftol * norm:
                return state, "success", "chi2 change", it, history
            if np.max(np.abs(step) * scale) < self.xtol:
                return state, "success", "step", it, history
        return state, "max iterations reached", None, self.max_iterations, history

    def _restart_points(self, u: np.ndarray, u_start: np.ndarray, at_limit: list[str]) -> list[np.ndarray]:
        pb = self.problem
        labels = pb.free.labels()
        kinds: list[str] = []
        cyclic_idx: list[int] = []
        for (_, param), tr in zip(pb.free.entries, pb.free.transforms, strict=True):
            size = int(np.prod(param.shape)) if param.shape else 1
            kinds += [tr.kind] * size
        for i, kind in enumerate(kinds):
            if kind == "cyclic":
                cyclic_idx.append(i)
        owners = {lab.rsplit(":", 1)[0] if ":" in lab else "" for lab in at_limit}
        points = []
        for turn in (math.pi / 4, -math.pi / 4)[: self.restarts]:
            p = np.array(u, dtype=np.float64)
            for lab in at_limit:
                i = labels.index(lab)
                p[i] = 0.0 if kinds[i] == "interval" else u_start[i]
            for i in cyclic_idx:
                owner = labels[i].rsplit(":", 1)[0] if ":" in labels[i] else ""
                if owner in owners:
                    p[i] = p[i] + turn
            points.append(p)
        return points

    # ------------------------------------------------------------ API
    def fit(self) -> FitResult:
        """Run the fit; store the MAP values (and ± σ) in the model's parameters.

        Returns
        -------
        FitResult
        """
        t0 = time.perf_counter()
        pb = self.problem
        u_start = pb.free.unconstrained()
        state, message, how, iterations, history = self._run(u_start)
        limits = pb.at_limit(state.u, u_start)
        if limits and self.restarts > 0:
            self._print(f"  ended on a limit ({', '.join(limits)}): trying {self.restarts} more start(s)")
            for start in self._restart_points(state.u, u_start, limits):
                try:
                    trial = self._run(start)
                except FitError:
                    continue
                history += trial[4]
                iterations += trial[3]
                if trial[0].objective < state.objective - 1e-9 * max(abs(state.objective), 1.0):
                    state, message, how = trial[0], trial[1], trial[2]
                    if not pb.at_limit(state.u, u_start):
                        break  # off the limit and better: further starts would repeat this descent
            limits = pb.at_limit(state.u, u_start)
        result = self._result(state, message, how, iterations, history, limits)
        result.wall_time = time.perf_counter() - t0
        self._print(f"  {result}")
        return result

    def _result(self, state: _State, message: str, how: str | None, iterations: int,
                history: list[dict[str, Any]], limits: list[str]) -> FitResult:
        pb = self.problem
        free = pb.free
        labels = free.labels()
        k = free.size
        singular = False
        if self.want_covariance:
            a, _ = pb.normal_equations(state.u, state.mu, state.jac)
            cov_u, singular = invert_hessian(a, labels)
        else:
            cov_u = np.full((k, k), np.nan)
        dxdu = free.derivative(state.u)
        cov = parameter_covariance(cov_u, dxdu, labels)
        sigma = cov.sigma if self.want_covariance else None
        free.assign(state.u, sigma, covariance_unconstrained=cov_u if self.want_covariance else None)
        u_final = free.unconstrained()  # cyclic elements wrapped into their range
        result = FitResult(
            message=message, success=message == "success", chi2=state.chi2, ndf=pb.ndf,
            iterations=iterations, u=u_final, labels=labels, names=free.names,
            covariance_unconstrained=cov_u, covariance=cov, at_limit=limits, converged_by=how,
            singular=singular, objective=state.objective, likelihood=self.likelihood, history=history,
            model=self.model, issues=quadrature_issues(self.model),
        )
        remember(result, free.transforms)
        return result
