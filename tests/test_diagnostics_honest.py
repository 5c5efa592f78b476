"""Diagnostics never claim "ok" without evidence, and values from a doubtful posterior say so.

References: draws simulated with known behaviour (iid normal; a chain that
jumps between two modes half-way; a chain that never moves).
"""

from __future__ import annotations

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.infer.posterior import Posterior, diagnose, from_dict_compat
from bayesphot.infer.samplers import write_back
from bayesphot.program import Program


def _posterior(draws: np.ndarray, name: str = "sky:I") -> Posterior:
    idata = from_dict_compat({"posterior": {name: draws},
                              "sample_stats": {"diverging": np.zeros(draws.shape[:2], dtype=bool)}}, {},
                             {"parameters": f'["{name}"]'})
    return Posterior(idata=idata, names=[name])


def test_one_chain_rhat_is_computed_from_its_halves() -> None:
    rng = np.random.default_rng(0)
    assert diagnose(_posterior(rng.normal(size=(1, 400))), min_ess=10, warn=False) == []
    # two modes visited one after the other: before, r_hat was NaN and the posterior "ok"
    drift = np.concatenate([rng.normal(0.0, 1.0, 200), rng.normal(3.0, 1.0, 200)])[None]
    issues = diagnose(_posterior(drift), min_ess=1, warn=False)
    assert any("r_hat > 1.01 (split halves of the one chain)" in text for text in issues)
    # a chain that never moved: r_hat is not computable, which is an issue, not "ok"
    with np.errstate(all="ignore"):
        issues = diagnose(_posterior(np.ones((1, 400))), min_ess=1, warn=False)
    assert any("r_hat not computable" in text for text in issues)


def test_values_from_a_doubtful_posterior_are_marked() -> None:
    target = bp.TargetImage(np.random.default_rng(1).normal(3.0, 1.0, size=(8, 8)))
    sky = bp.Model("sky", "flat sky model", target=target, I=3.0)
    group = bp.Model("g", "group", models=[sky], target=target)
    program = Program(group)
    bad = _posterior(np.concatenate([np.full(100, 2.0), np.full(100, 4.0)])[None] +
                     np.random.default_rng(2).normal(0, 0.01, (1, 200)))
    bad.issues = diagnose(bad, min_ess=1, warn=False)
    assert not bad.ok
    write_back(group, program, bad)
    assert float(sky["I"].value) == pytest.approx(3.0, abs=0.01)
    assert "posterior not converged" in str(group)  # before: printed as a clean mean ± sd
    good = _posterior(np.random.default_rng(3).normal(3.0, 0.1, (2, 200)))
    good.issues = diagnose(good, min_ess=1, warn=False)
    assert good.ok
    write_back(group, program, good)
    assert "not converged" not in str(group)


def test_sampler_start_reuses_the_fit_covariance() -> None:
    from bayesphot.fit.result import last_fit
    from bayesphot.infer.start import prepare

    rng = np.random.default_rng(5)
    target = bp.TargetImage(rng.normal(3.0, 0.5, size=(10, 10)), variance=np.full((10, 10), 0.25))
    sky = bp.Model("sky", "plane sky model", target=target, I=2.0, dIdx=0.0, dIdy=0.0)
    result = bp.fit.LM(sky).fit()
    program = Program(sky, priors=bp.models.default_priors(sky))
    start = prepare(sky, program, "auto")  # before: an uncompiled exact Hessian (53–85 s on real models)
    assert start.message == "current values (fitted earlier)" and start.source == "fit covariance"
    np.testing.assert_allclose(start.inverse_mass_matrix, result.covariance_unconstrained, rtol=1e-12)
    sky["I"].value = 2.5  # the model moved since the fit: its covariance no longer applies
    assert last_fit(sky, program.free.labels(), program.free.transforms, program.free.unconstrained()) is None


def test_a_posterior_lists_an_unresolved_pixel_rule_among_its_issues() -> None:
    """What the pixel-rule choice found (a profile narrower than the rules resolve, carried by the posterior's
    ``quadrature_issues`` attribute, which the samplers fill from their model) is an issue of the posterior,
    also once read back from a file; a posterior without it has none."""
    import json

    line = "pixel integration of gal uncertain to at least 2.4e-04 of its peak pixel"
    draws = np.random.default_rng(3).normal(3.0, 0.1, (2, 200))
    idata = from_dict_compat({"posterior": {"sky:I": draws},
                              "sample_stats": {"diverging": np.zeros(draws.shape, dtype=bool)}}, {},
                             {"parameters": '["sky:I"]', "quadrature_issues": json.dumps([line])})
    post = Posterior(idata=idata, names=["sky:I"])
    assert diagnose(post, min_ess=1, warn=False) == [line]
    assert diagnose(_posterior(draws), min_ess=1, warn=False) == []
