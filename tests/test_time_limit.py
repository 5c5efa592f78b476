"""NUTS time limits: draws kept past warm-up (flagged), an error during it, and the catalog's Laplace fallback."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

import bayesphot as bp
import bayesphot.infer._numpyro as numpyro_driver
from bayesphot.catalog.sample import sample_posterior
from bayesphot.errors import FitError, SamplingTimeLimitError


def _galaxy() -> bp.Model:
    size = 20
    blank = bp.TargetImage(np.zeros((size, size)))
    truth = dict(x=9.6, y=10.2, q=0.7, PA=0.8, n=1.0, Re=3.0, Ie=20.0)
    image = np.asarray(bp.Model("g", "sersic galaxy model", target=blank, **truth).render())
    data = image + np.random.default_rng(0).normal(0.0, 1.0, image.shape)
    target = bp.TargetImage(data, variance=np.ones(image.shape))
    model = bp.Model("g", "sersic galaxy model", target=target, **truth)
    return model


@pytest.fixture
def one_second_per_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's clock advances one second each time it is read: the limit's arithmetic becomes exact."""
    clock = itertools.count()
    monkeypatch.setattr(numpyro_driver, "time", types.SimpleNamespace(perf_counter=lambda: float(next(clock))))


@pytest.mark.usefixtures("one_second_per_look")
def test_draws_past_warmup_are_kept_and_the_run_says_it_stopped() -> None:
    model = _galaxy()
    bp.fit.LM(model).fit()
    # 40 + 60 iterations in 10 blocks of 10; the clock reads i seconds before block i, which starts only
    # while i + i / i ≤ 7.5: blocks 0–6 run, 70 iterations, 30 draws per chain
    with pytest.warns(bp.infer.SamplingWarning, match="time limit"):
        post = bp.infer.NUTS(model, chains=2, warmup=40, draws=60, seed=1, progress=False, disperse=False,
                             time_limit=7.5).run()
    assert post.idata.posterior.sizes["draw"] == 30
    assert post.issues[0] == "stopped at the time limit of 7.5 s: 30 of 60 draws per chain"
    assert not post.ok


@pytest.mark.usefixtures("one_second_per_look")
def test_a_limit_during_warmup_raises() -> None:
    model = _galaxy()
    bp.fit.LM(model).fit()
    with pytest.raises(SamplingTimeLimitError, match="during warm-up"):
        bp.infer.NUTS(model, chains=2, warmup=40, draws=60, seed=1, progress=False, disperse=False,
                      time_limit=2.5).run()


def test_time_limit_is_checked() -> None:
    model = _galaxy()
    with pytest.raises(FitError, match="positive"):
        bp.infer.NUTS(model, time_limit=0.0)
    with pytest.raises(FitError, match="one model on the numpyro backend"):
        bp.infer.NUTS([model, model], time_limit=10.0)


@pytest.mark.usefixtures("one_second_per_look")
def test_the_catalog_falls_back_to_flagged_laplace_draws() -> None:
    model = _galaxy()
    fit = bp.fit.LM(model).fit()
    sampled = sample_posterior(model, fit, "nuts", draws=100, seed=0, chains=2, warmup=40, time_limit=2.5)
    assert sampled.sampler == "laplace"
    assert sampled.issues[0].startswith("NUTS: the time limit of 2.5 s came during warm-up")
    assert sampled.issues[0].endswith("Laplace draws instead")
    assert sampled.idata.posterior.attrs["sampler"] == "Laplace"
    fluxes = [k for k in sampled.idata.posterior.data_vars if k.endswith("flux")]
    assert fluxes and all(np.isfinite(sampled.idata.posterior[k].values).all() for k in fluxes)
