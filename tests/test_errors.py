"""Bad input: one exception hierarchy, each message naming the problem."""

from __future__ import annotations

import numpy as np
import pytest

import bayesphot as bp
from bayesphot import errors


@pytest.fixture
def target() -> bp.TargetImage:
    return bp.TargetImage(np.zeros((20, 30)), pixelscale=1.0)


def test_hierarchy() -> None:
    for cls in (errors.ImageError, errors.WindowError, errors.ParameterError, errors.ModelError,
                errors.BackendError, errors.FitError):
        assert issubclass(cls, errors.BayesphotError)
    # value problems stay catchable as ValueError
    assert issubclass(errors.ImageError, ValueError) and issubclass(errors.ParameterError, ValueError)


def test_unknown_model_type() -> None:
    with pytest.raises(errors.ModelError, match=r"unknown model type 'sersic galaxy'.*sersic galaxy model"):
        bp.Model("g", "sersic galaxy")
    with pytest.raises(errors.ModelError, match="needs a model_type"):
        bp.Model("g")


def test_window_outside_image(target: bp.TargetImage) -> None:
    with pytest.raises(errors.WindowError, match=r"window \[\[20, 40\], \[0, 10\]\] is not inside the image"):
        bp.Model("g", "sersic galaxy model", target=target, window=[[20, 40], [0, 10]])
    model = bp.Model("g", "sersic galaxy model", target=target)
    with pytest.raises(errors.WindowError, match="not inside the image of shape"):
        model.window = [[-1, 5], [0, 5]]
    # a window given before the target is checked when the target arrives
    late = bp.Model("g", "sersic galaxy model", window=[[0, 31], [0, 10]])
    with pytest.raises(errors.WindowError, match="not inside"):
        late.target = target


@pytest.mark.parametrize("keyword", ["variance", "weight", "rms", "mask"])
def test_shape_mismatch(keyword: str) -> None:
    with pytest.raises(errors.ImageError, match=rf"{keyword} has shape \(4, 5\) but the data have shape \(5, 4\)"):
        bp.TargetImage(np.zeros((5, 4)), **{keyword: np.ones((4, 5))})


def test_non_2d_and_empty_data() -> None:
    with pytest.raises(errors.ImageError, match="2-D"):
        bp.TargetImage(np.zeros(5))
    with pytest.raises(errors.ImageError, match="empty"):
        bp.TargetImage(np.zeros((0, 3)))


@pytest.mark.parametrize("bad", [0.0, -1.0, np.inf, np.nan])
def test_non_positive_variance(bad: float) -> None:
    var = np.ones((4, 4))
    var[1, 2] = bad
    with pytest.raises(errors.ImageError, match="1 unmasked pixels have non-positive or non-finite variance"):
        bp.TargetImage(np.zeros((4, 4)), variance=var)
    with pytest.raises(errors.ImageError, match="non-positive"):
        bp.TargetImage(np.zeros((4, 4)), rms=np.where(np.arange(16).reshape(4, 4) == 6, 0.0, 1.0))
    # masked, it is fine
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 2] = True
    assert bp.TargetImage(np.zeros((4, 4)), variance=var, mask=mask).weight[1, 2] == 0


def test_negative_ccd_variance() -> None:
    data = np.full((3, 3), 10.0)
    data[0, 0] = -1000.0  # far below the sky: (data + sky)/gain < 0
    with pytest.raises(errors.ImageError, match="non-positive"):
        bp.TargetImage(data, gain=2.0, read_noise=1.0, sky_level=100.0)
    with pytest.raises(errors.ImageError, match="gain must be positive"):
        bp.TargetImage(data, gain=0.0)


def test_nan_in_data() -> None:
    data = np.zeros((4, 4))
    data[2, 2] = np.nan
    with pytest.raises(errors.ImageError, match="1 data pixels are NaN or infinite and not masked"):
        bp.TargetImage(data, mask_nan=False)
    mask = np.zeros((4, 4), dtype=bool)
    mask[2, 2] = True
    assert bp.TargetImage(data, mask=mask, mask_nan=False).mask[2, 2]  # masked by the user: fine
    auto = bp.TargetImage(data)
    assert auto.mask[2, 2] and np.isfinite(auto.data).all()


def test_all_masked_and_several_noise_maps() -> None:
    with pytest.raises(errors.ImageError, match="every pixel is masked"):
        bp.TargetImage(np.zeros((3, 3)), mask=np.ones((3, 3)))
    with pytest.raises(errors.ImageError, match="give only one of variance, weight, rms"):
        bp.TargetImage(np.zeros((3, 3)), variance=1.0, rms=1.0)
    with pytest.raises(errors.ImageError, match="pixelscale must be positive"):
        bp.TargetImage(np.zeros((3, 3)), pixelscale=0.0)


def test_value_outside_limits(target: bp.TargetImage) -> None:
    with pytest.raises(errors.ParameterError, match=r"q: value 1.5 is above its upper limit 1.0"):
        bp.Model("g", "sersic galaxy model", target=target, q=1.5)
    with pytest.raises(errors.ParameterError, match=r"n: value 0.1 is below its lower limit 0.36"):
        bp.Model("g", "sersic galaxy model", n=0.1)
    model = bp.Model("g", "sersic galaxy model", target=target)
    with pytest.raises(errors.ParameterError, match=r"Re: value -2.0 is at or below its lower limit"):
        model["Re"].value = -2.0
    # limits that exclude the initial value
    with pytest.raises(errors.ParameterError, match=r"n: value 9.0 is above its upper limit 5.0"):
        bp.Model("g", "sersic galaxy model", n={"value": 9.0, "limits": [0.5, 5.0]})


def test_group_with_no_models(target: bp.TargetImage) -> None:
    with pytest.raises(errors.ModelError, match="group 'field' has no models"):
        bp.Model("field", "group", models=[], target=target)


def test_duplicate_model_name(target: bp.TargetImage) -> None:
    a = bp.Model("gal", "sersic galaxy model", target=target)
    b = bp.Model("gal", "exponential galaxy model", target=target)
    with pytest.raises(errors.ModelError, match="group 'field' already has a model named 'gal'"):
        bp.Model("field", "group", models=[a, b], target=target)


def test_psf_even_size() -> None:
    with pytest.raises(errors.ImageError, match=r"odd dimensions .* got \(50, 51\)"):
        bp.PSFImage(np.ones((50, 51)))
    with pytest.raises(errors.ImageError, match="NaN"):
        bp.PSFImage(np.full((3, 3), np.nan))


def test_unknown_parameter_name(target: bp.TargetImage) -> None:
    with pytest.raises(errors.ModelError, match="sersic galaxy model 'g' has no parameter 'Rd'"):
        bp.Model("g", "sersic galaxy model", target=target, Rd=3.0)
    model = bp.Model("g", "sersic galaxy model", target=target)
    with pytest.raises(errors.ModelError, match="'g' has no parameter 'sigma'"):
        model["sigma"]
    with pytest.raises(errors.ModelError, match="'g' has no parameter 'Rd'"):
        bp.Model("g", "sersic galaxy model", priors={"Rd": bp.priors.Uniform(0, 1)})
    group = bp.Model("field", "group", models=[model])
    with pytest.raises(errors.ModelError, match="'field' has no parameter 'g:Rd'"):
        group["g:Rd"]
    with pytest.raises(errors.ModelError, match="unknown parameter settings"):
        bp.Model("g", "sersic galaxy model", n={"value": 2.0, "frozen": True})


def test_bad_model_names_and_targets(target: bp.TargetImage) -> None:
    with pytest.raises(errors.ModelError, match="without ':'"):
        bp.Model("a:b", "flat sky model")
    with pytest.raises(errors.ModelError, match="no target image"):
        _ = bp.Model("g", "sersic galaxy model").target
    with pytest.raises(errors.ModelError, match="must be a TargetImage"):
        bp.Model("g", "sersic galaxy model", target=np.zeros((3, 3)))
    with pytest.raises(errors.ModelError, match="mask of 'g' has shape"):
        bp.Model("g", "sersic galaxy model", target=target, window=[[0, 5], [0, 5]], mask=np.zeros((4, 4)))


def test_unset_parameter_on_render(target: bp.TargetImage) -> None:
    model = bp.Model("g", "sersic galaxy model", target=target)
    with pytest.raises(errors.ModelError, match="g:x has no value: call initialize"):
        model.render()


def test_point_source_needs_psf(target: bp.TargetImage) -> None:
    star = bp.Model("star", "point source", target=target, x=10.0, y=10.0, flux=5.0)
    with pytest.raises(errors.ModelError, match="needs a target with a PSF"):
        star.render()


def test_unknown_backend() -> None:
    with pytest.raises(errors.BackendError, match="unknown backend 'numpy'"):
        with bp.backend.using("numpy"):
            pass
