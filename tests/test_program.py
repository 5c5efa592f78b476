"""The probabilistic program: log-density bookkeeping, PPL equivalence, priors in numpyro/pyro, defaults."""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
from scipy import stats

import bayesphot as bp
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig

CHEAP = QuadratureConfig(block=0, mid_block=0)


def make_group(seed: int = 0, n: int = 12, zeropoint: float | None = 25.0, with_priors: bool = True) -> bp.Model:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n]
    truth = 10.0 + 120.0 * np.exp(-((xx - 5.6) ** 2 + ((yy - 6.2) / 0.7) ** 2) / (2 * 1.6**2))
    data = truth + rng.normal(0.0, 3.0, truth.shape)
    target = bp.TargetImage(data, variance=np.full(truth.shape, 9.0), zeropoint=zeropoint)
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=CHEAP,
                   priors={"n": bp.priors.Uniform(0.36, 10.0)} if with_priors else None)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group.initialize()
    return group


def unconstrained_dict(program: Program, u: np.ndarray, to: callable) -> dict:
    return {name: to(piece) for (name, _), piece in zip(program.free.entries, program.free._pieces(u), strict=True)}


def test_log_density_is_minus_map_objective_plus_log_jacobian() -> None:
    """log p(u | d) = −map_objective(θ(u)) + log|dθ/du|, the Jacobian from finite differences of the transforms."""
    group = make_group()
    program = Program(group, priors=bp.models.default_priors(group))
    rng = np.random.default_rng(1)
    u0 = program.free.unconstrained()
    for _ in range(3):
        u = u0 + 0.1 * rng.standard_normal(u0.size)
        # independent log-Jacobian: central differences of each forward transform
        jac = 0.0
        h = 1e-6
        for (_, param), piece in zip(program.free.entries, program.free._pieces(u), strict=True):
            forward = param.transform.forward
            d = (np.asarray(forward(piece + h)) - np.asarray(forward(piece - h))) / (2 * h)
            jac += float(np.sum(np.log(np.abs(d))))
        got = float(program.log_density(u))
        expected = -float(program.map_objective(u)) + jac
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-6)


def test_map_objective_against_numpy_chi2_and_scipy_priors() -> None:
    """map_objective = χ²/2 − log-normalisation − Σ log prior, every piece recomputed with numpy/scipy."""
    group = make_group()
    priors = bp.models.default_priors(group)
    program = Program(group, priors=priors)
    u = program.free.unconstrained()
    target = group.target
    image = np.asarray(group.render())
    resid = (target.data - image) / np.sqrt(target.variance)
    chi2 = float(np.sum(resid**2))
    log_norm = -0.5 * np.sum(np.log(2 * math.pi * target.variance))
    lp = 0.0
    assert set(program.priors) == set(priors) | {"gal:n"}  # n keeps its own prior
    for name, prior in program.priors.items():
        x = float(group[name].value)
        d = prior.to_dict()
        kind = d["type"]
        if kind == "Normal":
            lp += stats.norm(d["loc"], d["scale"]).logpdf(x)
        elif kind == "LogNormal":
            lp += stats.lognorm(d["scale"], scale=math.exp(d["loc"])).logpdf(x)
        elif kind == "Uniform":
            lp += stats.uniform(d["low"], d["high"] - d["low"]).logpdf(x)
        elif kind == "VonMises":
            lp += -math.log(d["period"])  # κ = 0: uniform on the circle
    expected = 0.5 * chi2 - log_norm - lp
    assert float(program.map_objective(u)) == pytest.approx(expected, rel=1e-8)
    # the per-pixel terms add up to the total
    assert float(np.sum(program.pointwise_log_likelihood(u))) == pytest.approx(float(program.log_likelihood(u)),
                                                                               rel=1e-12)


@pytest.mark.parametrize("likelihood", ["gaussian", "poisson"])
def test_numpyro_and_pyro_potential_equal_minus_log_density(likelihood: str) -> None:
    """The PPL program, run by numpyro (JAX) and pyro (torch), has potential −log_density (same constant)."""
    import jax.numpy as jnp
    import numpyro
    import pyro
    import torch
    from numpyro.infer.util import potential_energy
    from pyro.infer.mcmc.util import initialize_model

    group = make_group()
    if likelihood == "poisson":
        # counts: shift the data positive and round (the sky keeps the model positive)
        data = np.round(np.clip(group.target.data, 0, None) + 5.0)
        target = bp.TargetImage(data, zeropoint=25.0)
        sky = bp.Model("sky", "flat sky model", target=target)
        gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=CHEAP)
        group = bp.Model("g", "group", models=[sky, gal], target=target)
        group.initialize()
    program = Program(group, likelihood=likelihood, priors=bp.models.default_priors(group))
    rng = np.random.default_rng(3)
    u0 = program.free.unconstrained()
    points = [u0 + 0.05 * rng.standard_normal(u0.size) for _ in range(2)]
    expected = [-float(program.log_density(u)) for u in points]
    model_np = functools.partial(program.ppl_model, numpyro)
    got_np = [float(potential_energy(model_np, (), {}, unconstrained_dict(program, u, jnp.asarray))) for u in points]
    _, potential_fn, _, _ = initialize_model(functools.partial(program.ppl_model, pyro))
    got_pyro = [float(potential_fn(unconstrained_dict(program, u, torch.as_tensor))) for u in points]
    np.testing.assert_allclose(got_np, expected, rtol=1e-9)
    np.testing.assert_allclose(got_pyro, expected, rtol=1e-9)


def test_program_sites_and_deterministic_flux() -> None:
    """Site names are "child:param"; total flux matches scipy's b_n formula; mag from the zero-point."""
    import numpyro
    from numpyro import handlers

    from bayesphot.profiles.sersic import sersic_total_flux

    group = make_group()
    program = Program(group)
    trace = handlers.trace(handlers.seed(functools.partial(program.ppl_model, numpyro), 0)).get_trace()
    samples = [k for k, v in trace.items() if v["type"] == "sample" and not v["is_observed"]]
    assert samples == program.free.names
    assert trace["obs"]["is_observed"] and trace["obs"]["value"].shape == (program.n_pixels,)
    p = {k: float(group[k].value) for k in group.parameters}
    flux = sersic_total_flux(p["gal:Ie"], p["gal:Re"], p["gal:n"], p["gal:q"])
    assert float(trace["gal:flux"]["value"]) == pytest.approx(flux, rel=1e-9)
    assert float(trace["gal:mag"]["value"]) == pytest.approx(25.0 - 2.5 * math.log10(flux), rel=1e-12)


def test_derived_flux_of_gaussian_and_moffat() -> None:
    """Gaussian: flux parameter; Moffat: π q Rd² I0/(β−1), checked by direct 2-D quadrature of the profile."""
    from scipy import integrate

    target = bp.TargetImage(np.zeros((9, 9)))
    gm = bp.Model("m", "moffat galaxy model", target=target, x=4.0, y=4.0, q=0.6, PA=0.3, n=2.5, Rd=1.2, I0=3.0)
    gg = bp.Model("s", "gaussian galaxy model", target=target, x=4.0, y=4.0, q=0.6, PA=0.3, sigma=1.0, flux=7.0)
    group = bp.Model("g", "group", models=[gm, gg], target=target)
    program = Program(group)
    derived = program.derived(program.free.unconstrained())
    radial = lambda r: 3.0 * (1 + (r / 1.2) ** 2) ** -2.5
    numeric = 0.6 * integrate.quad(lambda r: 2 * math.pi * r * radial(r), 0, np.inf)[0]
    assert float(derived["m:flux"]) == pytest.approx(numeric, rel=1e-8)
    # the Gaussian's flux is a free parameter (its own sample site), so it is not repeated as a derived one
    assert "s:flux" not in derived
    assert float(program.free.values(program.free.unconstrained())["s:flux"]) == pytest.approx(7.0)
    assert "m:mag" not in derived  # no zero-point on this target


PRIORS = [
    (bp.priors.Uniform(0.3, 8.0), [0.5, 2.0, 7.9]),
    (bp.priors.Normal(1.0, 0.5), [-1.0, 1.0, 2.2]),
    (bp.priors.TruncatedNormal(1.0, 2.0, 0.0, 3.0), [0.1, 1.5, 2.9]),
    (bp.priors.TruncatedNormal(1.0, 2.0, 0.5, None), [0.6, 1.5, 9.0]),
    (bp.priors.LogNormal(0.5, 0.3), [0.5, 1.6, 4.0]),
    (bp.priors.HalfNormal(2.0), [0.01, 1.0, 5.0]),
    (bp.priors.VonMises(0.3, 2.0, math.pi), [0.1, 1.5, 3.0]),
    (bp.priors.VonMises(0.0, 0.0, math.pi), [0.1, 2.5]),
]


@pytest.mark.parametrize("ppl", ["numpyro", "pyro"])
@pytest.mark.parametrize(("prior", "xs"), PRIORS, ids=[f"{type(p).__name__}{i}" for i, (p, _) in enumerate(PRIORS)])
def test_to_ppl_log_prob_matches_prior(prior: bp.priors.Prior, xs: list[float], ppl: str) -> None:
    """Same density in numpyro/pyro as bayesphot's own log_prob (itself checked against scipy elsewhere)."""
    dist = bp.priors.to_ppl(prior, ppl)
    for x in xs:
        if ppl == "numpyro":
            import jax.numpy as jnp

            got = float(dist.log_prob(jnp.asarray(x)))
            own = float(prior.log_prob(jnp.asarray(x)))
        else:
            import torch

            got = float(dist.log_prob(torch.tensor(x, dtype=torch.float64)))
            with bp.backend.using("torch"):
                own = float(prior.log_prob(torch.tensor(x, dtype=torch.float64)))
        # torch's von Mises uses a polynomial log I0(κ) good to ~1e-8 (Abramowitz & Stegun 9.8)
        rel = 1e-7 if (ppl == "pyro" and isinstance(prior, bp.priors.VonMises)) else 1e-9
        assert got == pytest.approx(own, rel=rel, abs=1e-12)


@pytest.mark.parametrize("ppl", ["numpyro", "pyro"])
def test_to_ppl_samples_follow_prior(ppl: str) -> None:
    """Draws of the PPL distributions have the prior's mean and sd (Monte-Carlo tolerance 5σ)."""
    prior = bp.priors.TruncatedNormal(1.0, 2.0, 0.0, 3.0)
    ref = stats.truncnorm(-0.5, 1.0, 1.0, 2.0)
    dist = bp.priors.to_ppl(prior, ppl)
    n = 20000
    import jax

    if ppl == "numpyro":
        x = np.asarray(dist.sample(jax.random.PRNGKey(0), (n,)))
    else:
        import torch

        torch.manual_seed(0)
        x = dist.sample((n,)).numpy()
    assert x.min() >= 0.0 and x.max() <= 3.0
    assert abs(x.mean() - ref.mean()) < 5 * ref.std() / math.sqrt(n)
    assert abs(x.std() - ref.std()) < 5 * ref.std() / math.sqrt(2 * n)
    # von Mises on period π, concentrated at 3.0 (near the wrap): circular mean and circular variance
    kappa = 8.0
    vm = bp.priors.to_ppl(bp.priors.VonMises(3.0, kappa, math.pi), ppl)
    if ppl == "numpyro":
        y = np.asarray(vm.sample(jax.random.PRNGKey(1), (n,)))
    else:
        y = vm.sample((n,)).numpy()
    assert y.min() >= 0.0 and y.max() < math.pi
    z = np.exp(2j * y)
    from scipy.special import i0, i1

    assert abs(np.angle(z.mean()) / 2 % math.pi - 3.0) < 0.01
    assert abs(abs(z.mean()) - i1(kappa) / i0(kappa)) < 5 / math.sqrt(n)


def test_default_priors_follow_documented_rules() -> None:
    group = make_group(with_priors=False)
    priors = bp.models.default_priors(group)
    assert set(priors) == set(group.parameters)
    assert priors["gal:q"] == bp.priors.Uniform(0.0, 1.0)
    assert priors["gal:n"] == bp.priors.Uniform(0.36, 10.0)
    assert priors["gal:PA"] == bp.priors.VonMises(0.0, 0.0, math.pi)
    re = float(group["gal:Re"].value)
    assert priors["gal:Re"].loc == pytest.approx(math.log(re)) and priors["gal:Re"].scale == pytest.approx(math.log(10))
    assert isinstance(priors["gal:Ie"], bp.priors.LogNormal)
    assert priors["gal:x"] == bp.priors.Normal(float(group["gal:x"].value), 0.25 * 12)
    sky = float(group["sky:I"].value)
    assert priors["sky:I"] == bp.priors.Normal(sky, abs(sky) + 10 * 3.0)
    # explicit priors are kept, fixed parameters skipped
    group["gal:n"].prior = bp.priors.Normal(2.0, 0.5)
    group["gal:q"].fixed = True
    again = bp.models.default_priors(group)
    assert "gal:n" not in again and "gal:q" not in again


def test_program_rejects_priors_for_unknown_parameters() -> None:
    group = make_group()
    with pytest.raises(bp.errors.FitError, match="not free"):
        Program(group, priors={"gal:nope": bp.priors.Normal(0, 1)})
