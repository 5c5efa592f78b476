"""Dispersed chain starts: a two-mode posterior and a MAP in a local mode (every chain at one MAP hid both).

One fixed-shape Gaussian model on an image of two equal Gaussian sources has a
mode on each source.  Started from one MAP every chain samples that mode and
the diagnostics pass.  With the dispersed starts of
:mod:`bayesphot.infer.survey` (the default) a MAP in the less probable mode is
left for the better one, and modes of equal height (a mirror-symmetric image)
get chains of their own, so r̂ reports that the posterior is not one mode.
"""

from __future__ import annotations

import warnings

import numpy as np

import bayesphot as bp
from bayesphot.render import QuadratureConfig

CHEAP = QuadratureConfig(block=0, mid_block=0)
SHAPE = {"q": {"value": 1.0, "fixed": True}, "PA": {"value": 0.0, "fixed": True},
         "sigma": {"value": 1.5, "fixed": True}}
#: the two sources (pixels; pixel scale 1), equal fluxes
SOURCES = ((8.2, 12.1), (16.3, 11.9))


N = 24


def source(x: float, y: float, flux: float) -> np.ndarray:
    """One fixed-shape Gaussian source rendered on the N × N grid (noise-free)."""
    blank = bp.TargetImage(np.zeros((N, N)), variance=np.ones((N, N)))
    return np.asarray(bp.Model("s", "gaussian galaxy model", target=blank, quadrature=CHEAP, x=x, y=y, flux=flux,
                               **{k: v["value"] for k, v in SHAPE.items()}).render())


def one_model_fit(data: np.ndarray, variance: float) -> tuple[bp.Model, object]:
    """Sky + one fixed-shape Gaussian, started at (10, 12), fitted by LM: (group, fit result)."""
    target = bp.TargetImage(data, variance=np.full(data.shape, variance))
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "gaussian galaxy model", target=target, quadrature=CHEAP, x=10.0, y=12.0, **SHAPE)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group.initialize()
    return group, bp.fit.LM(group).fit()


def two_sources(seed: int = 2) -> bp.Model:
    """Two equal sources, one model started nearer the first."""
    truth = sum(source(x, y, 600.0) for x, y in SOURCES)
    data = 5.0 + truth + np.random.default_rng(seed).normal(0.0, 1.0, (N, N))
    return one_model_fit(data, 1.0)[0]


def _chain_x(post: bp.infer.Posterior) -> np.ndarray:
    return np.asarray(post.idata.posterior["gal:x"].values).mean(axis=1)


def _rhat_x(post: bp.infer.Posterior) -> float:
    import arviz as az

    return float(az.rhat(post.idata, var_names=["gal:x"])["gal:x"].values)


def mirrored_pair(seed: int = 5) -> bp.Model:
    """Two equal sources, the image exactly mirror-symmetric (noise included): two modes of equal height."""
    half = 2.5 + source(*SOURCES[0], 300.0) + np.random.default_rng(seed).normal(0.0, 1.0, (N, N))
    data = half + half[:, ::-1]              # each pixel: the sum of two unit-variance noises
    return one_model_fit(data, 2.0)[0]


def test_a_map_in_a_local_mode_is_left_for_the_better_mode() -> None:
    """LM settles on the first source although the second explains the data far better (χ² lower by ~500)."""
    group = two_sources()
    assert abs(group["gal:x"].value - SOURCES[0][0]) < 0.3
    # without the survey: every chain stays in the local mode and r_hat cannot tell
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stuck = bp.infer.NUTS(group, chains=4, warmup=100, draws=100, seed=0, progress=False, disperse=False,
                              write_back=False).run()
    assert np.all(np.abs(_chain_x(stuck) - SOURCES[0][0]) < 0.3)
    assert _rhat_x(stuck) < 1.05
    # with it (the default): the chains sample the better mode, on the second source (simulated truth)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = bp.infer.NUTS(group, chains=4, warmup=100, draws=100, seed=0, progress=False).run()
    assert np.all(np.abs(_chain_x(post) - SOURCES[1][0]) < 0.3), _chain_x(post)
    assert _rhat_x(post) < 1.05
    # (one model for two sources leaves one unexplained in either mode: the model check says so in both)
    assert post.misfit and stuck.misfit
    assert any("local mode" in str(w.message) for w in caught)
    assert "local mode" in post.attrs["start_notes"] and post.attrs["start"] == "best mode of a dispersed search"


def test_dispersed_starts_show_a_two_mode_posterior_as_r_hat() -> None:
    group = mirrored_pair()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        post = bp.infer.NUTS(group, chains=4, warmup=100, draws=100, seed=0, progress=False).run()
    x = _chain_x(post)
    mirror = 23.0 - SOURCES[0][0]              # pixel centres at integers: column j ↔ 23 − j
    # chains on both sources, and the diagnostics say the draws are not one posterior mode
    assert np.any(np.abs(x - SOURCES[0][0]) < 0.3) and np.any(np.abs(x - mirror) < 0.3), x
    assert _rhat_x(post) > 1.5
    assert not post.ok and any("r_hat" in issue and "gal:x" in issue for issue in post.issues), post.issues
    assert any("distinct modes" in str(w.message) for w in caught)
    # without dispersed starts the same posterior passes every check with one mode's σ
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hidden = bp.infer.NUTS(group, chains=4, warmup=100, draws=100, seed=0, progress=False, disperse=False,
                               write_back=False).run()
    assert _rhat_x(hidden) < 1.05 and np.ptp(_chain_x(hidden)) < 0.3


def test_one_mode_survey_changes_nothing() -> None:
    """One source: every dispersed search returns to the MAP's mode; chains start there, no note."""
    from bayesphot.infer.start import interval_coordinates
    from bayesphot.infer.survey import survey_modes
    from bayesphot.models import default_priors
    from bayesphot.program import Program

    data = 5.0 + source(*SOURCES[0], 600.0) + np.random.default_rng(1).normal(0.0, 1.0, (N, N))
    group, fit = one_model_fit(data, 1.0)
    priors = default_priors(group)
    program = Program(group, priors=priors)
    u = program.free.unconstrained()
    with bp.backend.using("jax"):
        survey = survey_modes(program.lower("log_density"), program, priors, u, fit.covariance_unconstrained, 4, 0,
                              interval_coordinates(program))
    assert survey.modes == 1 and survey.better is None and survey.notes == [], survey.notes
    assert np.allclose(survey.centres, u[None, :])
