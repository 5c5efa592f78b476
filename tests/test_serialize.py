"""A nested group's whole state goes to one YAML file and comes back identical."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import yaml

import bayesphot as bp
from bayesphot.errors import ModelError
from bayesphot.models import serialize


@pytest.fixture
def target() -> bp.TargetImage:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:7, :7]
    psf = bp.PSFImage(np.exp(-((xx - 3) ** 2 + (yy - 3) ** 2) / 2.0))
    return bp.TargetImage(rng.normal(size=(40, 44)), psf=psf, pixelscale=0.5)


def _build(target: bp.TargetImage) -> bp.Model:
    mask = np.zeros((24, 20), dtype=bool)
    mask[3:6, 10:12] = True
    gal = bp.Model(
        "gal", "sersic galaxy model", window=bp.Window.from_any([[10, 30], [8, 32]]), mask=mask,
        priors={"n": bp.priors.Uniform(0.3, 8.0), "PA": bp.priors.VonMises(0.3, 2.0)},
        x=10.1, y=9.8, q=0.62, PA=0.3272, n={"value": 1.7, "limits": [0.5, 6.0]}, Re=3.2, Ie=4.5,
    )
    gal["Re"].uncertainty = 0.05
    gal["x"].fixed = True
    gal["Ie"].prior = bp.priors.LogNormal(1.5, 0.4)
    disk = bp.Model("disk", "exponential galaxy model", x=10.0, y=10.0, q=0.3, PA=2.9, Re=6.0, Ie=0.7,
                    psf_convolve=False)
    spline = bp.Model("halo", "spline galaxy model", knots=[0.0, 1.0, 3.0, 8.0], x=11.0, y=10.0, q=0.9, PA=0.0,
                      logI=[0.5, 0.2, -0.4, -1.5])
    inner = bp.Model("core", "group", models=[gal, disk, spline], window=bp.Window.from_any([[4, 40], [2, 38]]))
    sky = bp.Model("sky", "plane sky model", I=0.2, dIdx=0.01, dIdy=-0.02)
    star = bp.Model("star", "point source", window=bp.Window.from_any([[30, 40], [25, 35]]), x=17.3, y=15.1, flux=30.0)
    return bp.Model("field", "group", models=[inner, sky, star], target=target)


def test_round_trip_is_identical(target: bp.TargetImage, tmp_path: Path) -> None:
    field = _build(target)
    file = tmp_path / "field.yaml"
    field.save(file)
    loaded = bp.Model.load(file, target=target)

    assert loaded.to_dict() == field.to_dict()
    assert type(loaded) is type(field)
    assert list(loaded.parameters) == list(field.parameters)
    for key, param in field.parameters.items():
        other = loaded[key]
        assert str(other) == str(param)
        assert other.limits == param.limits and other.fixed == param.fixed and other.cyclic == param.cyclic
        assert other.prior == param.prior and other.user_set == param.user_set
        np.testing.assert_array_equal(other.value, param.value)
        if param.uncertainty is None:
            assert other.uncertainty is None
        else:
            np.testing.assert_array_equal(other.uncertainty, param.uncertainty)

    core, gal = loaded["core"], loaded["core"]["gal"]
    assert type(gal) is type(field["core"]["gal"])
    assert core.window == bp.Window(4, 40, 2, 38)
    assert gal.window == bp.Window(10, 30, 8, 32)
    np.testing.assert_array_equal(gal.fit_mask, field["core"]["gal"].fit_mask)
    assert gal.fit_mask.sum() == 6
    assert loaded["core"]["disk"].psf_convolve is False
    np.testing.assert_array_equal(loaded["core"]["halo"].knots, [0.0, 1.0, 3.0, 8.0])
    assert loaded["core:gal:n"].limits == (0.5, 6.0)
    assert loaded["core:gal:PA"].prior == bp.priors.VonMises(0.3, 2.0)
    assert loaded["core:gal:x"].fixed
    assert float(loaded["core:gal:Re"].uncertainty) == 0.05

    with bp.backend.using("torch"):
        np.testing.assert_array_equal(np.asarray(loaded.render()), np.asarray(field.render()))


def test_yaml_is_plain_and_documented(target: bp.TargetImage, tmp_path: Path) -> None:
    file = tmp_path / "field.yaml"
    _build(target).save(file)
    with open(file, encoding="utf-8") as handle:
        doc = yaml.safe_load(handle)
    assert doc["format"] == "bayesphot-model" and doc["version"] == 1
    model = doc["model"]
    assert model["name"] == "field" and model["type"] == "group"
    core = model["models"][0]
    gal = core["models"][0]
    assert gal["type"] == "sersic galaxy model"
    assert gal["window"] == [[10, 30], [8, 32]]
    assert np.asarray(gal["mask"]).shape == (24, 20)
    pa = gal["parameters"]["PA"]
    assert pa["value"] == pytest.approx(0.3272) and pa["units"] == "rad" and pa["cyclic"] is True
    assert pa["limits"] == [0.0, pytest.approx(math.pi)]
    assert pa["prior"] == {"type": "VonMises", "loc": 0.3, "concentration": 2.0, "period": pytest.approx(math.pi)}
    assert gal["parameters"]["Re"]["uncertainty"] == 0.05
    assert core["models"][2]["extra"] == {"knots": [0.0, 1.0, 3.0, 8.0]}
    # the module docstring documents every key a model entry has
    for key in ("name", "type", "window", "psf_convolve", "mask", "extra", "parameters", "models"):
        assert f"{key}:" in serialize.__doc__
    for key in gal["parameters"]["PA"]:
        assert key in serialize.__doc__


def test_unset_values_and_initialize_after_load(target: bp.TargetImage, tmp_path: Path) -> None:
    gal = bp.Model("gal", "sersic galaxy model", target=target, n=1.5)
    file = tmp_path / "gal.yaml"
    gal.save(file)
    loaded = bp.Model.load(file, target=target)
    assert loaded["x"].value is None and loaded["n"].user_set
    loaded.initialize()
    assert float(loaded["n"]) == 1.5  # a saved user value is never overwritten
    assert loaded["x"].value is not None


def test_load_without_target_then_attach(target: bp.TargetImage, tmp_path: Path) -> None:
    field = _build(target)
    file = tmp_path / "field.yaml"
    field.save(file)
    loaded = bp.Model.load(file)
    assert not loaded.has_target
    loaded.target = target
    assert loaded["core"]["gal"].target is target


def test_not_a_model_file(tmp_path: Path) -> None:
    file = tmp_path / "other.yaml"
    file.write_text("format: something-else\n")
    with pytest.raises(ModelError, match="is not a bayesphot model file"):
        bp.Model.load(file)
    file.write_text("format: bayesphot-model\nversion: 99\nmodel: {}\n")
    with pytest.raises(ModelError, match="format version 99"):
        bp.Model.load(file)
