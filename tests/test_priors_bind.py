"""A prior's support is part of the model: it binds fits and samplers, and values outside it are errors.

References: the prior's stated support, the truth of a simulated source (whose
flux lies outside the prior), and closed-form densities.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import FitError, ParameterError
from bayesphot.params import Transform
from bayesphot.program import FreeParameters, Program

SHAPE = (16, 16)
TRUTH = {"x": 7.3, "y": 8.1, "q": 0.8, "PA": 0.5, "sigma": 1.6, "flux": 20.0}


def _target() -> bp.TargetImage:
    blank = bp.TargetImage(np.zeros(SHAPE))
    image = np.asarray(bp.Model("t", "gaussian galaxy model", target=blank, **TRUTH).render())
    noise = np.random.default_rng(1).normal(0.0, 0.05, SHAPE)
    return bp.TargetImage(image + noise, variance=np.full(SHAPE, 0.05**2))


def _model(target: bp.TargetImage, prior=None) -> bp.Model:
    priors = {} if prior is None else {"flux": prior}
    return bp.Model("g", "gaussian galaxy model", target=target, x=7.0, y=8.0, q=0.7, PA=0.4, sigma=1.8,
                    flux=8.0, priors=priors)


def test_lm_stops_at_the_edge_of_a_uniform_prior() -> None:
    target = _target()
    free = _model(target)
    assert bp.fit.LM(free).fit().success
    assert float(free["flux"].value) == pytest.approx(TRUTH["flux"], abs=4 * float(free["flux"].uncertainty))
    bound = _model(target, bp.priors.Uniform(1.0, 10.0))
    assert FreeParameters(bound).transforms[-1] == Transform(1.0, 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the flux pinned at its bound has no curvature
        result = bp.fit.LM(bound).fit()
    flux = float(bound["flux"].value)
    assert 9.99 < flux <= 10.0  # before: 20.59 with "success"
    assert "flux" in result.at_limit


def test_truncated_normal_binds_and_sampler_space_maps_into_it() -> None:
    target = _target()
    model = _model(target, bp.priors.TruncatedNormal(5.0, 3.0, low=2.0, high=12.0))
    program = Program(model)
    tr = program.free.transforms[-1]
    assert (tr.lower, tr.upper) == (2.0, 12.0)
    be = bp.backend.current()
    for u_flux in (-40.0, -3.0, 0.0, 3.0, 40.0):  # anywhere in R the flux stays inside [2, 12]
        u = program.free.unconstrained()
        u[-1] = u_flux
        flux = float(bp.backend.to_numpy(program.free.values(be.asarray(u))["flux"]))
        assert 2.0 <= flux <= 12.0
        assert np.isfinite(float(bp.backend.to_numpy(program.log_density(be.asarray(u)))))
    # a sampler's own priors bind in the same way (and a start outside them is refused)
    program = Program(model, priors={"sigma": bp.priors.Uniform(1.0, 3.0)})
    assert (program.free.transforms[4].lower, program.free.transforms[4].upper) == (1.0, 3.0)
    with pytest.raises(ParameterError, match="outside its support"):
        Program(model, priors={"sigma": bp.priors.Uniform(2.0, 3.0)})
    with pytest.raises(FitError, match="not a bayesphot Prior"):
        Program(model, priors={"sigma": 3.0})


def test_start_value_outside_the_prior_is_an_error() -> None:
    with pytest.raises(ParameterError, match="outside the support"):
        bp.Model("g", "gaussian galaxy model", flux=20.0, priors={"flux": bp.priors.Uniform(1.0, 10.0)})
    model = bp.Model("g", "gaussian galaxy model", flux=5.0, priors={"flux": bp.priors.Uniform(1.0, 10.0)})
    with pytest.raises(ParameterError, match="outside the support"):
        model["flux"].value = 20.0
    assert float(model["flux"].value) == 5.0
    with pytest.raises(ParameterError, match="outside the support"):
        model["flux"].prior = bp.priors.Uniform(6.0, 9.0)
    assert model["flux"].prior == bp.priors.Uniform(1.0, 10.0)  # unchanged after the refusal
    with pytest.raises(ParameterError, match="no support within its limits"):
        model["q"].prior = bp.priors.Uniform(2.0, 3.0)


@pytest.mark.parametrize("bad", [3.0, "Uniform(0, 1)", {"low": 0, "high": 1}, (0.3, 8.0)])
def test_a_prior_that_is_not_a_prior_is_refused_at_construction(bad) -> None:
    with pytest.raises(ParameterError, match="must be a bayesphot prior"):
        bp.Model("g", "sersic galaxy model", priors={"n": bad})


def test_initialisation_respects_the_prior() -> None:
    target = _target()
    model = bp.Model("g", "gaussian galaxy model", target=target, priors={"flux": bp.priors.Uniform(1.0, 10.0)})
    model.initialize()  # the moments say about 20
    assert 1.0 < float(model["flux"].value) < 10.0


def test_cyclic_parameter_with_a_narrower_prior_becomes_an_interval() -> None:
    model = bp.Model("g", "gaussian galaxy model", PA=0.5, priors={"PA": bp.priors.Uniform(0.2, 1.0)})
    assert model["PA"].transform == Transform(0.2, 1.0)
    model["PA"].prior = bp.priors.VonMises(0.3, 2.0)  # no support restriction: stays cyclic
    assert model["PA"].transform == Transform(0.0, math.pi, cyclic=True)
    with pytest.raises(ParameterError, match="period"):
        model["PA"].prior = bp.priors.Uniform(-0.5, 0.5)


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
def test_log_prob_is_minus_infinity_outside_the_support(backend_name: str) -> None:
    cases = [
        (bp.priors.Uniform(1.0, 10.0), [0.5, 10.5], 5.0, -math.log(9.0)),
        (bp.priors.TruncatedNormal(0.0, 1.0, low=-1.0, high=2.0), [-1.5, 2.5], 0.0,
         -0.5 * math.log(2 * math.pi) - math.log(0.5 * (math.erf(2 / math.sqrt(2)) + math.erf(1 / math.sqrt(2))))),
        (bp.priors.LogNormal(0.0, 1.0), [-1.0, 0.0], 1.0, -0.5 * math.log(2 * math.pi)),
        (bp.priors.HalfNormal(2.0), [-0.1], 0.0, math.log(2.0) - math.log(2.0) - 0.5 * math.log(2 * math.pi)),
    ]
    with bp.backend.using(backend_name) as be:
        for prior, outside, inside, expected in cases:
            for x in outside:
                assert float(bp.backend.to_numpy(prior.log_prob(be.asarray(x)))) == -math.inf, (prior, x)
            assert float(bp.backend.to_numpy(prior.log_prob(be.asarray(inside)))) == pytest.approx(expected), prior
            # a vector with one element outside has zero density
            assert float(bp.backend.to_numpy(prior.log_prob(be.asarray([inside, outside[0]])))) == -math.inf


@pytest.mark.parametrize("args", [("a", "b"), (0.0, math.inf), (math.nan, 1.0), (1.0, None)])
def test_prior_fields_must_be_finite_numbers(args) -> None:
    with pytest.raises(ParameterError):
        bp.priors.Uniform(*args)


def test_numpy_scalars_in_priors_become_floats() -> None:
    prior = bp.priors.Uniform(np.float32(1.0), np.int64(3))
    assert prior.to_dict() == {"type": "Uniform", "low": 1.0, "high": 3.0}
    assert type(prior.low) is float


@pytest.mark.slow
def test_nuts_never_leaves_the_prior() -> None:
    target = _target()
    model = _model(target, bp.priors.Uniform(1.0, 10.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bp.infer.NUTS(model, chains=1, warmup=100, draws=100, progress=False, priors=None).run()
    draws = post.draws("g:flux" if "g:flux" in post.idata.posterior else "flux")
    assert draws.max() <= 10.0 and draws.min() >= 1.0  # before: all draws near 20
