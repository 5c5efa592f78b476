"""Iterative MAP fit of a group: one sub-model at a time against the others' residual.

Each cycle fits every sub-model of the group in turn with :class:`LM`, the
others held fixed (sub-models linked by tied parameters, such as a bulge and
a disk sharing a centre, are fitted together as one block) (their current image is added to the sub-model's as a fixed
offset, so a Poisson likelihood stays exact).  Cycles stop when the group's χ²
improves by less than ``tol`` (relative) in a cycle.  The covariance is then
computed for each sub-model jointly over its own parameters (the Hessian block
of that sub-model, the others held fixed): correlations *between* sub-models
are neglected, which underestimates the σ of blended neighbours.  Run
:class:`LM` on the whole group afterwards for the full covariance; it starts
from Iter's answer and reuses the compiled sub-model Jacobians.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from ..errors import FitError
from ..image.window import Window
from ..models.base import Model
from ..models.group import GroupModel
from ..models.resolution import quadrature_issues
from .engine import DEFAULT_MAX_MEMORY, GroupEngine, make_engine
from .laplace import invert_hessian, parameter_covariance
from .lm import LM, Problem
from .result import FitResult, remember


class Iter:
    """Fit a group one sub-model at a time, cycling until χ² stops improving.

    Parameters
    ----------
    model : GroupModel
        A group (a component model is simply fitted with :class:`LM`).
    verbose : int
        0: a tqdm progress bar only; 1: also one line per cycle; 2: also LM's lines.
    likelihood : {"gaussian", "poisson"}
    max_cycles : int
        Passes over all sub-models.
    tol : float
        Relative χ² improvement over a cycle below which the fit has converged.
    lm_iterations : int
        Iteration cap of each sub-model's LM within a cycle.
    progress : bool
        Show a tqdm progress bar.
    max_memory, chunk_size
        For the Jacobian engines.
    **lm_options
        Further :class:`LM` options for the sub-fits.  By default the sub-fits
        stop early (``ftol=1e-7``, ``xtol=gtol=1e-3``, ``restarts=1``): the cycles,
        not each sub-fit, carry the convergence.
    """

    def __init__(self, model: Model, verbose: int = 0, likelihood: str = "gaussian", max_cycles: int = 20,
                 tol: float = 1e-6, lm_iterations: int = 30, progress: bool = True,
                 max_memory: int = DEFAULT_MAX_MEMORY, chunk_size: int | None = None, **lm_options: Any) -> None:
        self.model = model
        self.verbose = int(verbose)
        self.likelihood = likelihood
        self.max_cycles = int(max_cycles)
        self.tol = float(tol)
        self.lm_iterations = int(lm_iterations)
        self.progress = bool(progress)
        self.max_memory = max_memory
        self.chunk_size = chunk_size
        self.lm_options = {"ftol": 1e-7, "xtol": 1e-3, "gtol": 1e-3, "restarts": 1, **lm_options}

    def fit(self) -> FitResult:
        """Run the cycles; store values and per-sub-model ± σ in the parameters.

        Returns
        -------
        FitResult
            ``iterations`` counts cycles; ``covariance_unconstrained`` is
            block-diagonal (one block per sub-model).
        """
        t0 = time.perf_counter()
        group = self.model
        if not isinstance(group, GroupModel):
            return LM(group, verbose=self.verbose, likelihood=self.likelihood, max_memory=self.max_memory,
                      chunk_size=self.chunk_size, **self.lm_options).fit()
        engine = make_engine(group, self.max_memory, self.chunk_size)
        assert isinstance(engine, GroupEngine)
        whole = Problem(group, self.likelihood, engine=engine)
        free = whole.free
        children = list(group.models.values())
        blocks = self._blocks(group, engine)
        if not blocks:
            raise FitError(f"group {group.name!r} has no free parameters")

        u = free.unconstrained()
        images = engine.child_values(u)
        total = np.zeros(group.window.shape)
        for i, image in enumerate(images):
            engine.place(i, image, total)
        chi2 = whole.fit_statistic(np.ravel(total)[whole.index])
        problems: dict[int, Problem] = {}
        block_models: dict[int, Model] = {}
        fitted_blocks: set[int] = set()
        at_limit: dict[int, list[str]] = {}
        history: list[dict[str, Any]] = [{"chi2": chi2, "cycle": 0}]
        message = "max cycles reached"
        cycles = 0
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(blocks), desc="Iter cycle 1", unit="model", leave=True)
        try:
            for cycle in range(1, self.max_cycles + 1):
                cycles = cycle
                if bar is not None:
                    bar.reset(total=len(blocks))
                    bar.set_description(f"Iter cycle {cycle}")
                for b, members in enumerate(blocks):
                    if b not in block_models:
                        block_models[b] = self._block_model(group, children, members)
                    model = block_models[b]
                    offset = self._others_block(engine, members, images, total, model.window)
                    if b not in problems:
                        problems[b] = Problem(model, self.likelihood, offset=offset,
                                              engine=engine.children[members[0]] if len(members) == 1 else None,
                                              max_memory=self.max_memory, chunk_size=self.chunk_size)
                    else:
                        problems[b].set_offset(offset)
                    lm = LM(model, verbose=max(self.verbose - 1, 0), likelihood=self.likelihood,
                            max_iterations=self.lm_iterations, covariance=False, problem=problems[b],
                            **self.lm_options)
                    sub = lm.fit()
                    prefix = f"{model.name}:" if len(members) == 1 else ""
                    at_limit[b] = [prefix + lab for lab in sub.at_limit]
                    u = free.unconstrained()
                    inputs = engine._input_values(u)
                    for i in members:
                        new_image = engine.children[i].value(engine.child_vector(i, u, inputs))
                        self._replace(engine, i, images, new_image, total)
                    fitted_blocks.add(b)
                    if bar is not None:
                        bar.update(1)
                new_chi2 = whole.fit_statistic(np.ravel(total)[whole.index])
                history.append({"chi2": new_chi2, "cycle": cycle})
                if bar is not None:
                    bar.set_postfix({"chi2/ndf": f"{new_chi2 / whole.ndf:.5f}"})
                if self.verbose:
                    print(f"  cycle {cycle:3d}  chi2/ndf {new_chi2 / whole.ndf:.6f}", flush=True)
                improvement = chi2 - new_chi2
                chi2 = new_chi2
                if improvement <= self.tol * max(abs(new_chi2), 1.0):
                    message = "success"
                    break
        except KeyboardInterrupt:
            done = [children[i].name for b in sorted(fitted_blocks) for i in blocks[b]]
            todo = [children[i].name for b in range(len(blocks)) if b not in fitted_blocks for i in blocks[b]]
            message = (f"interrupted in cycle {cycles}: fitted {', '.join(done) or 'none'}"
                       + (f"; never fitted (start values kept): {', '.join(todo)}" if todo else ""))
            warnings.warn(f"Iter {message}", RuntimeWarning, stacklevel=2)
        finally:
            if bar is not None:
                bar.close()

        # per-block joint covariance (the others fixed at their final values)
        u = free.unconstrained()
        k = free.size
        cov_u = np.zeros((k, k))
        singular = False
        labels = free.labels()
        for b, members in enumerate(blocks):
            if b not in fitted_blocks:
                continue
            pb = problems[b]
            pb.set_offset(self._others_block(engine, members, images, total, block_models[b].window))
            u_b = pb.free.unconstrained()
            mu, jac = pb.linearize(u_b)
            a, _ = pb.normal_equations(u_b, mu, jac)
            prefix = f"{block_models[b].name}:" if len(members) == 1 else ""
            index = [labels.index(prefix + lab) for lab in pb.free.labels()]
            block, sing = invert_hessian(a, [labels[i] for i in index])
            singular = singular or sing
            cov_u[np.ix_(index, index)] = block
        cov = parameter_covariance(cov_u, free.derivative(u), labels)
        free.assign(u, cov.sigma, covariance_unconstrained=cov_u)
        fitted_models = [children[i].name for b in sorted(fitted_blocks) for i in blocks[b]]
        for b, members in enumerate(blocks):
            if b not in fitted_blocks:  # interrupted before its first fit: no uncertainty to report
                for i in members:
                    for p in children[i].parameters.values():
                        p.uncertainty = None
        u = free.unconstrained()
        limits = [lab for b in range(len(blocks)) for lab in at_limit.get(b, [])]
        prior = whole.prior_penalty(u)
        result = FitResult(
            message=message, success=message == "success", chi2=chi2, ndf=whole.ndf, iterations=cycles,
            u=u, labels=labels, names=free.names, covariance_unconstrained=cov_u, covariance=cov,
            at_limit=limits, converged_by="chi2 change" if message == "success" else None, singular=singular,
            objective=chi2 + prior, likelihood=self.likelihood, history=history,
            wall_time=time.perf_counter() - t0, model=group, fitted_models=fitted_models,
            issues=quadrature_issues(group),
        )
        if result.success:
            remember(result, free.transforms)
        return result

    @staticmethod
    def _blocks(group: GroupModel, engine: GroupEngine) -> list[list[int]]:
        """Sub-models fitted together: those linked by ties (a shared centre) form one block.

        A sub-model with free parameters, or whose tied parameters follow a free
        parameter of another sub-model, is in exactly one block; the others
        (everything fixed) are in none.
        """
        children = list(group.models.values())
        owner: dict[int, int] = {}
        for i, child in enumerate(children):
            for param in child.parameters.values():
                owner[id(param)] = i
        parent = list(range(len(children)))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        linked = set()
        for i, child in enumerate(children):
            for param in child.parameters.values():
                for src in param.tie_ancestors():
                    j = owner.get(id(src))
                    if j is not None and j != i:
                        parent[find(i)] = find(j)
                        linked.update((i, j))
        fitted = [i for i, e in enumerate(engine.children) if engine._own_index[i].size > 0 or i in linked]
        blocks: dict[int, list[int]] = {}
        for i in fitted:
            blocks.setdefault(find(i), []).append(i)
        return [members for members in blocks.values()
                if any(engine._own_index[i].size > 0 for i in members)]

    @staticmethod
    def _block_model(group: GroupModel, children: list[Model], members: list[int]) -> Model:
        """The model a block's LM fits: the sub-model itself, or a group of the tied sub-models."""
        if len(members) == 1:
            return children[members[0]]
        return GroupModel("tied", models=[children[i] for i in members], target=group.target)

    @staticmethod
    def _others_block(engine: GroupEngine, members: list[int], images: list[np.ndarray], total: np.ndarray,
                      window: Window) -> np.ndarray:
        """The image of every sub-model outside the block, on the block model's window."""
        own = np.zeros_like(total)
        for i in members:
            engine.place(i, images[i], own)
        rest = total - own
        out = np.zeros(window.shape)
        overlap = window & engine.window
        if not overlap.is_empty:
            out[overlap.relative_to(window)] = rest[overlap.relative_to(engine.window)]
        return out

    @staticmethod
    def _replace(engine: GroupEngine, i: int, images: list[np.ndarray], new: np.ndarray, total: np.ndarray) -> None:
        old = np.zeros_like(total)
        engine.place(i, images[i], old)
        total -= old
        engine.place(i, new, total)
        images[i] = new
