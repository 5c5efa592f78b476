"""NUTS whose lanes step independently (bayesphot.infer.lanes) against exact moments.

Each case samples several objects × chains in one vectorised program and compares
every object's draws with the exact mean and variance of its target, within
five Monte Carlo standard errors (ArviZ's, from the draws' own ESS).
"""

from __future__ import annotations

import arviz as az
import jax.numpy as jnp
import numpy as np
import pytest

from bayesphot.infer import lanes
from bayesphot.infer.settings import SamplerSettings


def settings(warmup: int = 200, draws: int = 800, max_tree_depth: int = 10, seed: int = 1) -> SamplerSettings:
    return SamplerSettings(kernel="nuts", dense_mass=True, adapt_mass_matrix=False, warmup=warmup, draws=draws,
                           seed=seed, device=None, progress=False, target_accept=0.8,
                           max_tree_depth=max_tree_depth, trajectory_length=None, num_steps=None)


def gaussian(params: dict, u: jnp.ndarray) -> jnp.ndarray:
    d = u - params["mean"]
    return -0.5 * d @ params["precision"] @ d


def banana(params: dict, u: jnp.ndarray) -> jnp.ndarray:
    """u₀ ~ N(0, 1), u₁ | u₀ ~ N(b u₀², 0.5²): E u₁ = b, Var u₁ = 0.25 + 2 b²."""
    return -0.5 * u[0] ** 2 - 0.5 * ((u[1] - params["b"] * u[0] ** 2) / 0.5) ** 2


def assert_moments(draws: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> None:
    """draws (chains, draws, k): mean and variance within 5 MCSE of the exact ones."""
    for i in range(draws.shape[-1]):
        x = draws[..., i]
        mcse_mean = float(az.mcse(x, method="mean"))
        mcse_sd = float(az.mcse(x, method="sd"))
        assert abs(x.mean() - mean[i]) < 5 * mcse_mean, (i, x.mean(), mean[i], mcse_mean)
        # the variance's standard error from the sd's: d(sd²) = 2 sd d(sd)
        assert abs(x.var() - variance[i]) < 5 * 2 * np.sqrt(variance[i]) * mcse_sd, (i, x.var(), variance[i])


@pytest.mark.parametrize("near", [True, False], ids=["near-metric", "identity-metric"])
def test_correlated_gaussians_in_one_program(near: bool) -> None:
    """Three correlated 3-d Gaussians (variances 0.01 to 9 along their axes), 4 chains each; the metric is
    the covariance × 1.3, or the identity (trees of tens of steps: the U-turn checks of every balanced
    level run)."""
    rng = np.random.default_rng(0)
    objects, chains, k = 3, 4, 3
    axes = np.linalg.qr(rng.normal(size=(objects, k, k)))[0]
    cov = axes @ np.diag([0.01, 1.0, 9.0]) @ axes.transpose(0, 2, 1)
    mean = rng.normal(size=(objects, k))
    params = {"mean": jnp.asarray(mean), "precision": jnp.asarray(np.linalg.inv(cov))}
    init = mean[:, None, :] + rng.normal(size=(objects, chains, k))
    s = settings()
    metric = cov * 1.3 if near else np.broadcast_to(np.eye(k), cov.shape).copy()
    records, loop_steps, _ = lanes.sample(gaussian, f"lanes-gaussian-{near}", params, init, metric, s, "test",
                                          tail_factor=None)
    assert records["z"].shape == (objects, chains, s.warmup + s.draws, k)
    kept = records["z"][:, :, s.warmup:]
    for o in range(objects):
        assert_moments(kept[o], mean[o], np.diag(cov[o]))
    steps = records["num_steps"]
    # every lane took at most the loop's steps; the loop took no more than the busiest lane needed
    # plus one call's worth (it stops at the first call after every lane has finished)
    assert steps.sum(axis=-1).max() <= loop_steps < steps.sum(axis=-1).max() + lanes.STEPS_PER_CALL
    assert np.all(steps >= 1) and not records["diverging"][:, :, s.warmup:].any()
    if not near:
        assert np.median(steps[:, :, s.warmup:]) >= 15  # deep trees were built
    # the adapted step size is the same for every draw after warm-up, and the acceptance near its target
    assert np.all(records["step_size"][:, :, s.warmup:] == records["step_size"][:, :, -1:])
    assert 0.7 < records["accept_prob"][:, :, s.warmup:].mean() < 0.95


def test_a_banana_and_a_capped_tree_depth() -> None:
    """A curved target (exact moments known), with trees capped at 2 levels (3 steps) in one program and
    uncapped in another: both sample it correctly; the capped one stops at the cap."""
    objects, chains = 2, 4
    b = np.array([0.5, 1.0])
    params = {"b": jnp.asarray(b)}
    init = np.zeros((objects, chains, 2)) + 0.1
    metric = np.broadcast_to(np.eye(2), (objects, 2, 2)).copy()
    for depth in (10, 2):
        s = settings(warmup=300, draws=1500, max_tree_depth=depth, seed=2)
        records, _, _ = lanes.sample(banana, "lanes-banana", params, init, metric, s, "test", tail_factor=None)
        kept = records["z"][:, :, s.warmup:]
        for o in range(objects):
            assert_moments(kept[o], np.array([0.0, b[o]]), np.array([1.0, 0.25 + 2 * b[o] ** 2]))
        assert records["num_steps"].max() <= 2 ** depth - 1
        if depth == 2:
            assert np.mean(records["num_steps"][:, :, s.warmup:] == 3) > 0.5


def test_diagonal_metric_and_the_momentum_factor() -> None:
    """A diagonal metric (objects, k) samples like the dense one; the momentum factor L has L Lᵀ = M."""
    rng = np.random.default_rng(3)
    inverse = rng.uniform(0.5, 2.0, size=(2, 3, 3))
    inverse = inverse @ inverse.transpose(0, 2, 1) + np.eye(3)
    root = lanes.momentum_root(inverse)
    np.testing.assert_allclose(root @ root.transpose(0, 2, 1), np.linalg.inv(inverse), rtol=1e-10)
    np.testing.assert_allclose(lanes.momentum_root(np.array([[4.0, 0.25]])), [[0.5, 2.0]])
    variance = np.array([[4.0, 0.25, 1.0]])
    params = {"mean": jnp.zeros((1, 3)), "precision": jnp.asarray(np.diag(1 / variance[0]))[None]}
    s = settings(draws=1500)
    records, _, _ = lanes.sample(gaussian, "lanes-diagonal", params, np.zeros((1, 4, 3)) + 0.5, variance, s, "test")
    assert_moments(records["z"][0, :, s.warmup:], np.zeros(3), variance[0])


def test_only_nuts_with_a_fixed_metric() -> None:
    from dataclasses import replace

    with pytest.raises(ValueError, match="fixed metric"):
        lanes.sample(gaussian, "x", {}, np.zeros((1, 1, 1)), np.ones((1, 1, 1)),
                     replace(settings(), adapt_mass_matrix=True), "test")


def test_stragglers_are_released_only_once_most_objects_are_done() -> None:
    total = 10
    iterations = np.array([[10, 10], [10, 10], [10, 4], [10, 10]])  # object 2 lags: 100 steps an iteration
    spent = np.array([[50, 60], [55, 50], [50, 400], [50, 52]])
    # the loop at 400 steps, the slowest lane 6 iterations × 100 steps from its end: 1000 > 2 × median 51
    assert lanes.stragglers(iterations, spent, 400, total).tolist() == [2]
    # a lane one iteration (10 steps) from its end: 90 + 10 ≤ 2 × median 51, waited for
    near_end = np.array([[10, 10], [10, 10], [10, 9], [10, 10]])
    assert lanes.stragglers(near_end, np.array([[50, 60], [55, 50], [90, 50], [50, 52]]), 90, total).size == 0
    half = np.array([[10, 10], [10, 10], [10, 4], [3, 10]])
    assert lanes.stragglers(half, spent, 400, total).size == 0  # only half of the objects are done
    assert lanes.stragglers(np.full((4, 2), 10), spent, 400, total).size == 0  # all done


def test_an_object_far_behind_the_rest_is_released_unfinished() -> None:
    """Four Gaussians in one program; the last has the identity as its metric while its variances span 10⁴
    (trees of hundreds of steps): it is released, the others finish with exact moments."""
    rng = np.random.default_rng(5)
    objects, chains, k = 4, 2, 3
    variances = np.array([[1.0, 2.0, 0.5]] * 3 + [[1e-4, 1e-2, 1.0]])
    params = {"mean": jnp.zeros((objects, k)), "precision": jnp.asarray([np.diag(1 / v) for v in variances])}
    metric = np.array([np.diag(v) for v in variances[:3]] + [np.eye(k)])
    init = rng.normal(size=(objects, chains, k)) * np.sqrt(variances)[:, None, :]
    s = settings(warmup=100, draws=600)
    records, loop_steps, released = lanes.sample(gaussian, "lanes-straggler", params, init, metric, s, "test")
    assert released.tolist() == [3]
    spent = records["num_steps"].sum(axis=-1)
    # released once the others had finished, at the first check after (the straggler's pace projected far
    # past twice the median lane)
    assert loop_steps < spent[:3].max() + lanes.STEPS_PER_CALL
    for o in range(3):
        assert_moments(records["z"][o, :, s.warmup:], np.zeros(k), variances[o])
    # without release the same program runs until the straggler is through
    records, everything, released = lanes.sample(gaussian, "lanes-straggler", params, init, metric, s, "test",
                                                 tail_factor=None)
    assert released.size == 0 and everything > 2 * loop_steps
    assert_moments(records["z"][3, :, s.warmup:], np.zeros(k), variances[3])


@pytest.mark.slow
def test_lanes_and_numpyros_kernel_agree_on_real_stamps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Six 64² Sérsic + sky stamps of ``benchmarks/sampling.py`` (bounded parameters, the Laplace metric),
    sampled in one vectorised program (forced) by both engines: every parameter's posterior mean agrees
    within 4 combined MCSE (root mean square of the 54 z-scores below 1.5) and its sd within 20 %.
    Measured once with 8 stamps: max |z| 2.4, rms 0.78, no sd off by more than 15 %."""
    import sys
    from pathlib import Path

    import bayesphot as bp
    from bayesphot.infer import _numpyro

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from sampling import stamp

    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: True)
    runs = {}
    for engine in ("lanes", "lockstep"):
        if engine == "lockstep":
            monkeypatch.setattr(_numpyro, "lanes_apart", lambda settings: False)
        runs[engine] = bp.infer.NUTS([stamp(1000 + i) for i in range(6)], chains=4, warmup=200, draws=500,
                                     seed=11, progress=False).run()
    assert all("program_steps" in p.attrs for p in runs["lanes"])
    assert not any("program_steps" in p.attrs for p in runs["lockstep"])
    z = []
    for a, b in zip(runs["lanes"], runs["lockstep"], strict=True):
        mcse_a, mcse_b = az.mcse(a.idata), az.mcse(b.idata)
        for name in a.idata.posterior.data_vars:
            z.append((a.mean(name) - b.mean(name)) / np.hypot(float(mcse_a[name]), float(mcse_b[name])))
            assert a.sd(name) == pytest.approx(b.sd(name), rel=0.2), name
    z = np.array(z)
    assert np.abs(z).max() < 4 and np.sqrt(np.mean(z ** 2)) < 1.5, z


def test_a_time_limit_in_the_warm_up_raises_and_after_it_keeps_the_common_draws() -> None:
    """The limit is checked between compiled calls: hit during warm-up it raises (no draws to keep); hit
    after it, every lane's first common number of iterations is kept and the run says it was limited."""
    from dataclasses import replace

    from bayesphot.errors import SamplingTimeLimitError

    params = {"mean": jnp.zeros((2, 2)), "precision": jnp.asarray([np.eye(2)] * 2)}
    init = np.full((2, 2, 2), 0.3)
    metric = np.array([np.eye(2)] * 2)
    base = settings(warmup=2000, draws=200)
    with pytest.raises(SamplingTimeLimitError, match="during warm-up"):
        lanes.sample(gaussian, "lanes-limit", params, init, metric, replace(base, time_limit=1e-9), "test")
    # a warm-up of 10 iterations is over within the first call (128 steps, ≥ 1 per iteration and lane)
    short = replace(settings(warmup=10, draws=100_000), time_limit=1e-9)
    records, steps, released = lanes.sample(gaussian, "lanes-limit", params, init, metric, short, "test")
    kept, asked, limited = records["_interrupted"]
    assert limited == 1 and asked == 100_000 and 0 < kept < 128 and released.size == 0
    assert records["z"].shape[2] == 10 + kept and steps == lanes.STEPS_PER_CALL


def truncated(params: dict, u: jnp.ndarray) -> jnp.ndarray:
    """A standard normal where u₀ ≤ 1, undefined (NaN) beyond: the sampler must treat NaN as a divergence."""
    return jnp.where(u[0] > 1.0, jnp.nan, -0.5 * jnp.sum(u ** 2)) + 0.0 * params["dummy"]


def test_an_undefined_density_is_a_divergence_not_a_place_to_wander() -> None:
    """Trajectories into the NaN region end there, so the draws are those of the normal truncated at
    u₀ = 1 (mean −φ(1)/Φ(1) = −0.2876, variance 0.6297).  A chain that starts where the density is
    undefined has an undefined energy error at every step: each counts as a divergence (as numpyro
    counts a NaN), so that lane's trees end at once instead of running to 1023 steps through NaNs."""
    from math import erf, exp, pi, sqrt

    phi, cdf = exp(-0.5) / sqrt(2 * pi), 0.5 * (1 + erf(1 / sqrt(2)))
    mean0, var0 = -phi / cdf, 1 - phi / cdf - (phi / cdf) ** 2
    params = {"dummy": jnp.zeros(2)}
    s = settings(warmup=200, draws=1500, seed=4)
    init = np.zeros((2, 4, 2)) - 0.5
    init[0, 0] = [2.0, 0.0]  # undefined there
    records, _, _ = lanes.sample(truncated, "lanes-truncated", params, init, np.array([np.eye(2)] * 2), s,
                                 "test", tail_factor=None)
    assert_moments(records["z"][1, :, s.warmup:], np.array([mean0, 0.0]), np.array([var0, 1.0]))
    # relative to an infinite start energy every point weighs nothing: the lane stays put (r̂ will say
    # so), ending each tree at its first divergence (one or two steps; before, trees of 1023 steps)
    assert records["num_steps"][0, 0].max() <= 3 and records["diverging"][0, 0].mean() > 0.5
    assert np.all(records["z"][0, 0] == [2.0, 0.0])
    assert records["diverging"][1, :, s.warmup:].any()


def test_the_step_size_averaging_restarts_where_numpyros_does() -> None:
    """After the ends of numpyro's middle adaptation windows: 99 and 149 of 200; none for a short warm-up."""
    assert np.flatnonzero(lanes.restart_schedule(200, 700)).tolist() == [99, 149]
    assert np.flatnonzero(lanes.restart_schedule(500, 1000)).tolist() == [99, 149, 249, 449]
    assert not lanes.restart_schedule(10, 20).any() and not lanes.restart_schedule(0, 5).any()
