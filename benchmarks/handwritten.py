"""The baseline a user would write by hand: a numpyro Sérsic + sky model, centre-sampled pixels.

No pixel integration (each pixel is the profile at its centre), b_n from the
Ciotti & Bertin (1999, A&A 352, 447) asymptotic series, optional PSF by FFT
convolution (``jax.scipy.signal.fftconvolve``, same size), uniform priors on
broad ranges, numpyro's default NUTS (diagonal mass matrix adapted during
warm-up), started where the user's rough guesses put it (``init``: in
``benchmarks/sampling.py`` the moment-based values bayesphot's ``initialize()``
finds, the start of bayesphot's own LM) or, without them, from numpyro's default
(uniform in [−2, 2] unconstrained, which on a 64² image can leave every chain
far from the galaxy: 280 s and a bulk ESS of 1 were measured so).
Used by ``benchmarks/sampling.py`` as the side-by-side reference.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np


def _b_n(n: Any) -> Any:
    # Ciotti & Bertin (1999) eq. 18, good to < 1e-4 for n > 0.36
    return 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)


def model_fn(data: np.ndarray, sigma: float, psf: np.ndarray | None) -> Any:
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from jax.scipy.signal import fftconvolve

    rows, cols = data.shape
    yy, xx = jnp.mgrid[0:rows, 0:cols].astype(jnp.float64)
    psf_j = None if psf is None else jnp.asarray(psf)
    obs = jnp.asarray(data)

    def model() -> None:
        x = numpyro.sample("x", dist.Uniform(0.0, cols - 1.0))
        y = numpyro.sample("y", dist.Uniform(0.0, rows - 1.0))
        q = numpyro.sample("q", dist.Uniform(0.05, 1.0))
        pa = numpyro.sample("PA", dist.Uniform(0.0, jnp.pi))
        n = numpyro.sample("n", dist.Uniform(0.36, 8.0))
        re = numpyro.sample("Re", dist.LogUniform(0.3, cols))
        ie = numpyro.sample("Ie", dist.LogUniform(1e-3, 1e4))
        sky = numpyro.sample("sky", dist.Normal(float(np.median(data)), 10.0 * sigma))
        dx, dy = xx - x, yy - y
        u = -dx * jnp.sin(pa) + dy * jnp.cos(pa)   # along the major axis
        v = dx * jnp.cos(pa) + dy * jnp.sin(pa)
        r = jnp.sqrt(u * u + (v / q) ** 2 + 1e-12)
        image = ie * jnp.exp(-_b_n(n) * ((r / re) ** (1.0 / n) - 1.0))
        if psf_j is not None:
            image = fftconvolve(image, psf_j, mode="same")
        numpyro.sample("obs", dist.Normal(image + sky, sigma), obs=obs)

    return model


def run(data: np.ndarray, sigma: float, psf: np.ndarray | None, warmup: int, draws: int, chains: int,
        seed: int, init: dict[str, float] | None = None) -> dict[str, Any]:
    """Sample with numpyro's defaults (from ``init`` when given); wall time includes compilation and warm-up."""
    import arviz as az
    import jax
    from numpyro.infer import MCMC, NUTS, init_to_uniform, init_to_value

    t0 = time.perf_counter()
    strategy = init_to_value(values=init) if init else init_to_uniform()
    mcmc = MCMC(NUTS(model_fn(data, sigma, psf), init_strategy=strategy), num_warmup=warmup, num_samples=draws,
                num_chains=chains, chain_method="vectorized", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(seed), extra_fields=("num_steps", "diverging"))
    samples = mcmc.get_samples(group_by_chain=True)
    jax.block_until_ready(samples)
    wall = time.perf_counter() - t0
    idata = az.from_dict(posterior={k: np.asarray(v) for k, v in samples.items()})
    names = list(samples)
    ess = az.ess(idata, method="bulk")
    extra = mcmc.get_extra_fields(group_by_chain=True)
    steps = np.asarray(extra["num_steps"])
    min_ess = min(float(np.min(ess[n].values)) for n in names)
    return {
        "config": "handwritten-numpyro", "backend": "numpyro (hand-written, centre-sampled)", "chains": chains,
        "warmup": warmup, "draws": draws, "wall_s": wall, "start_s": 0.0, "min_bulk_ess": min_ess,
        "ess_per_s": min_ess / wall, "worst": min(names, key=lambda n: float(np.min(ess[n].values))),
        "mean_tree_depth": float(np.mean(np.ceil(np.log2(steps + 1)))), "mean_steps": float(np.mean(steps)),
        "divergences": int(np.asarray(extra["diverging"]).sum()),
        "means": {n: float(np.mean(v)) for n, v in samples.items()}, "issues": [],
    }
