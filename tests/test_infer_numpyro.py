"""NUTS/HMC on numpyro: analytic linear-Gaussian posterior, Laplace agreement, priors act, ArviZ output, diagnostics."""

from __future__ import annotations

import json
import math
import warnings

import arviz as az
import jax
import numpy as np
import pytest

import bayesphot as bp
from bayesphot.infer import SamplingWarning
from bayesphot.infer.posterior import Posterior, diagnose, from_dict_compat
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig

CHEAP = QuadratureConfig(block=0, mid_block=0)
FIXED = lambda v: {"value": v, "fixed": True}


# --------------------------------------------------------------- analytic
def linear_problem(seed: int = 4) -> tuple[bp.Model, np.ndarray, np.ndarray]:
    """Flat sky + fixed-shape Gaussian source, Gaussian priors on I and flux: a linear-Gaussian model.

    Returns the group and the exact posterior mean and covariance of (sky I, flux), from
    P = AᵀWA + T⁻¹, m = P⁻¹ (AᵀW d + T⁻¹ μ) with A = [1, template].
    """
    n, sigma_pix = 16, 2.0
    rng = np.random.default_rng(seed)
    blank = bp.TargetImage(np.zeros((n, n)), variance=np.full((n, n), sigma_pix**2))
    shape = {"x": FIXED(7.3), "y": FIXED(8.1), "q": FIXED(0.7), "PA": FIXED(0.4), "sigma": FIXED(1.8)}
    template = np.asarray(bp.Model("t", "gaussian galaxy model", target=blank, flux=1.0, quadrature=CHEAP,
                                   **{k: v["value"] for k, v in shape.items()}).render())
    data = 12.0 + 400.0 * template + rng.normal(0.0, sigma_pix, (n, n))
    target = bp.TargetImage(data, variance=np.full((n, n), sigma_pix**2))
    prior_sky, prior_flux = bp.priors.Normal(10.0, 3.0), bp.priors.Normal(350.0, 40.0)
    sky = bp.Model("sky", "flat sky model", target=target, priors={"I": prior_sky})
    src = bp.Model("src", "gaussian galaxy model", target=target, quadrature=CHEAP, priors={"flux": prior_flux},
                   **shape)
    group = bp.Model("g", "group", models=[sky, src], target=target)
    group.initialize()
    A = np.stack([np.ones(n * n), template.ravel()], axis=1)
    W = 1.0 / sigma_pix**2
    Tinv = np.diag([1 / 3.0**2, 1 / 40.0**2])
    precision = W * A.T @ A + Tinv
    cov = np.linalg.inv(precision)
    mean = cov @ (W * A.T @ data.ravel() + Tinv @ np.array([10.0, 350.0]))
    return group, mean, cov


@pytest.mark.parametrize("kernel", ["NUTS", "HMC", "HMC-5-steps"])
def test_linear_gaussian_posterior_matches_exact(kernel: str) -> None:
    """Also HMC with a fixed number of leapfrog steps: its step size must be the adapted one (numpyro's
    default trajectory of 2π used to fix it at 2π / num_steps: every proposal rejected, step size → 0)."""
    group, mean, cov = linear_problem()
    sampler = bp.infer.NUTS if kernel == "NUTS" else bp.infer.HMC
    steps = {"num_steps": 5} if kernel == "HMC-5-steps" else {}
    # HMC also exercises the summed log-likelihood path (lp − log prior − log-Jacobian, no rendering)
    limit = 10_000_000 if kernel == "NUTS" else 1
    post = sampler(group, chains=2, warmup=300, draws=1500, seed=1, progress=False, priors=None,
                   pointwise_limit=limit, **steps).run()
    if steps:
        assert np.all(post.idata.sample_stats["n_steps"].values == 5)
    names = ["sky:I", "src:flux"]
    program = Program(group)
    u = program.to_unconstrained({n: post.idata.posterior[n].values[1, 3] for n in names})
    stored = post.idata.log_likelihood["obs" if kernel == "NUTS" else "obs_total"].values[1, 3]
    assert float(np.sum(stored)) == pytest.approx(float(program.log_likelihood(u)), rel=1e-9)
    draws = np.stack([post.draws(n) for n in names], axis=1)
    mcse = az.mcse(post.idata, var_names=names)
    for i, name in enumerate(names):
        assert abs(draws[:, i].mean() - mean[i]) < 4 * float(mcse[name]), name
        assert draws[:, i].std() == pytest.approx(math.sqrt(cov[i, i]), rel=0.08), name
    rho_exact = cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])
    assert abs(rho_exact) > 0.3  # the test has teeth: sky and flux are correlated
    assert np.corrcoef(draws.T)[0, 1] == pytest.approx(rho_exact, abs=0.06)
    assert post.ok, post.issues


def test_hmc_refuses_both_a_trajectory_length_and_a_number_of_steps() -> None:
    group, _, _ = linear_problem()
    with pytest.raises(bp.errors.FitError, match="not both"):
        bp.infer.HMC(group, trajectory_length=1.0, num_steps=4)


def test_a_trajectory_whose_momentum_overflows_is_rejected() -> None:
    """HMC with far too large a step (what warm-up's step-size search tries): the trajectories blow up, and
    the momentum's kinetic energy overflows. numpyro's dot product gave −∞ for some (a fused multiply-add
    of one overflowed term of each sign), which accepted the proposal: chains jumped 3 × 10⁴ σ away and
    stayed. Every proposal must stay near the posterior or be rejected."""
    import jax.numpy as jnp
    from numpyro.infer.hmc_util import euclidean_kinetic_energy

    from bayesphot.infer._numpyro import _kernel, finite_kinetic_energy
    from bayesphot.infer.settings import SamplerSettings

    group, mean, cov = linear_problem()
    program = Program(group, priors=bp.infer.HMC(group)._priors(group))
    lowered = program.lower("log_density")
    u_mode = program.to_unconstrained({"sky:I": mean[0], "src:flux": mean[1]})
    scale = np.array([1.0, 1.0 / mean[1]])  # flux is log-transformed: its u is log(flux)
    inverse_mass = jnp.asarray(cov * np.outer(scale, scale))
    settings = SamplerSettings(kernel="hmc", dense_mass=True, adapt_mass_matrix=False, warmup=0, draws=1, seed=0,
                               device=None, progress=False, target_accept=0.8, max_tree_depth=10,
                               trajectory_length=None, num_steps=5)
    init_kernel, sample_kernel = _kernel(lowered.evaluator(), settings)
    state = init_kernel(jnp.asarray(u_mode), num_warmup=0, step_size=3.19, adapt_step_size=False,
                        inverse_mass_matrix=inverse_mass, dense_mass=True, num_steps=5, trajectory_length=None,
                        model_args=(lowered.params,), rng_key=jax.random.PRNGKey(0))
    step = jax.jit(lambda st: sample_kernel(st, model_args=(lowered.params,)))
    sky = []
    for _ in range(200):
        state = step(state)
        sky.append(float(state.z[0]))
    sigma = math.sqrt(cov[0, 0])
    assert max(abs(value - mean[0]) for value in sky) < 10 * sigma
    # the guard itself: an overflowed momentum has infinite energy; ordinary ones keep numpyro's value
    overflowed = jnp.asarray([-3.9e128, -1.4e256])
    assert float(jax.jit(finite_kinetic_energy)(inverse_mass, overflowed)) == math.inf
    ordinary = jnp.asarray([0.3, -1.2])
    expected = float(euclidean_kinetic_energy(inverse_mass, ordinary))
    assert float(finite_kinetic_energy(inverse_mass, ordinary)) == expected


# ------------------------------------------------------ a Sérsic posterior
TRUTH = {"x": 7.4, "y": 8.2, "q": 0.6, "PA": 0.02, "n": 1.5, "Re": 2.5, "Ie": 60.0}


def sersic_group(seed: int = 11) -> bp.Model:
    n = 16
    blank = bp.TargetImage(np.zeros((n, n)))
    image = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, quadrature=CHEAP, **TRUTH).render())
    rng = np.random.default_rng(seed)
    data = 5.0 + image + rng.normal(0.0, 2.0, (n, n))
    target = bp.TargetImage(data, variance=np.full((n, n), 4.0), zeropoint=24.0)
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=CHEAP)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group.initialize()
    return group


def laplace_sigma(program: Program, u: np.ndarray) -> dict[str, float]:
    """1σ from the Hessian of map_objective in *parameter* space (not the sampler's u-space matrix)."""
    theta0 = np.array([float(v) for v in program.free.values(u).values()])
    entries = program.free.entries

    def objective(theta: jax.Array) -> jax.Array:
        pieces = [param.transform.inverse(theta[i:i + 1]) for i, (_, param) in enumerate(entries)]
        return program.map_objective(jax.numpy.concatenate(pieces))

    hessian = np.asarray(jax.hessian(objective)(theta0))
    sigma = np.sqrt(np.diag(np.linalg.inv(hessian)))
    return dict(zip(program.free.names, sigma, strict=True))


@pytest.fixture(scope="module")
def sersic_run() -> tuple[bp.Model, Posterior, dict[str, float], np.ndarray]:
    group = sersic_group()
    post = bp.infer.NUTS(group, chains=2, warmup=200, draws=600, seed=2, progress=False, priors=None).run()
    program = Program(group)
    u_map = np.asarray(json.loads(post.attrs["map_u"]))
    return group, post, laplace_sigma(program, u_map), u_map


def test_posterior_sd_matches_laplace_on_well_constrained_sersic(sersic_run) -> None:
    _group, post, sigma, _ = sersic_run
    for name in ["sky:I", "gal:x", "gal:y", "gal:q", "gal:PA", "gal:n", "gal:Re", "gal:Ie"]:
        assert post.sd(name) == pytest.approx(sigma[name], rel=0.2), name


def test_posterior_written_back_with_circular_mean(sersic_run) -> None:
    group, post, sigma, _ = sersic_run
    pa = group["gal:PA"]
    # the truth sits at the wrap (0.02 rad): a linear mean of wrapped draws would land near π/2
    distance = abs((float(pa.value) - TRUTH["PA"] + math.pi / 2) % math.pi - math.pi / 2)
    assert distance < 4 * sigma["gal:PA"]
    assert 0.0 <= float(pa.value) < math.pi
    assert float(pa.uncertainty) == pytest.approx(sigma["gal:PA"], rel=0.2)
    stored = post.draws("gal:PA")
    assert stored.max() - stored.min() < 1.0  # unwrapped about the circular mean
    for name in ["gal:n", "gal:Re", "sky:I"]:
        assert float(group[name].value) == pytest.approx(post.draws(name).mean(), rel=1e-12)
        assert float(group[name].uncertainty) == pytest.approx(post.draws(name).std(ddof=1), rel=1e-12)
    assert "±" in str(group["gal:n"])


def test_inference_data_contents_and_netcdf_round_trip(sersic_run, tmp_path) -> None:
    group, post, _, _ = sersic_run
    idata = post.idata
    for grp in ("posterior", "sample_stats", "log_likelihood", "observed_data"):
        assert grp in idata.groups()
    names = list(group.parameters)
    assert all(name in idata.posterior for name in names)
    assert {"gal:flux", "gal:mag"} <= set(idata.posterior.data_vars)
    for stat in ("diverging", "tree_depth", "energy", "step_size", "lp"):
        assert stat in idata.sample_stats
    assert idata.log_likelihood["obs"].shape == (2, 600, 256)
    assert idata.observed_data["obs"].shape == (256,)
    # log-likelihood per draw = the program's at that draw
    program = Program(group)
    u = program.to_unconstrained({n: post.idata.posterior[n].values[0, 5] for n in names})
    assert float(idata.log_likelihood["obs"].values[0, 5].sum()) == pytest.approx(
        float(program.log_likelihood(u)), rel=1e-9)
    table = post.summary()
    assert set(names) <= set(table.index)
    path = post.to_netcdf(tmp_path / "post.nc")
    again = bp.infer.Posterior.from_netcdf(path)
    assert again.names == post.names
    np.testing.assert_allclose(again.draws("gal:n"), post.draws("gal:n"))
    assert again.mean("gal:PA") == pytest.approx(post.mean("gal:PA"))


def test_tight_prior_on_n_moves_the_posterior(sersic_run) -> None:
    """Normal prior as informative as the data, 3σ_L away: the mean moves to the precision-weighted average."""
    group, post, _, _ = sersic_run
    m_like, s_like = float(post.draws("gal:n").mean()), float(post.draws("gal:n").std())
    mu = m_like + 3.0 * s_like
    group["gal:n"].prior = bp.priors.Normal(mu, s_like)
    try:
        tight = bp.infer.NUTS(group, chains=2, warmup=200, draws=500, seed=3, progress=False, priors=None).run()
    finally:
        group["gal:n"].prior = None
    expected_mean = 0.5 * (m_like + mu)
    got = tight.draws("gal:n")
    assert abs(got.mean() - m_like) > 1.0 * s_like  # it moved
    assert got.mean() == pytest.approx(expected_mean, abs=0.3 * s_like)
    assert got.std() == pytest.approx(s_like / math.sqrt(2.0), rel=0.2)


# -------------------------------------------------------------- diagnostics
def fake_posterior(rng: np.random.Generator, *, shift: float = 0.0, walk: bool = False, diverge: int = 0,
                   depth: int = 3) -> Posterior:
    chains, draws = 2, 400
    a = rng.standard_normal((chains, draws))
    a[1] += shift
    b = rng.standard_normal((chains, draws))
    c = np.cumsum(rng.standard_normal((chains, draws)), axis=1) if walk else rng.standard_normal((chains, draws))
    div = np.zeros((chains, draws), dtype=bool)
    if diverge:
        div[0, :diverge] = True
        b[0, :diverge] += 3.0
    stats = {"diverging": div, "tree_depth": np.full((chains, draws), depth)}
    idata = from_dict_compat({"posterior": {"m:a": a, "m:b": b, "m:c": c}, "sample_stats": stats}, {}, {})
    return Posterior(idata=idata, names=["m:a", "m:b", "m:c"])


def test_diagnostics_name_the_parameters() -> None:
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clean = fake_posterior(rng)
        assert diagnose(clean) == []
    bad = fake_posterior(rng, shift=1.0, walk=True, diverge=20, depth=10)
    with pytest.warns(SamplingWarning) as record:
        issues = diagnose(bad, max_tree_depth=10)
    messages = [str(w.message) for w in record]
    assert messages == issues and len(issues) == 4
    assert "20 divergent" in issues[0] and "m:b" in issues[0].split("deviate most in")[1].split(",")[0]
    assert "r_hat" in issues[1] and "m:a" in issues[1] and "m:b" not in issues[1]
    assert "ESS" in issues[2] and "m:c" in issues[2]
    assert "tree depth" in issues[3] and "100.0%" in issues[3]
    bad.issues = issues
    assert not bad.ok
