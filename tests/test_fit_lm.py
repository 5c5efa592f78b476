"""Levenberg–Marquardt MAP fits: convergence, Laplace covariance, limits, Poisson, priors, derived values.

References are independent of the code under test: the truth of noiseless
images, finite-difference Jacobians (numpy), scipy's minimiser on a
numpy-written Cash statistic, Monte Carlo draws from the covariance, and
closed-form prior posteriors.
"""

import math
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize

import bayesphot as bp
from bayesphot.fit.engine import LeafEngine
from bayesphot.program import FreeParameters, Program
from bayesphot.render import QuadratureConfig

TRUTH = {"x": 15.3, "y": 16.8, "q": 0.6, "PA": 0.7, "n": 1.5, "Re": 4.0, "Ie": 20.0}
# one fixed pixel rule for the data and the fit: "auto" chooses by the current values, so the truth's render
# and the start's could use different rules and a noiseless fit would not reach χ² = 0
QUAD = QuadratureConfig()


def render(truth: dict, shape=(32, 32), model_type="sersic galaxy model") -> np.ndarray:
    blank = bp.TargetImage(data=np.zeros(shape), variance=np.ones(shape), pixelscale=1.0)
    return np.asarray(bp.Model("t", model_type, target=blank, quadrature=QUAD, **truth).render())


def noisy_target(seed=0, sigma=1.0, shape=(32, 32)) -> bp.TargetImage:
    rng = np.random.default_rng(seed)
    image = render(TRUTH, shape) + rng.normal(0.0, sigma, shape)
    return bp.TargetImage(data=image, variance=np.full(shape, sigma**2), pixelscale=1.0)


def start_model(target, **over) -> bp.Model:
    start = {"x": 15.0, "y": 17.5, "q": 0.75, "PA": 0.5, "n": 2.0, "Re": 3.0, "Ie": 12.0, **over}
    return bp.Model("gal", "sersic galaxy model", target=target, quadrature=QUAD, **start)


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
def test_noiseless_fit_recovers_truth(backend_name):
    shape = (32, 32) if backend_name == "jax" else (20, 20)
    with bp.backend.using(backend_name):
        target = bp.TargetImage(data=render(TRUTH, shape), variance=np.full(shape, 0.01), pixelscale=1.0)
        gal = start_model(target)
        result = bp.fit.LM(gal).fit()
    assert result.success, result.message
    assert result.chi2 < 1e-8
    for key, value in TRUTH.items():
        assert float(gal[key].value) == pytest.approx(value, rel=1e-6, abs=1e-7), key
        assert gal[key].uncertainty is not None and float(gal[key].uncertainty) > 0


def test_result_fields_and_verbose_output(capsys):
    target = noisy_target()
    gal = start_model(target)
    result = bp.fit.LM(gal, verbose=1).fit()
    out = capsys.readouterr().out
    assert "chi2/ndf" in out and "lambda" in out
    assert result.message == "success" and result.success and result.converged_by in ("gradient", "chi2 change", "step")
    assert result.labels == ["x", "y", "q", "PA", "n", "Re", "Ie"]
    assert result.ndf == 32 * 32 - 7
    assert result.chi2_ndf == pytest.approx(result.chi2 / result.ndf)
    assert result.covariance_unconstrained.shape == (7, 7)
    assert isinstance(result.u, np.ndarray)
    # the model holds the MAP: recompute χ² independently from the stored values
    model_img = np.asarray(gal.render())
    assert np.sum((target.data - model_img) ** 2 / target.variance) == pytest.approx(result.chi2, rel=1e-9)
    corr = result.correlation
    assert np.allclose(np.diag(corr), 1.0) and np.all(np.abs(corr) <= 1 + 1e-12)
    assert result.covariance["x", "x"] == pytest.approx(float(gal["x"].uncertainty) ** 2, rel=1e-12)
    table = result.covariance.to_table()
    assert list(table["name"]) == result.labels


def test_max_iterations_is_reported():
    gal = start_model(noisy_target())
    result = bp.fit.LM(gal, max_iterations=1, restarts=0).fit()
    assert result.message == "max iterations reached"
    assert not result.success


def test_covariance_matches_finite_difference_gauss_newton():
    """Autodiff JᵀWJ at the MAP against a central-difference Jacobian in numpy."""
    target = noisy_target(seed=3)
    gal = start_model(target)
    result = bp.fit.LM(gal).fit()
    program = Program(gal)
    u = result.u
    be = bp.backend.current()

    def resid(v):
        return np.asarray(program.residuals(be.asarray(v)))

    jac = np.empty((resid(u).size, u.size))
    for i in range(u.size):
        h = 1e-5 * max(1.0, abs(u[i]))
        e = np.zeros_like(u)
        e[i] = h
        jac[:, i] = (resid(u + e) - resid(u - e)) / (2 * h)
    cov_fd = np.linalg.inv(jac.T @ jac)
    assert np.allclose(result.covariance_unconstrained, cov_fd, rtol=1e-4, atol=1e-10 * np.abs(cov_fd).max())
    # parameter-space covariance = D Σ_u D
    d = FreeParameters(gal).derivative(u)
    assert np.allclose(result.covariance.matrix, cov_fd * np.outer(d, d), rtol=1e-4,
                       atol=1e-10 * np.abs(cov_fd * np.outer(d, d)).max())


def test_bad_start_of_q_and_pa_does_not_end_on_a_limit():
    target = noisy_target(seed=5)
    gal = start_model(target, q=0.9999, PA=TRUTH["PA"] + math.pi / 2)
    result = bp.fit.LM(gal).fit()
    assert result.success and result.at_limit == []
    assert float(gal["q"].value) == pytest.approx(TRUTH["q"], abs=5 * float(gal["q"].uncertainty))
    dpa = (float(gal["PA"].value) - TRUTH["PA"] + math.pi / 2) % math.pi - math.pi / 2
    assert abs(dpa) < 5 * float(gal["PA"].uncertainty)


def test_round_galaxy_reports_q_at_its_limit():
    truth = {**TRUTH, "q": 1.0}
    shape = (32, 32)
    target = bp.TargetImage(data=render(truth, shape), variance=np.ones(shape), pixelscale=1.0)
    gal = start_model(target, q=0.8)
    result = bp.fit.LM(gal).fit()
    assert "q" in result.at_limit
    assert float(gal["q"].value) > 0.999


def test_singular_hessian_warns_and_gives_finite_covariance():
    shape = (16, 16)
    rng = np.random.default_rng(0)
    target = bp.TargetImage(data=3.0 + rng.normal(size=shape), variance=np.ones(shape), pixelscale=1.0)
    a = bp.Model("a", "flat sky model", target=target, I=1.0)
    b = bp.Model("b", "flat sky model", target=target, I=1.0)  # degenerate with a
    group = bp.Model("g", "group", models=[a, b], target=target)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = bp.fit.LM(group).fit()
    assert any(issubclass(w.category, bp.fit.SingularHessianWarning) for w in caught)
    assert result.singular
    assert np.all(np.isfinite(result.covariance.matrix))
    # the sum is determined: I_a + I_b = mean of the data, with σ² = 1/N (pseudo-inverse keeps it)
    total = float(a["I"].value) + float(b["I"].value)
    assert total == pytest.approx(target.data.mean(), rel=1e-8)
    var_sum = np.ones(2) @ result.covariance.matrix @ np.ones(2)
    assert var_sum == pytest.approx(1.0 / target.data.size, rel=1e-6)


def test_poisson_fit_matches_scipy_on_cash_statistic():
    shape = (24, 24)
    truth = {"x": 11.6, "y": 12.2, "q": 0.7, "PA": 1.1, "Re": 3.5, "Ie": 30.0}
    rng = np.random.default_rng(7)
    mu_true = render(truth, shape, "exponential galaxy model") + 5.0
    counts = rng.poisson(mu_true).astype(float)
    target = bp.TargetImage(data=counts, variance=np.ones(shape), pixelscale=1.0)
    sky = bp.Model("sky", "flat sky model", target=target, I=4.0)
    gal = bp.Model("gal", "exponential galaxy model", target=target, x=12.0, y=12.0, q=0.8, PA=0.9, Re=3.0, Ie=20.0)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    result = bp.fit.LM(group, likelihood="poisson").fit()
    assert result.success, result.message
    program = Program(group, likelihood="poisson")
    be = bp.backend.current()
    image = be.jit(program.model_image)

    def cash(v):  # independent numpy Cash statistic of the model image
        mu = np.asarray(image(be.asarray(v)))
        if np.any(mu <= 0):
            return np.inf
        safe = np.where(counts > 0, counts, 1.0)
        return 2.0 * np.sum(mu - counts + np.where(counts > 0, counts * np.log(safe / mu), 0.0))

    assert cash(result.u) == pytest.approx(result.chi2, rel=1e-10)
    ref = minimize(cash, result.u + 0.01, method="Nelder-Mead",
                   options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 20000, "maxfev": 20000})
    assert result.chi2 <= ref.fun + 1e-6  # LM at least as good as the reference minimiser
    sigma_u = np.sqrt(np.diag(result.covariance_unconstrained))
    assert np.all(np.abs(ref.x - result.u) < 0.05 * sigma_u)


def test_normal_prior_gives_the_conjugate_posterior():
    """Flat sky with N pixels of σ=1 and a Normal(m, s) prior on I: posterior mean and σ in closed form."""
    shape = (10, 10)
    rng = np.random.default_rng(2)
    data = 4.0 + rng.normal(size=shape)
    target = bp.TargetImage(data=data, variance=np.ones(shape), pixelscale=1.0)
    m, s = 2.0, 0.2
    sky = bp.Model("sky", "flat sky model", target=target, I=0.0, priors={"I": bp.priors.Normal(m, s)})
    result = bp.fit.LM(sky).fit()
    n = data.size
    post_var = 1.0 / (n + 1.0 / s**2)
    post_mean = post_var * (data.sum() + m / s**2)
    assert float(sky["I"].value) == pytest.approx(post_mean, rel=1e-8)
    assert float(sky["I"].uncertainty) == pytest.approx(math.sqrt(post_var), rel=1e-8)
    assert result.objective == pytest.approx(result.chi2 + ((post_mean - m) / s) ** 2 + 2 * math.log(s)
                                             + math.log(2 * math.pi), rel=1e-10)


def test_derived_quantities_propagate_full_covariance():
    """Magnitude of the total flux of an exponential (closed form) against Monte Carlo from the covariance."""
    shape = (32, 32)
    truth = {"x": 15.5, "y": 16.2, "q": 0.6, "PA": 0.4, "Re": 4.0, "Ie": 10.0}
    rng = np.random.default_rng(11)
    target = bp.TargetImage(data=render(truth, shape, "exponential galaxy model") + rng.normal(size=shape),
                            variance=np.ones(shape), pixelscale=1.0, zeropoint=22.5)
    gal = bp.Model("gal", "exponential galaxy model", target=target, **{**truth, "Re": 3.0, "Ie": 14.0})
    result = bp.fit.LM(gal).fit()
    b1 = 1.678346990
    zp = target.zeropoint

    def flux(v):  # L = 2π q h² I0 = 2π q (Re/b1)² Ie e^{b1}
        return 2 * math.pi * v["q"] * (v["Re"] / b1) ** 2 * v["Ie"] * math.exp(b1)

    def mag(v):
        xp = bp.backend.namespace(v["Re"])
        return zp - 2.5 * xp.log10(flux(v))

    d_flux = result.derived(flux)
    d_mag = result.derived(mag)
    draws = rng.multivariate_normal(np.array([float(gal[k].value) for k in result.names]),
                                    result.covariance.matrix, size=200000)
    named = {k: draws[:, i] for i, k in enumerate(result.names)}
    mc_flux = 2 * np.pi * named["q"] * (named["Re"] / b1) ** 2 * named["Ie"] * np.exp(b1)
    assert d_flux.value == pytest.approx(flux({k: float(gal[k].value) for k in result.names}), rel=1e-12)
    assert d_flux.sigma == pytest.approx(mc_flux.std(), rel=0.03)
    assert d_mag.sigma == pytest.approx((2.5 / math.log(10)) * d_flux.sigma / d_flux.value, rel=1e-8)
    # the full covariance matters: the diagonal alone gives a different answer here
    g = np.array([d_flux.value / float(gal["q"].value), 0, 0, 0, 2 * d_flux.value / float(gal["Re"].value),
                  d_flux.value / float(gal["Ie"].value)])
    order = [result.names.index(k) for k in ["q", "x", "y", "PA", "Re", "Ie"]]
    cov = result.covariance.matrix[np.ix_(order, order)]
    diag_only = math.sqrt(np.sum(g**2 * np.diag(cov)))
    assert abs(diag_only - d_flux.sigma) > 0.05 * d_flux.sigma
    # evaluated at the MAP even after the model moved (a sampler writes posterior means back)
    gal["Re"].value = 2.0 * float(gal["Re"].value)
    assert result.derived(flux).value == pytest.approx(d_flux.value, rel=1e-12)


def test_chunked_and_shared_jacobians_agree():
    target = noisy_target()
    truth = {k: v for k, v in TRUTH.items() if k != "n"}
    gal = bp.Model("gal", "exponential galaxy model", target=target, window=[[3, 29], [5, 27]], **truth)
    u = FreeParameters(gal).unconstrained()
    full = LeafEngine(gal, share=False)
    chunked = LeafEngine(gal, chunk_size=3, share=False)
    shared = LeafEngine(gal, share=True)
    tiny_memory = LeafEngine(gal, max_memory=1, share=False)
    assert chunked.chunk_size == 3 and tiny_memory.chunk_size == 1
    ref = full.jacobian(u)
    assert np.allclose(chunked.jacobian(u), ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    assert np.allclose(shared.jacobian(u), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())
    assert np.allclose(shared.value(u), full.value(u), rtol=1e-12, atol=1e-12)
    # and against the Program's own image
    prog = Program(gal)
    img = np.asarray(prog.model_image(bp.backend.current().asarray(u)))
    assert np.allclose(full.value(u), img, rtol=1e-12, atol=1e-12)
