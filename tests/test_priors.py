"""Priors: log-densities against scipy on both backends, validation, plain-data round trip."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from scipy import stats

import bayesphot as bp
from bayesphot.errors import ParameterError
from bayesphot.priors import prior_from_dict, prior_to_dict

CASES = [
    (bp.priors.Uniform(0.3, 8.0), stats.uniform(0.3, 7.7), [0.5, 2.0, 7.9]),
    (bp.priors.Normal(1.0, 0.5), stats.norm(1.0, 0.5), [-1.0, 1.0, 2.2]),
    (bp.priors.TruncatedNormal(1.0, 2.0, 0.0, 3.0), stats.truncnorm(-0.5, 1.0, 1.0, 2.0), [0.1, 1.5, 2.9]),
    (bp.priors.LogNormal(0.5, 0.3), stats.lognorm(0.3, scale=math.exp(0.5)), [0.5, 1.6, 4.0]),
    (bp.priors.HalfNormal(2.0), stats.halfnorm(scale=2.0), [0.01, 1.0, 5.0]),
]


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
@pytest.mark.parametrize(("prior", "reference", "xs"), CASES, ids=[type(c[0]).__name__ for c in CASES])
def test_log_prob_matches_scipy(prior: bp.priors.Prior, reference, xs: list[float], backend_name: str) -> None:
    with bp.backend.using(backend_name) as be:
        for x in xs:
            got = float(bp.backend.to_numpy(prior.log_prob(be.asarray(x))))
            assert got == pytest.approx(reference.logpdf(x), rel=1e-10)
        total = float(bp.backend.to_numpy(prior.log_prob(be.asarray(xs))))
    assert total == pytest.approx(reference.logpdf(xs).sum(), rel=1e-10)


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
@pytest.mark.parametrize("kappa", [0.0, 2.0, 45.0])
def test_von_mises_on_period_pi(kappa: float, backend_name: str) -> None:
    prior = bp.priors.VonMises(loc=0.3, concentration=kappa, period=math.pi)
    # angle θ = 2x on the full circle; the density in x is twice scipy's density in θ
    reference = stats.vonmises(kappa, loc=0.6)
    with bp.backend.using(backend_name) as be:
        for x in (0.0, 0.3, 1.2, 3.0):
            got = float(bp.backend.to_numpy(prior.log_prob(be.asarray(x))))
            theta = np.angle(np.exp(2j * x))
            assert got == pytest.approx(reference.logpdf(theta) + math.log(2.0), rel=1e-9, abs=1e-9)
    # normalised over one period
    grid = np.linspace(0.0, math.pi, 20001)
    with bp.backend.using("jax") as be:
        logp = np.array([float(prior.log_prob(be.asarray(g))) for g in grid[::200]])
    assert np.trapezoid(np.exp(logp), grid[::200]) == pytest.approx(1.0, rel=1e-3)


@pytest.mark.parametrize(
    "build",
    [
        lambda: bp.priors.Uniform(2.0, 1.0),
        lambda: bp.priors.Normal(0.0, 0.0),
        lambda: bp.priors.TruncatedNormal(0.0, -1.0),
        lambda: bp.priors.TruncatedNormal(0.0, 1.0, 3.0, 2.0),
        lambda: bp.priors.LogNormal(0.0, 0.0),
        lambda: bp.priors.HalfNormal(-2.0),
        lambda: bp.priors.VonMises(0.0, -1.0),
    ],
)
def test_invalid_priors_raise(build) -> None:
    with pytest.raises(ParameterError, match="prior needs"):
        build()


def test_support() -> None:
    assert bp.priors.Uniform(0.3, 8.0).support() == (0.3, 8.0)
    assert bp.priors.HalfNormal(1.0).support() == (0.0, None)
    assert bp.priors.Normal(0.0, 1.0).support() == (None, None)


@pytest.mark.parametrize("prior", [c[0] for c in CASES] + [bp.priors.VonMises(0.1, 3.0)])
def test_plain_data_round_trip(prior: bp.priors.Prior) -> None:
    state = prior_to_dict(prior)
    assert yaml.safe_load(yaml.safe_dump(state)) == state
    assert prior_from_dict(state) == prior


def test_numpy_numbers_become_plain_floats() -> None:
    state = prior_to_dict(bp.priors.Normal(np.float64(1.5), np.float32(0.5)))
    assert yaml.safe_load(yaml.safe_dump(state)) == {"type": "Normal", "loc": 1.5, "scale": 0.5}


def test_unknown_prior_type() -> None:
    assert prior_from_dict(None) is None
    with pytest.raises(ParameterError, match="unknown prior type 'Cauchy'"):
        prior_from_dict({"type": "Cauchy", "loc": 0.0})
    with pytest.raises(ParameterError, match="cannot build a Normal prior"):
        prior_from_dict({"type": "Normal", "mean": 0.0})
