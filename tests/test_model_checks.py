"""Inputs that used to give a silent wrong answer now raise a bayesphot error naming the problem.

One model object twice in a group tree, a group containing itself, a fully
masked sub-model, limits changed under a value, and renders that would
become NaN (q = 0, bad pixel scales or zero-points, spline knots, noise maps).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import ImageError, ModelError, ParameterError


@pytest.fixture
def target() -> bp.TargetImage:
    return bp.TargetImage(np.random.default_rng(0).normal(size=(20, 20)))


def test_a_model_object_appears_once_in_a_group_tree(target: bp.TargetImage) -> None:
    sky = bp.Model("sky", "flat sky model", target=target, I=1.0)
    inner = bp.Model("inner", "group", models=[sky], target=target)
    # before: accepted, the sky drawn twice (an LM fit then put it at half its true value)
    with pytest.raises(ModelError, match="appear once"):
        bp.Model("outer", "group", models=[inner, sky], target=target)
    with pytest.raises(ModelError, match="appear once"):
        bp.Model("outer", "group", models=[sky, inner], target=target)
    outer = bp.Model("outer", "group", models=[inner], target=target)
    with pytest.raises(ModelError, match="appear once"):
        outer.add_model(sky)
    # a group containing itself: before a RecursionError
    with pytest.raises(ModelError, match="cannot contain itself"):
        inner.add_model(inner)
    with pytest.raises(ModelError, match="itself"):
        inner.add_model(outer)
    # even when forced in behind the API's back, the parameters refuse rather than recurse
    inner.models["loop"] = outer
    with pytest.raises(ModelError, match="more than once"):
        _ = outer.parameters
    del inner.models["loop"]
    # the same Parameter object under two names (two independent fit elements before)
    other = bp.Model("other", "flat sky model", target=target, I=1.0)
    other._own_parameters["I"] = sky["I"]
    with pytest.raises(ModelError, match="same Parameter object"):
        _ = bp.Model("g", "group", models=[inner, other], target=target).parameters
    with pytest.raises(TypeError):
        sky.parameters["I"] = other["I"]  # read-only


def test_a_fully_masked_sub_model_is_named(target: bp.TargetImage) -> None:
    mask = np.zeros(target.shape, dtype=bool)
    mask[:6, :6] = True
    masked = bp.TargetImage(target.data, mask=mask)
    sky = bp.Model("sky", "flat sky model", target=masked, I=0.0)
    star = bp.Model("blob", "gaussian galaxy model", target=masked, window=[[0, 6], [0, 6]], x=3.0, y=3.0, q=0.9,
                    PA=0.1, sigma=1.0, flux=1.0)
    group = bp.Model("g", "group", models=[sky, star], target=masked)
    with pytest.raises(ModelError, match="blob"):  # before: σ = 0 for all its parameters and "success"
        bp.fit.LM(group).fit()
    with pytest.raises(ModelError, match="blob"):
        bp.fit.Iter(group, progress=False).fit()
    for param in star.parameters.values():
        param.fixed = True
    result = bp.fit.LM(group).fit()  # fixed, it is simply part of the model
    assert result.success and result.labels == ["sky:I"]


def test_limits_recheck_the_value() -> None:
    p = bp.Parameter("n", 4.0, limits=(0.3, 8.0))
    with pytest.raises(ParameterError, match="above its upper limit"):
        p.limits = (0.3, 3.0)
    assert p.limits == (0.3, 8.0)  # unchanged after the refusal
    with pytest.raises(ParameterError, match="not below"):
        p.limits = (5.0, 1.0)
    with pytest.raises(ParameterError, match="not below"):
        bp.Parameter("n", limits=(2.0, 2.0))
    with pytest.raises(ParameterError, match="not a number"):
        p.limits = ("a", 3.0)
    with pytest.raises(ParameterError, match="NaN"):
        p.limits = (math.nan, 3.0)
    p.limits = (np.float32(1.0), np.float64(5.0))  # numpy scalars become floats
    assert p.limits == (1.0, 5.0) and all(type(v) is float for v in p.limits)
    p.limits = (-math.inf, math.inf)
    assert p.limits == (None, None)
    pa = bp.Parameter("PA", 3.0, limits=(0.0, math.pi), cyclic=True)
    pa.limits = (0.0, 2.0)  # a cyclic value is wrapped into the new period
    assert float(pa.value) == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="both limits"):
        pa.limits = (0.0, None)
    model = bp.Model("g", "sersic galaxy model", n={"value": 4.0, "limits": (np.float64(0.5), 6.0), "fixed": True})
    assert model["n"].limits == (0.5, 6.0) and model["n"].fixed is True
    with pytest.raises(ParameterError, match="above its upper limit"):
        bp.Model("g", "sersic galaxy model", n={"value": 4.0, "limits": (0.5, 3.0)})


@pytest.mark.parametrize("name", ["q", "Re"])
def test_zero_axis_ratio_or_radius_is_refused(name: str) -> None:
    with pytest.raises(ParameterError, match="at or below its lower limit 0"):
        bp.Model("g", "sersic galaxy model", **{name: 0.0})
    model = bp.Model("g", "sersic galaxy model")
    with pytest.raises(ParameterError, match="at or below"):
        model[name].value = 0.0


@pytest.mark.parametrize("pixelscale", [math.inf, math.nan, -1.0, 0.0, "0.4", None])
def test_bad_pixelscale(pixelscale) -> None:
    with pytest.raises(ImageError, match="pixelscale"):
        bp.TargetImage(np.ones((4, 4)), pixelscale=pixelscale)


@pytest.mark.parametrize("keyword,value", [("zeropoint", math.nan), ("zeropoint", "22.5"), ("gain", math.nan),
                                           ("gain", 0.0), ("read_noise", -1.0), ("read_noise", math.inf),
                                           ("sky_level", math.nan)])
def test_bad_photometric_settings(keyword: str, value) -> None:
    kwargs = {"gain": 4.0} if keyword != "gain" else {}
    with pytest.raises(ImageError, match=keyword):
        bp.TargetImage(np.ones((4, 4)), **{keyword: value, **kwargs})


def test_bad_noise_maps() -> None:
    rms = np.ones((4, 4))
    rms[1, 1] = -0.5  # before: squared into a valid-looking variance
    with pytest.raises(ImageError, match="rms"):
        bp.TargetImage(np.ones((4, 4)), rms=rms)
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = True
    assert bp.TargetImage(np.ones((4, 4)), rms=rms, mask=mask).mask[1, 1]  # masked: fine
    weight = np.ones((4, 4))
    weight[2, 2] = -1.0
    with pytest.raises(ImageError, match="negative weight"):
        bp.TargetImage(np.ones((4, 4)), weight=weight)


def test_spline_knots_and_values_must_agree(target: bp.TargetImage) -> None:
    spline = bp.Model("s", "spline galaxy model", target=target, knots=[0.0, 1.0, 2.0, 4.0], x=10.0, y=10.0, q=0.8,
                      PA=0.2, logI=[1.0, 0.5, 0.0])
    with pytest.raises(ModelError, match="logI has shape"):  # before: a NaN or silently wrong image
        spline.render()
    spline["logI"].value = [1.0, 0.5, 0.0, -0.5]
    assert np.all(np.isfinite(np.asarray(spline.render())))
    for knots in ([0.0, 2.0, 1.0], [0.0], [0.0, math.nan], [-1.0, 1.0]):
        with pytest.raises(ModelError, match="knots"):
            spline.knots = knots


def test_render_never_returns_nan(target: bp.TargetImage) -> None:
    sky = bp.Model("sky", "flat sky model", target=target, I=1.0)
    # force a non-finite value past the checks, as a broken extension might
    sky["I"]._value = np.array(math.nan)
    with pytest.raises(ModelError, match="non-finite"):
        sky.render()
