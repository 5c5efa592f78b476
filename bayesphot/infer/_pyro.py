"""Run HMC/NUTS on the flat unconstrained vector with pyro (torch).

Pyro's kernels get the potential ``−log_density`` of one site ``"u"`` (the
whole vector).  Two small subclasses add what pyro does not expose: the given
inverse mass matrix is installed right after pyro configures its (identity)
one and before the initial step size is searched, and per-draw statistics are
recorded (leapfrog steps, counted as potential evaluations, hence tree depth;
divergences; step size; log density).  Chains run one after another: pyro's
multi-chain mode spawns processes, which buys nothing on a few CPU cores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from .settings import SamplerSettings, tree_depth


def _kernel_class(base: type) -> type:
    class Recorded(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, given_inverse_mass: Any = None, **kwargs: Any) -> None:
            potential = kwargs.pop("potential_fn")
            self.evaluations = 0

            def counted(params: dict[str, Any]) -> Any:
                self.evaluations += 1
                return potential(params)

            super().__init__(*args, potential_fn=counted, **kwargs)
            self.given_inverse_mass = given_inverse_mass
            self.records: list[tuple[int, float, float, int]] = []

        def _initialize_adapter(self) -> None:
            super()._initialize_adapter()
            if self.given_inverse_mass is not None:
                self.mass_matrix_adapter.inverse_mass_matrix = {("u",): self.given_inverse_mass}
                if self._adapter.adapt_step_size:
                    self._adapter.reset_step_size_adaptation(self._initial_params)

        def sample(self, params: dict[str, Any]) -> dict[str, Any]:
            before = self.evaluations
            diverged = len(getattr(self, "_divergences", []))
            out = super().sample(params)
            steps = self.evaluations - before
            new_div = len(getattr(self, "_divergences", [])) - diverged
            lp = -float(self._potential_energy_last)
            self.records.append((steps, float(self.step_size), lp, new_div))
            return out

    return Recorded


def run(
    log_density: Callable[[Any], Any],
    init: np.ndarray,
    inverse_mass_matrix: np.ndarray | None,
    settings: SamplerSettings,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample; returns unconstrained draws (chains, draws, k) and per-draw statistics."""
    s = settings
    import pyro
    from pyro.infer.mcmc import HMC, MCMC, NUTS

    chains, k = init.shape
    all_samples, all_stats = [], []
    with backend.using("torch", device=s.device) as be:
        def potential(params: dict[str, Any]) -> Any:
            return -log_density(params["u"])

        matrix = None
        if inverse_mass_matrix is not None:
            given = inverse_mass_matrix if s.dense_mass else np.diag(np.diag(inverse_mass_matrix))
            matrix = be.asarray(given if s.dense_mass else np.diag(given))
        for chain in range(chains):
            pyro.set_rng_seed(s.seed + chain)
            options: dict[str, Any] = {
                "potential_fn": potential,
                "full_mass": s.dense_mass,
                "adapt_mass_matrix": s.adapt_mass_matrix,
                "target_accept_prob": s.target_accept,
                "given_inverse_mass": matrix,
                "adapt_step_size": True,
            }
            if s.kernel == "nuts":
                sampler = _kernel_class(NUTS)(max_tree_depth=s.max_tree_depth, **options)
            else:
                sampler = _kernel_class(HMC)(num_steps=s.num_steps, trajectory_length=s.trajectory_length, **options)
            mcmc = MCMC(sampler, num_samples=s.draws, warmup_steps=s.warmup,
                        initial_params={"u": be.asarray(init[chain])}, disable_progbar=not s.progress)
            mcmc.run()
            u = mcmc.get_samples()["u"]
            all_samples.append(backend.to_numpy(u).reshape(s.draws, k))
            records = np.asarray(sampler.records[s.warmup:], dtype=np.float64).reshape(s.draws, 4)
            all_stats.append(records)
    samples = np.stack(all_samples)
    rec = np.stack(all_stats)
    steps = rec[..., 0].astype(np.int64)
    stats = {
        "diverging": rec[..., 3] > 0,
        "n_steps": steps,
        "tree_depth": tree_depth(steps),
        "step_size": rec[..., 1],
        "lp": rec[..., 2],
    }
    return samples, stats
