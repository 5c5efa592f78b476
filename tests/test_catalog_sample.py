"""Laplace draws of a catalog group with an element on a limit: held at the MAP, the rest sane.

Reference: the inverse of the Hessian block of the other elements (numpy), at the same point.
"""

import dataclasses
import warnings

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.catalog.sample import sample_posterior
from bayesphot.fit.laplace import invert_hessian
from bayesphot.fit.lm import Problem


def _fitted_group(seed: int, size: int, truth: dict, start: dict):
    """A Gaussian galaxy ``truth`` in unit noise on a ``size``² image, fitted by LM from ``start`` as a group."""
    rng = np.random.default_rng(seed)
    blank = bp.TargetImage(np.zeros((size, size)))
    image = np.asarray(bp.Model("g", "gaussian galaxy model", target=blank, **truth).render())
    target = bp.TargetImage(image + rng.normal(0.0, 1.0, (size, size)), variance=np.ones((size, size)))
    g = bp.Model("g", "gaussian galaxy model", target=target, **start)
    group = bp.Model("grp", "group", models=[g], target=target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = bp.fit.LM(group).fit()
    return group, fit


def test_laplace_draws_hold_an_element_on_a_limit_at_the_map():
    group, fit = _fitted_group(1, 25, dict(x=12.2, y=11.7, q=1.0, PA=0.3, sigma=2.0, flux=2000.0),
                               dict(x=12.0, y=12.0, q=0.8, PA=0.5, sigma=2.5, flux=1500.0))
    # the round source's q pushed onto its upper limit (logistic transform: no curvature left in u)
    iq = fit.labels.index("g:q")
    u = np.array(fit.u, dtype=float)
    u[iq] = 30.0
    problem = Problem(group)
    mu, jac = problem.linearize(u)
    hessian, _ = problem.normal_equations(u, mu, jac)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full, _ = invert_hessian(hessian)  # what LM reports there: enormous along q (and, by rounding, elsewhere)
    at_limit = dataclasses.replace(fit, u=u, covariance_unconstrained=full, at_limit=["g:q"])
    sampled = sample_posterior(group, at_limit, "laplace", 400, 0)
    post = sampled.idata.posterior
    assert any("g:q" in issue and "held" in issue for issue in sampled.issues)
    assert np.all(post["g:q"].values == post["g:q"].values.ravel()[0])
    keep = [i for i in range(u.size) if i != iq]
    expected = np.sqrt(np.diag(np.linalg.inv(hessian[np.ix_(keep, keep)])))
    for i, name in zip(keep, [fit.labels[i] for i in keep], strict=True):
        draws = post[name].values.ravel()
        assert np.all(np.isfinite(draws)), name
        if name in ("g:x", "g:y"):  # identity transform: the sd in u is the sd of the draws
            assert np.std(draws) == pytest.approx(expected[i if i < iq else i - 1], rel=0.15), name
    assert np.all(np.isfinite(post["g:flux"].values))


def test_a_sampler_issue_flags_only_the_sources_it_names():
    """r̂ / ESS / at-a-limit messages flag the sources whose parameters they name (the sky's: all);
    divergences and saturated trees concern the joint sampler and flag every source."""
    from bayesphot.catalog.sample import issues_of_source

    issues = [
        "r_hat > 1.01 for s12:n (1.030), s12:Re (1.020)",
        "bulk ESS below 100 for s3:x (40)",
        "at a limit, held at the MAP in the Laplace draws: s1:n",
        "r_hat > 1.01 for sky:I (1.020)",
        "4 divergent transitions after warm-up (divergent draws deviate most in s12:n)",
        "2.0% of draws hit the maximum tree depth 10 (slowest-mixing: s3:q); the mass matrix may be poor",
    ]
    group_wide = issues[3:]
    assert issues_of_source(issues, "s12") == [issues[0], *group_wide]
    assert issues_of_source(issues, "s3") == [issues[1], *group_wide]
    assert issues_of_source(issues, "s1") == [issues[2], *group_wide]
    assert issues_of_source(issues, "s2") == group_wide      # s2 is not s12's suffix


def test_nuts_draws_of_a_catalog_group_keep_the_total_log_likelihood_per_draw():
    """The catalog's NUTS path: draws whose position sd matches the Laplace σ (numpy inverse of LM's
    Hessian), and the log-likelihood kept as its total per draw, equal to its value recomputed there."""
    from bayesphot.program import Program

    group, fit = _fitted_group(2, 21, dict(x=10.2, y=9.7, q=0.7, PA=0.3, sigma=2.0, flux=3000.0),
                               dict(x=10.0, y=10.0, q=0.8, PA=0.4, sigma=2.5, flux=2500.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampled = sample_posterior(group, fit, "nuts", 600, 0, chains=2, warmup=150)
    assert sampled.sampler == "nuts"
    assert "obs" not in sampled.idata.log_likelihood
    post = sampled.idata.posterior
    program = Program(group)
    names = program.free.names
    u = program.to_unconstrained({n: post[n].values[1, 11] for n in names})
    assert float(sampled.idata.log_likelihood["obs_total"].values[1, 11]) == pytest.approx(
        float(program.log_likelihood(u)), rel=1e-9)
    problem = Problem(group)
    mu, jac = problem.linearize(np.asarray(fit.u, dtype=float))
    hessian, _ = problem.normal_equations(np.asarray(fit.u, dtype=float), mu, jac)
    sigma = np.sqrt(np.diag(np.linalg.inv(hessian)))
    for name in ("g:x", "g:y"):  # identity transforms: σ in u is σ of the draws; 600 draws: ≈ 4 % MC error
        assert np.std(post[name].values) == pytest.approx(sigma[fit.labels.index(name)], rel=0.2), name
