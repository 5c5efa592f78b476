"""NUTS time limits: draws kept past warm-up (flagged), an error during it, and the catalog's Laplace fallback."""

from __future__ import annotations

import itertools
import types

import numpy as np
import pytest

import bayesphot as bp
import bayesphot.infer._numpyro as numpyro_driver
import bayesphot.infer.samplers as samplers
from bayesphot.catalog.sample import sample_posterior
from bayesphot.errors import FitError, SamplingTimeLimitError
from bayesphot.infer.settings import SamplerSettings


def _galaxy() -> bp.Model:
    size = 20
    blank = bp.TargetImage(np.zeros((size, size)))
    truth = dict(x=9.6, y=10.2, q=0.7, PA=0.8, n=1.0, Re=3.0, Ie=20.0)
    image = np.asarray(bp.Model("g", "sersic galaxy model", target=blank, **truth).render())
    data = image + np.random.default_rng(0).normal(0.0, 1.0, image.shape)
    target = bp.TargetImage(data, variance=np.ones(image.shape))
    model = bp.Model("g", "sersic galaxy model", target=target, **truth)
    return model


def _clock(seconds_per_look: float) -> types.SimpleNamespace:
    """A ``time`` stand-in whose clock advances ``seconds_per_look`` each time it is read."""
    clock = itertools.count()
    return types.SimpleNamespace(perf_counter=lambda: seconds_per_look * next(clock))


def _fitted_galaxy() -> bp.Model:
    model = _galaxy()
    bp.fit.LM(model).fit()
    return model


@pytest.fixture
def one_second_per_look(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver's clock advances one second each time it is read, the start search takes no time:
    the limit's arithmetic becomes exact."""
    monkeypatch.setattr(numpyro_driver, "time", _clock(1.0))
    monkeypatch.setattr(samplers, "time", _clock(0.0))


@pytest.mark.usefixtures("one_second_per_look")
def test_draws_past_warmup_are_kept_and_the_run_says_it_stopped() -> None:
    model = _fitted_galaxy()
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
    model = _fitted_galaxy()
    with pytest.raises(SamplingTimeLimitError, match="during warm-up"):
        bp.infer.NUTS(model, chains=2, warmup=40, draws=60, seed=1, progress=False, disperse=False,
                      time_limit=2.5).run()


def test_the_start_search_counts_against_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fitted_galaxy()
    # run() reads its clock at its start (0 s), after the fit and mode (100 s) and after the label
    # check (200 s): past 150 s there
    monkeypatch.setattr(samplers, "time", _clock(100.0))
    with pytest.raises(SamplingTimeLimitError, match="label check took 200 s, past the time limit of 150 s"):
        bp.infer.NUTS(model, chains=2, warmup=40, draws=60, seed=1, progress=False, disperse=False,
                      time_limit=150.0).run()


def test_sampling_gets_what_the_start_search_left(monkeypatch: pytest.MonkeyPatch) -> None:
    model = _fitted_galaxy()
    # run() reads its clock 6 times up to the sampling (start, three phase checks, the start's seconds, the
    # sampling's start): 5 s spent.  20 + 80 iterations run in blocks of 10; the driver's clock reads i s
    # before block i ≥ 1, which starts only while 5 + i + i / i ≤ 9.5: blocks 0–3 run, 40 iterations,
    # 20 draws per chain of 80.  Without the start search's seconds blocks 0–8 would run (i + 1 ≤ 9.5).
    monkeypatch.setattr(numpyro_driver, "time", _clock(1.0))
    monkeypatch.setattr(samplers, "time", _clock(1.0))
    with pytest.warns(bp.infer.SamplingWarning, match="time limit"):
        post = bp.infer.NUTS(model, chains=2, warmup=20, draws=80, seed=1, progress=False, disperse=False,
                             time_limit=9.5).run()
    assert post.idata.posterior.sizes["draw"] == 20
    assert post.issues[0] == "stopped at the time limit of 9.5 s: 20 of 80 draws per chain"


@pytest.mark.usefixtures("one_second_per_look")
def test_a_hopeless_warmup_is_given_up_early() -> None:
    model = _fitted_galaxy()
    # blocks of 10; before block 2 the clock reads 2 s (a quarter of the limit), one second per block
    # after the first: the 200-iteration warm-up would end at 2 + 18 = 20 s, past twice the limit of 8 s.
    # Without the projection blocks would run until i + 1 > 8, i.e. 80 iterations.
    with pytest.raises(SamplingTimeLimitError, match=r"would end after about 20 s .*\(20 of 200 iterations"):
        bp.infer.NUTS(model, chains=2, warmup=200, draws=60, seed=1, progress=False, disperse=False,
                      time_limit=8.0).run()


def test_the_projection_leaves_out_the_compiling_block() -> None:
    settings = SamplerSettings(kernel="nuts", dense_mass=True, adapt_mass_matrix=False, warmup=200, draws=100,
                               seed=0, device=None, progress=False, target_accept=0.8, max_tree_depth=10,
                               trajectory_length=None, num_steps=None, time_limit=50.0)
    # 5 blocks of 10 in 29 s, the first (compilation) 25 s: 1 s per later block, 15 blocks of warm-up
    # left, so it ends at 29 + 15 = 44 s (not 29 + 15 × 29 / 5 = 116 s, which would be past 2 × 50 s)
    assert numpyro_driver._warmup_is_hopeless(settings, 29.0, 25.0, 5, 10) is None
    # at 5 s per later block it would end at 45 + 15 × 5 = 120 s > 100 s
    assert numpyro_driver._warmup_is_hopeless(settings, 45.0, 25.0, 5, 10) == pytest.approx(120.0)
    # before a quarter of the limit is spent, or once warm-up is over, no projection
    assert numpyro_driver._warmup_is_hopeless(settings, 12.0, 2.0, 5, 10) is None
    assert numpyro_driver._warmup_is_hopeless(settings, 45.0, 25.0, 20, 10) is None


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
