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
    *,
    kernel: str,
    dense_mass: bool,
    adapt_mass_matrix: bool,
    warmup: int,
    draws: int,
    seed: int,
    device: str | None,
    progress: bool,
    target_accept: float,
    max_tree_depth: int,
    trajectory_length: float | None,
    num_steps: int | None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample; returns unconstrained draws (chains, draws, k) and per-draw statistics."""
    import pyro
    from pyro.infer.mcmc import HMC, MCMC, NUTS

    chains, k = init.shape
    all_samples, all_stats = [], []
    with backend.using("torch", device=device) as be:
        def potential(params: dict[str, Any]) -> Any:
            return -log_density(params["u"])

        matrix = None
        if inverse_mass_matrix is not None:
            given = inverse_mass_matrix if dense_mass else np.diag(np.diag(inverse_mass_matrix))
            matrix = be.asarray(given if dense_mass else np.diag(given))
        for chain in range(chains):
            pyro.set_rng_seed(seed + chain)
            options: dict[str, Any] = {
                "potential_fn": potential,
                "full_mass": dense_mass,
                "adapt_mass_matrix": adapt_mass_matrix,
                "target_accept_prob": target_accept,
                "given_inverse_mass": matrix,
                "adapt_step_size": True,
            }
            if kernel == "nuts":
                sampler = _kernel_class(NUTS)(max_tree_depth=max_tree_depth, **options)
            else:
                sampler = _kernel_class(HMC)(num_steps=num_steps, trajectory_length=trajectory_length, **options)
            mcmc = MCMC(sampler, num_samples=draws, warmup_steps=warmup,
                        initial_params={"u": be.asarray(init[chain])}, disable_progbar=not progress)
            mcmc.run()
            u = mcmc.get_samples()["u"]
            all_samples.append(backend.to_numpy(u).reshape(draws, k))
            records = np.asarray(sampler.records[warmup:], dtype=np.float64).reshape(draws, 4)
            all_stats.append(records)
    samples = np.stack(all_samples)
    rec = np.stack(all_stats)
    steps = rec[..., 0].astype(np.int64)
    stats = {
        "diverging": rec[..., 3] > 0,
        "n_steps": steps,
        "tree_depth": np.ceil(np.log2(steps + 1)).astype(np.int64),
        "step_size": rec[..., 1],
        "lp": rec[..., 2],
    }
    return samples, stats
