"""Nothing is lost by saving: every field comes back, and a failed save never destroys an earlier one."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from astropy.io import fits
from astropy.wcs import WCS, Sip

import bayesphot as bp
from bayesphot.errors import ModelError
from bayesphot.models import serialize
from bayesphot.render import DEFAULT_QUADRATURE


@pytest.fixture
def target() -> bp.TargetImage:
    return bp.TargetImage(np.random.default_rng(2).normal(size=(30, 32)), pixelscale=0.5)


def test_failed_save_keeps_the_previous_file(target: bp.TargetImage, tmp_path: Path, monkeypatch) -> None:
    model = bp.Model("sky", "flat sky model", target=target, I=1.0)
    path = tmp_path / "m.yaml"
    model.save(path)
    before = path.read_bytes()
    model["I"].value = 2.0

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        model.save(path)
    assert path.read_bytes() == before  # before: 0 bytes
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.yaml"]  # no temporary file left behind
    monkeypatch.undo()
    model.save(path)
    assert float(bp.Model.load(path)["I"].value) == 2.0


def test_numpy_scalars_are_saved_as_plain_numbers(target: bp.TargetImage, tmp_path: Path) -> None:
    gal = bp.Model("gal", "sersic galaxy model", target=target,
                   n={"value": np.float32(2.5), "limits": (np.float64(0.5), np.float32(6.0)), "fixed": np.bool_(True)},
                   Re={"value": np.float64(3.0), "uncertainty": np.float64(0.1)},
                   priors={"Ie": bp.priors.LogNormal(np.float64(1.0), np.float32(0.5))})
    gal["q"].value = np.float16(0.5)
    path = tmp_path / "gal.yaml"
    gal.save(path)  # before: a RepresenterError after the file had been truncated
    text = path.read_text()
    assert "numpy" not in text and "!!python" not in text
    again = bp.Model.load(path, target=target)
    assert again["n"].limits == (0.5, 6.0) and again["n"].fixed is True and float(again["n"].value) == 2.5
    assert float(again["Re"].uncertainty) == pytest.approx(0.1)
    assert again["Ie"].prior == bp.priors.LogNormal(1.0, 0.5)
    assert serialize.plain({"a": np.int64(3), "b": [np.bool_(False)]}) == {"a": 3, "b": [False]}


def test_arcsec_window_given_before_a_target(target: bp.TargetImage, tmp_path: Path) -> None:
    box = [[2.0, 11.0], [4.0, 13.0]]  # arcsec
    gal = bp.Model("gal", "sersic galaxy model", window=box)
    path = tmp_path / "gal.yaml"
    gal.save(path)
    assert yaml.safe_load(path.read_text())["model"]["window_arcsec"] == box
    expected = bp.Window.from_arcsec(box, target.pixelscale)
    assert expected.as_list() == [[4, 23], [8, 27]]
    again = bp.Model.load(path, target=target)  # before: read back as pixels [[1, 5], [2, 6]]-like nonsense
    assert again.window == expected
    later = bp.Model.load(path)
    later.target = target
    assert later.window == expected
    # in a group, too
    group = bp.Model("g", "group", models=[bp.Model("gal", "sersic galaxy model", window=box)])
    group.save(path)
    assert bp.Model.load(path, target=target).models["gal"].window == expected


def test_quadrature_setting_round_trips(target: bp.TargetImage, tmp_path: Path) -> None:
    fine = dataclasses.replace(DEFAULT_QUADRATURE, block=2, levels=10)
    gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=fine)
    group = bp.Model("g", "group", models=[gal], target=target)
    path = tmp_path / "g.yaml"
    group.save(path)
    again = bp.Model.load(path, target=target)
    assert again.models["gal"].quadrature == fine
    assert again.quadrature == DEFAULT_QUADRATURE
    with pytest.raises(ModelError, match="QuadratureConfig"):
        bp.Model("gal", "sersic galaxy model", quadrature={"block": 5})


def _sip_wcs(shape: tuple[int, int]) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN-SIP", "DEC--TAN-SIP"]
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.cd = np.array([[-0.4, 0.01], [0.02, 0.4]]) / 3600.0
    a = np.zeros((3, 3))
    b = np.zeros((3, 3))
    a[2, 0], a[0, 2], b[1, 1] = 2e-3, -1e-3, 1.5e-3
    wcs.sip = Sip(a, b, None, None, wcs.wcs.crpix)
    return wcs


def test_target_ccd_settings_and_sip_wcs_round_trip(tmp_path: Path) -> None:
    shape = (40, 50)
    data = np.random.default_rng(3).normal(100.0, 5.0, size=shape)
    wcs = _sip_wcs(shape)
    target = bp.TargetImage(data, gain=4.725, read_noise=4.3, sky_level=130.14, pixelscale=0.4, zeropoint=22.5,
                            wcs=wcs)
    path = tmp_path / "t.fits"
    target.save(path)
    back = bp.TargetImage.from_fits(path)
    assert (back.gain, back.read_noise, back.sky_level) == (4.725, 4.3, 130.14)  # before: dropped
    np.testing.assert_allclose(back.variance, target.variance, rtol=1e-12)
    assert back.wcs.sip is not None  # before: the distortion was dropped
    cols, rows = np.array([0.0, 10.0, 49.0]), np.array([0.0, 35.0, 39.0])
    expected = wcs.all_pix2world(cols, rows, 0)
    np.testing.assert_allclose(back.world_coordinates(cols * 0.4, rows * 0.4), expected, rtol=0, atol=1e-10)
    # the distortion matters at the corners (so the check above can fail)
    linear = WCS(fits.Header(wcs.to_header()))
    assert np.max(np.abs(np.asarray(linear.wcs_pix2world(cols, rows, 0)) - np.asarray(expected))) > 1e-6
    # a foreign file's GAIN keyword does not silently switch the noise model
    fits.PrimaryHDU(data, header=fits.Header({"GAIN": 2.0})).writeto(tmp_path / "raw.fits")
    raw = bp.TargetImage.from_fits(tmp_path / "raw.fits")
    assert raw.gain is None and np.all(raw.variance == 1.0)


def test_posterior_keeps_its_min_ess(tmp_path: Path) -> None:
    from bayesphot.infer.posterior import Posterior, diagnose, from_dict_compat

    rng = np.random.default_rng(4)
    draws = rng.normal(size=(4, 60))  # about 240 effective draws
    idata = from_dict_compat({"posterior": {"a": draws}, "sample_stats": {"diverging": np.zeros((4, 60), bool)}},
                             {}, {"parameters": '["a"]', "min_ess": 50.0})
    post = Posterior(idata=idata, names=["a"], min_ess=50.0)
    post.issues = diagnose(post, 50.0, warn=False)
    assert post.ok
    path = tmp_path / "p.nc"
    post.to_netcdf(path)
    back = Posterior.from_netcdf(path)
    assert back.min_ess == 50.0 and back.ok  # before: re-diagnosed with 100 per chain and flagged
    assert not Posterior(idata=idata, names=["a"], issues=diagnose(post, None, warn=False)).ok
    assert math.isclose(float(back.idata.posterior.attrs["min_ess"]), 50.0)
