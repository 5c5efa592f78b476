"""initialize(): starting values near truth on simulated images and on IC 3478; user values kept.

Simulations render a known model with bayesphot (torch backend), add a flat
sky and Gaussian noise with a fixed seed, then initialise a fresh model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.data import ic3478_target

PIXELSCALE = 0.5
SKY = 3.0  # flux/arcsec^2
NOISE = 0.5  # per pixel


def _psf() -> bp.PSFImage:
    yy, xx = np.mgrid[:11, :11] - 5.0
    return bp.PSFImage(np.exp(-(xx**2 + yy**2) / (2 * 1.2**2)))


def simulate(model_type: str, truth: dict, shape: tuple[int, int] = (64, 64), psf: bp.PSFImage | None = None,
             seed: int = 0, sky: float = SKY) -> bp.TargetImage:
    """A rendered model plus sky plus Gaussian noise, as a TargetImage with the true variance."""
    with bp.backend.using("torch"):
        blank = bp.TargetImage(np.zeros(shape), pixelscale=PIXELSCALE, psf=psf)
        image = np.asarray(bp.Model("truth", model_type, target=blank, **truth).render())
    rng = np.random.default_rng(seed)
    data = image + sky * PIXELSCALE**2 + rng.normal(0.0, NOISE, shape)
    return bp.TargetImage(data, variance=NOISE**2, pixelscale=PIXELSCALE, psf=psf)


def _pa_distance(a: float, b: float) -> float:
    d = abs(a - b) % math.pi
    return min(d, math.pi - d)


def _check_shape(model: bp.Model, truth: dict) -> None:
    s = PIXELSCALE
    assert abs(float(model["x"]) - truth["x"]) < 0.5 * s, "centre x within 0.5 px"
    assert abs(float(model["y"]) - truth["y"]) < 0.5 * s, "centre y within 0.5 px"
    assert abs(float(model["q"]) - truth["q"]) < 0.1
    if truth["q"] < 0.7:
        assert _pa_distance(float(model["PA"]), truth["PA"]) < 0.1


GALAXIES = [
    ("sersic galaxy model", dict(x=15.3, y=16.7, q=0.5, PA=0.6, n=1.5, Re=4.0, Ie=20.0), {"Re": 0.15, "Ie": 0.3}),
    ("sersic galaxy model", dict(x=15.3, y=16.7, q=0.8, PA=2.6, n=4.0, Re=3.0, Ie=10.0), {"Re": 0.3, "Ie": 0.3}),
    ("exponential galaxy model", dict(x=16.0, y=15.0, q=0.4, PA=2.0, Re=5.0, Ie=10.0), {"Re": 0.15, "Ie": 0.3}),
    ("exponential galaxy model", dict(x=16.2, y=15.4, q=0.3, PA=0.05, Re=3.0, Ie=10.0), {"Re": 0.15, "Ie": 0.3}),
    ("gaussian galaxy model", dict(x=16.0, y=15.0, q=0.6, PA=1.2, sigma=2.5, flux=2000.0),
     {"sigma": 0.15, "flux": 0.1}),
    ("moffat galaxy model", dict(x=16.0, y=15.0, q=0.6, PA=3.0, n=2.5, Rd=2.0, I0=50.0), {"Rd": 0.3, "I0": 0.3}),
]


@pytest.mark.parametrize(("model_type", "truth", "tolerance"), GALAXIES,
                         ids=[f"{g[0].split()[0]}-{i}" for i, g in enumerate(GALAXIES)])
def test_galaxy_initialize_near_truth(model_type: str, truth: dict, tolerance: dict) -> None:
    target = simulate(model_type, truth)
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", model_type, target=target)
    bp.Model("field", "group", models=[sky, gal], target=target).initialize()
    _check_shape(gal, truth)
    for name, rel in tolerance.items():
        assert float(gal[name]) == pytest.approx(truth[name], rel=rel), name
    # sky from the window's edge: within a few σ/√N (N edge pixels), plus a little galaxy light
    n_edge = 64 * 64 - 58 * 58
    sky_sigma = NOISE / PIXELSCALE**2 / math.sqrt(n_edge)
    assert abs(float(sky["I"]) - SKY) < 5 * sky_sigma + 0.02 * SKY


def test_sersic_with_psf() -> None:
    truth = dict(x=16.0, y=16.5, q=0.55, PA=1.0, n=2.0, Re=4.0, Ie=15.0)
    target = simulate("sersic galaxy model", truth, psf=_psf())
    gal = bp.Model("gal", "sersic galaxy model", target=target)
    gal.initialize()
    _check_shape(gal, truth)
    assert float(gal["Re"]) == pytest.approx(truth["Re"], rel=0.3)
    assert float(gal["n"]) == pytest.approx(truth["n"], abs=1.0)


def test_spline_initialize_follows_profile() -> None:
    truth = dict(x=16.0, y=15.0, q=0.6, PA=0.4, n=1.0, Re=4.0, Ie=10.0)
    target = simulate("sersic galaxy model", truth)
    spline = bp.Model("gal", "spline galaxy model", target=target)
    spline.initialize()
    _check_shape(spline, truth)
    knots = spline.knots
    assert knots[0] == 0.0 and np.all(np.diff(knots) > 0)
    assert knots.shape == spline["logI"].value.shape
    b = 1.678347
    inner = (knots >= 2 * PIXELSCALE) & (knots <= 2 * truth["Re"])
    assert inner.sum() >= 3
    true_log = np.log10(truth["Ie"]) - b * (knots[inner] / truth["Re"] - 1.0) / math.log(10.0)
    np.testing.assert_allclose(spline["logI"].value[inner], true_log, atol=0.15)
    with bp.backend.using("torch"):
        assert np.isfinite(np.asarray(spline.render())).all()


def test_point_source_initialize() -> None:
    truth = dict(x=12.3, y=9.6, flux=800.0)
    target = simulate("point source", truth, shape=(40, 40), psf=_psf())
    star = bp.Model("star", "point source", target=target)
    star.initialize()
    assert abs(float(star["x"]) - truth["x"]) < 0.25 * PIXELSCALE
    assert abs(float(star["y"]) - truth["y"]) < 0.25 * PIXELSCALE
    assert float(star["flux"]) == pytest.approx(truth["flux"], rel=0.1)


def test_plane_sky_initialize() -> None:
    truth = dict(I=3.0, dIdx=0.05, dIdy=-0.03)
    target = simulate("plane sky model", truth, shape=(48, 48), sky=0.0)
    sky = bp.Model("sky", "plane sky model", target=target)
    sky.initialize()
    n_pixels = 48 * 48 - 38 * 38
    sigma = NOISE / PIXELSCALE**2 / math.sqrt(n_pixels)
    assert abs(float(sky["I"]) - 3.0) < 4 * sigma
    # the gradient's noise is about 0.01 flux/arcsec^3 here: allow 3 sigma
    assert float(sky["dIdx"]) == pytest.approx(0.05, abs=0.03)
    assert float(sky["dIdy"]) == pytest.approx(-0.03, abs=0.03)


def test_flat_sky_on_a_window() -> None:
    target = simulate("flat sky model", {"I": 0.0}, shape=(48, 48), sky=7.0, seed=4)
    sky = bp.Model("sky", "flat sky model", target=target, window=[[8, 40], [4, 36]])
    sky.initialize()
    sigma = NOISE / PIXELSCALE**2 / math.sqrt(32 * 32 - 26 * 26)
    assert abs(float(sky["I"]) - 7.0) < 4 * sigma


def test_initialize_never_overwrites_user_values() -> None:
    truth = dict(x=15.3, y=16.7, q=0.5, PA=0.6, n=1.5, Re=4.0, Ie=20.0)
    target = simulate("sersic galaxy model", truth)
    gal = bp.Model("gal", "sersic galaxy model", target=target, x=14.0, n=3.0, q=0.9)
    gal["Re"].value = 2.5  # set after construction: also kept
    sky = bp.Model("sky", "flat sky model", target=target, I=1.25)
    group = bp.Model("field", "group", models=[sky, gal], target=target)
    group.initialize()
    assert float(gal["x"]) == 14.0 and float(gal["n"]) == 3.0 and float(gal["q"]) == 0.9
    assert float(gal["Re"]) == 2.5 and float(sky["I"]) == 1.25
    assert gal["x"].user_set and not gal["y"].user_set
    assert abs(float(gal["y"]) - truth["y"]) < 0.5 * PIXELSCALE
    # a second call changes nothing
    before = {key: float(p) for key, p in group.parameters.items()}
    group.initialize()
    assert {key: float(p) for key, p in group.parameters.items()} == before


def test_nested_group_initializes_every_model() -> None:
    truth = dict(x=15.3, y=16.7, q=0.5, PA=0.6, n=1.5, Re=4.0, Ie=20.0)
    target = simulate("sersic galaxy model", truth)
    inner = bp.Model("inner", "group", models=[bp.Model("gal", "sersic galaxy model"),
                                               bp.Model("disk", "exponential galaxy model")])
    outer = bp.Model("outer", "group", models=[inner, bp.Model("sky", "flat sky model")], target=target)
    outer.initialize()
    assert all(p.value is not None for p in outer.parameters.values())
    assert all(np.all(np.isfinite(p.value)) for p in outer.parameters.values())


def test_empty_window_does_not_produce_nan() -> None:
    rng = np.random.default_rng(2)
    target = bp.TargetImage(rng.normal(0.0, 1.0, (32, 32)))
    for model_type in ("sersic galaxy model", "exponential galaxy model", "gaussian galaxy model",
                       "moffat galaxy model", "spline galaxy model"):
        model = bp.Model("g", model_type, target=target)
        model.initialize()
        for param in model.parameters.values():
            assert np.all(np.isfinite(param.value)), (model_type, str(param))


def test_ic3478_initialize_near_published_fit() -> None:
    # Imfit tutorial (exponential, masked, data-based errors), in bayesphot's convention:
    # x = 127.8793, y = 128.0589 (pixelscale 1), PA = 0.3272 rad, q = 0.7794, Re = b_1 h = 33.68
    target = ic3478_target()
    gal = bp.Model("IC3478", "exponential galaxy model", target=target)
    gal.initialize()
    assert abs(float(gal["x"]) - 127.8793) < 0.5
    assert abs(float(gal["y"]) - 128.0589) < 0.5
    assert _pa_distance(float(gal["PA"]), 0.3272) < 0.1
    assert abs(float(gal["q"]) - 0.7794) < 0.15
    re_true = 1.67835 * 20.0684
    assert float(gal["Re"]) == pytest.approx(re_true, rel=0.3)
    ie_true = 321.631 * math.exp(-1.67835)
    assert 0.5 * ie_true < float(gal["Ie"]) < 2.0 * ie_true
