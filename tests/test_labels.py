"""Label-swapped starts: two components of one type that start on each other's source.

Two Gaussian sources of different flux, each model with a position prior on its
own source.  Started with the labels the wrong way round (each model on the
other's source, with the other's flux), the likelihood is exactly that of the
right labelling and only the position priors differ, by an amount known in
closed form.  Before :mod:`bayesphot.infer.labels`, the batched sampler stayed
in that mode (the calibration study's blended pairs, 12 of 100).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.infer.labels import best_labelling, exchangeable_pairs
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig

CHEAP = QuadratureConfig(block=0, mid_block=0)
N = 24
SHAPE = {"q": {"value": 1.0, "fixed": True}, "PA": {"value": 0.0, "fixed": True},
         "sigma": {"value": 1.5, "fixed": True}}
#: truths: (x, y, flux) of a and b
TRUTH = {"a": (8.2, 12.1, 300.0), "b": (16.3, 11.9, 900.0)}
PRIOR_SD = 0.5


def _group(data: np.ndarray, values: dict[str, tuple[float, float, float]]) -> bp.Model:
    target = bp.TargetImage(data, variance=np.ones(data.shape))
    models = [bp.Model("sky", "flat sky model", target=target, I=5.0)]
    for name, (x, y, flux) in values.items():
        models.append(bp.Model(name, "gaussian galaxy model", target=target, quadrature=CHEAP, x=x, y=y, flux=flux,
                               **SHAPE))
    group = bp.Model("g", "group", models=models, target=target)
    group["sky:I"].prior = bp.priors.Normal(5.0, 2.0)
    for name, (x, y, _) in TRUTH.items():
        group[f"{name}:x"].prior = bp.priors.Normal(x, PRIOR_SD)
        group[f"{name}:y"].prior = bp.priors.Normal(y, PRIOR_SD)
        group[f"{name}:flux"].prior = bp.priors.LogNormal(math.log(500.0), 1.5)
    return group


def swapped_pair(seed: int = 3) -> bp.Model:
    """Noisy image of the two sources; the models start each on the other's source, with its flux."""
    clean = _group(np.zeros((N, N)), TRUTH).render()
    data = np.asarray(clean) + np.random.default_rng(seed).normal(0.0, 1.0, (N, N))
    return _group(data, {"a": TRUTH["b"], "b": TRUTH["a"]})


def test_only_components_of_one_type_with_the_same_free_parameters_are_exchangeable() -> None:
    group = swapped_pair()
    assert [(a, b) for a, b, _ in exchangeable_pairs(Program(group))] == [("a", "b")]
    group["b:flux"].fixed = True                 # different free parameters: no longer exchangeable
    assert exchangeable_pairs(Program(group)) == []


def test_the_exchange_gains_exactly_the_position_priors_difference() -> None:
    """At the swapped point the likelihood, flux priors and Jacobians are unchanged by the exchange; the
    x, y priors differ by Σ [(v − μ_other)² − (v − μ_own)²] / 2σ² (closed form)."""
    group = swapped_pair()
    program = Program(group)
    with bp.backend.using("jax"):
        lowered = program.lower("log_density")
        from bayesphot.infer.mode import potential_at

        def potential(points: np.ndarray) -> np.ndarray:
            return potential_at(lowered.key, lowered.evaluator(), lowered.params, points)[0]

        result = best_labelling(program, potential, program.free.unconstrained())
    assert result.swaps == [("a", "b")]
    expected = 0.0
    for own, other in (("a", "b"), ("b", "a")):
        for axis in (0, 1):
            value = TRUTH[other][axis]            # where `own` sits in the swapped start
            expected += ((value - TRUTH[own][axis]) ** 2 - (value - TRUTH[other][axis]) ** 2) / (2 * PRIOR_SD**2)
    assert result.gain == pytest.approx(expected, rel=1e-6)
    x = program.free.values(result.u)
    assert float(x["a:x"]) == pytest.approx(TRUTH["a"][0]) and float(x["b:flux"]) == pytest.approx(TRUTH["b"][2])


def _means(post: bp.infer.Posterior) -> dict[str, float]:
    return {k: float(post.idata.posterior[k].mean()) for k in ("a:x", "b:x", "a:flux", "b:flux")}


@pytest.mark.parametrize("batched", [False, True], ids=["single", "batched"])
def test_nuts_started_with_swapped_labels_samples_the_right_labelling(batched: bool) -> None:
    group = swapped_pair()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sampler = bp.infer.NUTS([group] if batched else group, chains=2, warmup=60, draws=80, seed=1,
                                progress=False, write_back=False, priors=None)
        post = sampler.run()
    post = post[0] if batched else post
    means = _means(post)
    assert abs(means["a:x"] - TRUTH["a"][0]) < 0.2 and abs(means["b:x"] - TRUTH["b"][0]) < 0.2
    assert means["a:flux"] < means["b:flux"]
    if batched:
        assert "a↔b" in post.idata.posterior.attrs["start"]
    else:
        assert "exchanged a↔b" in post.idata.posterior.attrs["labels"]
        assert any("exchanged a↔b" in str(w.message) for w in caught)
