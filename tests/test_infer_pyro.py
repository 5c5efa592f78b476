"""The same program sampled by pyro (torch) and numpyro (JAX) gives the same posterior."""

from __future__ import annotations

import arviz as az
import numpy as np
import pytest

import bayesphot as bp
from bayesphot.render import QuadratureConfig

CHEAP = QuadratureConfig(block=0, mid_block=0)


def small_group(seed: int = 5) -> bp.Model:
    """10 × 10 pixels: flat sky + elliptical Gaussian with free centre, width and flux (5 parameters)."""
    n = 10
    blank = bp.TargetImage(np.zeros((n, n)))
    truth = {"x": 4.6, "y": 5.2, "q": 0.7, "PA": 0.5, "sigma": 1.4, "flux": 300.0}
    image = np.asarray(bp.Model("t", "gaussian galaxy model", target=blank, quadrature=CHEAP, **truth).render())
    rng = np.random.default_rng(seed)
    data = 4.0 + image + rng.normal(0.0, 1.5, (n, n))
    target = bp.TargetImage(data, variance=np.full((n, n), 1.5**2))
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "gaussian galaxy model", target=target, quadrature=CHEAP,
                   q={"value": 0.7, "fixed": True}, PA={"value": 0.5, "fixed": True})
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group.initialize()
    return group


def test_pyro_and_numpyro_agree() -> None:
    """Means within 4 combined MCSE, standard deviations within 15 %, default priors on both."""
    group = small_group()
    ref = bp.infer.NUTS(group, chains=2, warmup=200, draws=1000, seed=0, progress=False).run()
    group = small_group()
    post = bp.infer.NUTS(group, backend="pyro", chains=1, warmup=100, draws=500, seed=0, progress=False).run()
    assert post.attrs["backend"] == "pyro" and ref.attrs["backend"] == "numpyro"
    names = ["sky:I", "gal:x", "gal:y", "gal:sigma", "gal:flux"]
    mcse_ref = az.mcse(ref.idata, var_names=names)
    mcse_pyro = az.mcse(post.idata, var_names=names)
    for name in names:
        tol = 4.0 * np.hypot(float(mcse_ref[name]), float(mcse_pyro[name]))
        assert abs(post.draws(name).mean() - ref.draws(name).mean()) < tol, name
        assert post.draws(name).std() == pytest.approx(ref.draws(name).std(), rel=0.15), name
    # pyro's statistics are recorded too
    for stat in ("diverging", "tree_depth", "step_size", "lp"):
        assert stat in post.idata.sample_stats
    assert int(post.idata.sample_stats["diverging"].sum()) == 0
    # lp is the program's log-density at the draw
    from bayesphot.program import Program

    program = Program(group, priors=bp.models.default_priors(small_group()))
    u = program.to_unconstrained({n: post.idata.posterior[n].values[0, 7] for n in names})
    assert float(post.idata.sample_stats["lp"].values[0, 7]) == pytest.approx(float(program.log_density(u)),
                                                                              rel=1e-6)
