"""Model construction, addressing and group rendering (structure, not accuracy)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.models import MODEL_TYPES


@pytest.fixture
def target() -> bp.TargetImage:
    psf = np.exp(-0.5 * (np.add.outer(np.arange(-4, 5) ** 2, np.arange(-4, 5) ** 2)) / 1.5**2)
    return bp.TargetImage(np.zeros((40, 48)), pixelscale=0.5, psf=bp.PSFImage(psf), zeropoint=22.5)


def test_every_documented_type_is_registered() -> None:
    documented = {
        "sersic galaxy model", "exponential galaxy model", "gaussian galaxy model", "moffat galaxy model",
        "spline galaxy model", "point source", "flat sky model", "plane sky model", "group",
    }
    assert documented <= set(MODEL_TYPES)


def test_parameter_names_follow_design(target: bp.TargetImage) -> None:
    expected = {
        "sersic galaxy model": ["x", "y", "q", "PA", "n", "Re", "Ie"],
        "exponential galaxy model": ["x", "y", "q", "PA", "Re", "Ie"],
        "gaussian galaxy model": ["x", "y", "q", "PA", "sigma", "flux"],
        "moffat galaxy model": ["x", "y", "q", "PA", "n", "Rd", "I0"],
        "spline galaxy model": ["x", "y", "q", "PA", "logI"],
        "point source": ["x", "y", "flux"],
        "flat sky model": ["I"],
        "plane sky model": ["I", "dIdx", "dIdy"],
    }
    for model_type, names in expected.items():
        assert list(bp.Model("m", model_type, target=target).parameters) == names


def test_group_sums_children_within_union_of_windows(target: bp.TargetImage) -> None:
    pixels = bp.Window.from_any  # explicit pixel windows; raw lists without a target are arcsec
    a = bp.Model("a", "gaussian galaxy model", window=pixels([[2, 20], [3, 25]]), x=5.0, y=7.0, q=0.7, PA=0.4,
                 sigma=1.2, flux=10.0, psf_convolve=False)
    b = bp.Model("b", "gaussian galaxy model", window=pixels([[15, 40], [10, 30]]), x=13.0, y=10.0, q=0.5, PA=2.0,
                 sigma=1.5, flux=5.0, psf_convolve=False)
    sky = bp.Model("sky", "flat sky model", window=pixels([[0, 48], [0, 40]]), I=0.3)
    group = bp.Model("field", "group", models=[a, b, sky], target=target)
    assert group.window == bp.Window(0, 48, 0, 40)
    total = np.asarray(group.render())
    expected = np.asarray(a.render()) + np.asarray(b.render()) + np.asarray(sky.render())
    np.testing.assert_allclose(total, expected, rtol=0, atol=1e-12)
    # a windowed model is zero outside its window
    img_a = np.asarray(a.render())
    outside = np.ones(target.shape, dtype=bool)
    outside[a.window.slices] = False
    assert np.all(img_a[outside] == 0)
    # sky pixel = I × pixel area exactly
    np.testing.assert_allclose(np.asarray(sky.render()), 0.3 * 0.25, rtol=1e-14)


def test_window_without_target_is_in_arcsec(target: bp.TargetImage) -> None:
    # pixelscale 0.5: pixels 4..11 have outer edges at (4 - ½)·0.5 = 1.75 and (12 - ½)·0.5 = 5.75 arcsec
    gal = bp.Model("g", "sersic galaxy model", window=[[1.75, 5.75], [0.75, 2.75]])
    bp.Model("field", "group", models=[gal], target=target)
    assert gal.window == bp.Window(4, 12, 2, 6)


def test_nested_group_addressing(target: bp.TargetImage) -> None:
    inner = bp.Model("inner", "group", models=[bp.Model("gal", "sersic galaxy model", n=2.0)])
    outer = bp.Model("outer", "group", models=[inner, bp.Model("sky", "flat sky model")], target=target)
    assert outer["inner:gal:n"] is inner["gal:n"]
    assert float(outer["inner:gal:n"]) == 2.0
    assert "inner:gal:PA" in outer.parameters and "sky:I" in outer.parameters
    assert inner.models["gal"].target is target


def test_values_given_at_construction_are_user_set_and_survive_initialize() -> None:
    rng = np.random.default_rng(1)
    data = rng.normal(0.0, 0.01, (32, 32))
    target = bp.TargetImage(data, pixelscale=1.0)
    gal = bp.Model("g", "sersic galaxy model", target=target, n={"value": 3.0, "fixed": True}, q=0.5)
    gal.initialize()
    assert float(gal["n"]) == 3.0 and gal["n"].fixed and gal["n"].user_set
    assert float(gal["q"]) == 0.5
    assert gal["Re"].value is not None and not gal["Re"].user_set


def test_model_mask_adds_to_target_mask(target: bp.TargetImage) -> None:
    own = np.zeros((5, 6), dtype=bool)
    own[0, 0] = True
    gal = bp.Model("g", "sersic galaxy model", target=target, window=[[10, 16], [20, 25]], mask=own)
    assert gal.fit_mask.shape == (5, 6) and gal.fit_mask.sum() == 1
    with pytest.raises(bp.errors.ModelError, match="mask"):
        bp.Model("h", "sersic galaxy model", target=target, window=[[10, 16], [20, 25]], mask=np.zeros((3, 3)))


def test_point_source_conserves_flux_and_centre(target: bp.TargetImage) -> None:
    star = bp.Model("star", "point source", target=target, x=11.3, y=9.6, flux=7.0)
    img = np.asarray(star.render())
    # band-limited placement of this PSF, cut at 2.8 % of its peak, loses 7e-6 of the flux to ringing tails
    assert img.sum() == pytest.approx(7.0, rel=2e-5)
    rows, cols = np.mgrid[0:40, 0:48]
    assert (img * cols).sum() / img.sum() * 0.5 == pytest.approx(11.3, abs=1e-6)
    assert (img * rows).sum() / img.sum() * 0.5 == pytest.approx(9.6, abs=1e-6)


def test_str_shows_uncertainty_units_limits() -> None:
    p = bp.Parameter("PA", 0.1558, units="rad", limits=(0.0, math.pi), cyclic=True, uncertainty=0.0021)
    assert str(p) == "PA: 0.1558 ± 0.0021 rad [0, π) cyclic"


def test_group_mask_includes_children_masks(target: bp.TargetImage) -> None:
    own = np.zeros((5, 6), dtype=bool)
    own[1, 2] = True
    gal = bp.Model("g", "sersic galaxy model", target=target, window=bp.Window(10, 16, 20, 25), mask=own)
    sky = bp.Model("sky", "flat sky model", target=target, window=bp.Window(8, 20, 18, 30))
    group = bp.Model("grp", "group", models=[gal, sky], target=target)
    mask = group.fit_mask
    assert mask.shape == group.window.shape == (12, 12)
    # pixel (row 21, column 12) is masked: group window starts at row 18, column 8
    assert mask[21 - 18, 12 - 8] and mask.sum() == 1
