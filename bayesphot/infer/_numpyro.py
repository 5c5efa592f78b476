"""Run HMC/NUTS on the flat unconstrained vector with numpyro (JAX)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from .settings import SamplerSettings, tree_depth

EXTRA_FIELDS = ("diverging", "num_steps", "energy", "adapt_state.step_size", "potential_energy", "accept_prob")


def run(
    log_density: Callable[[Any], Any],
    init: np.ndarray,
    inverse_mass_matrix: np.ndarray | None,
    settings: SamplerSettings,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sample; returns unconstrained draws (chains, draws, k) and per-draw statistics."""
    s = settings
    import jax
    import jax.numpy as jnp
    from numpyro.infer import HMC, MCMC, NUTS

    chains = init.shape[0]
    with backend.using("jax", device=s.device) as be:
        def potential(u: Any) -> Any:
            return -log_density(u)

        options: dict[str, Any] = {
            "potential_fn": potential,
            "dense_mass": s.dense_mass,
            "adapt_mass_matrix": s.adapt_mass_matrix,
            "target_accept_prob": s.target_accept,
        }
        if inverse_mass_matrix is not None:
            matrix = inverse_mass_matrix if s.dense_mass else np.diag(inverse_mass_matrix)
            options["inverse_mass_matrix"] = jnp.asarray(matrix)
        if s.kernel == "nuts":
            sampler = NUTS(max_tree_depth=s.max_tree_depth, **options)
        else:
            sampler = HMC(num_steps=s.num_steps, trajectory_length=s.trajectory_length, **options)
        if chains > 1 and jax.local_device_count() >= chains:
            method = "parallel"
        else:
            method = "vectorized"
        mcmc = MCMC(sampler, num_warmup=s.warmup, num_samples=s.draws, num_chains=chains, chain_method=method,
                    progress_bar=s.progress)
        init_params = be.asarray(init if chains > 1 else init[0])
        mcmc.run(jax.random.PRNGKey(s.seed), init_params=init_params, extra_fields=EXTRA_FIELDS)
        samples = np.asarray(mcmc.get_samples(group_by_chain=True), dtype=np.float64)
        extra = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    steps = extra["num_steps"].astype(np.int64)
    stats = {
        "diverging": extra["diverging"].astype(bool),
        "n_steps": steps,
        "tree_depth": tree_depth(steps),
        "energy": extra["energy"].astype(np.float64),
        "step_size": extra["adapt_state.step_size"].astype(np.float64),
        "lp": -extra["potential_energy"].astype(np.float64),
        "acceptance_rate": extra["accept_prob"].astype(np.float64),
    }
    return samples, stats
