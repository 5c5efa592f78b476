"""TargetImage and PSFImage: noise models, masks, FITS round trips, the IC 3478 CCD variance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS

import bayesphot as bp
from bayesphot.data import IC3478_NOISE, ic3478_target, path
from bayesphot.errors import ImageError

SHARED_IC3478 = Path("/work/shared/data/ic3478")


def _wcs(shape: tuple[int, int], pixelscale: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crpix = [shape[1] / 2 + 0.5, shape[0] / 2 + 0.5]
    wcs.wcs.crval = [187.5, 14.9]
    wcs.wcs.cdelt = [-pixelscale / 3600.0, pixelscale / 3600.0]
    return wcs


def test_noise_models_agree() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(size=(12, 16))
    var = rng.uniform(0.5, 2.0, size=data.shape)
    by_var = bp.TargetImage(data, variance=var)
    by_weight = bp.TargetImage(data, weight=1.0 / var)
    by_rms = bp.TargetImage(data, rms=np.sqrt(var))
    for target in (by_weight, by_rms):
        np.testing.assert_allclose(target.variance, var, rtol=1e-12)
    np.testing.assert_allclose(by_var.weight, 1.0 / var)
    assert bp.TargetImage(data, variance=4.0).variance.shape == data.shape  # scalar broadcast
    np.testing.assert_array_equal(bp.TargetImage(data).variance, 1.0)  # nothing given: unit variance


def test_zero_weight_masks_pixel() -> None:
    weight = np.ones((5, 6))
    weight[1, 2] = 0.0
    target = bp.TargetImage(np.zeros((5, 6)), weight=weight)
    assert target.mask[1, 2] and target.mask.sum() == 1
    assert target.weight[1, 2] == 0.0


def test_ccd_noise_model_formula() -> None:
    data = np.linspace(-10.0, 500.0, 30).reshape(5, 6)
    gain, rn, sky = 2.5, 5.0, 100.0
    target = bp.TargetImage(data, gain=gain, read_noise=rn, sky_level=sky)
    np.testing.assert_allclose(target.variance, (data + sky) / gain + rn**2 / gain**2)
    assert target.noise_model == {"gain": gain, "read_noise": rn, "sky_level": sky}


@pytest.mark.parametrize("source", ["bundled", "shared"])
def test_ic3478_ccd_variance_matches_imfit(source: str) -> None:
    if source == "bundled":
        target = ic3478_target()
        image_path = path("ic3478rss_256.fits")
        mask_path = path("ic3478rss_256_mask.fits")
    else:
        if not SHARED_IC3478.exists():
            pytest.skip("shared data not present")
        image_path = SHARED_IC3478 / "ic3478rss_256.fits"
        mask_path = SHARED_IC3478 / "ic3478rss_256_mask.fits"
        target = bp.TargetImage.from_fits(image_path, mask=mask_path, pixelscale=1.0, **IC3478_NOISE)
    data = fits.getdata(image_path).astype(np.float64)
    mask = fits.getdata(mask_path) != 0
    g, rn, sky = IC3478_NOISE["gain"], IC3478_NOISE["read_noise"], IC3478_NOISE["sky_level"]
    imfit = (data + sky) / g + rn**2 / g**2  # Imfit's data-based variance, ADU^2
    assert target.shape == (256, 256)
    assert target.pixelscale == 1.0
    np.testing.assert_array_equal(target.data, data)
    np.testing.assert_array_equal(target.mask, mask)
    np.testing.assert_allclose(target.variance[~mask], imfit[~mask], rtol=1e-12)
    assert 0 < mask.sum() < mask.size


def test_nan_pixels_masked_automatically() -> None:
    data = np.ones((6, 7))
    data[2, 3] = np.nan
    data[4, 1] = np.inf
    target = bp.TargetImage(data)
    assert target.mask[2, 3] and target.mask[4, 1] and target.mask.sum() == 2
    assert np.all(np.isfinite(target.data))


def test_nan_does_not_erase_other_masked_pixels() -> None:
    data = np.arange(42.0).reshape(6, 7)
    data[0, 0] = np.nan
    mask = np.zeros(data.shape, dtype=bool)
    mask[3, 3] = True
    target = bp.TargetImage(data, mask=mask)
    assert target.data[3, 3] == data[3, 3]  # a user-masked pixel keeps its value
    assert target.mask[3, 3] and target.mask[0, 0]


def test_psf_normalised_odd_oversampled() -> None:
    raw = np.outer([1.0, 2.0, 4.0, 2.0, 1.0], [1.0, 3.0, 1.0])
    psf = bp.PSFImage(raw, oversampling=2)
    assert psf.shape == (5, 3)
    assert psf.data.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(psf.data, raw / raw.sum())
    assert psf.oversampling == 2
    assert psf.half_size_pixels == (1, 1)
    with pytest.raises(ImageError, match="odd"):
        bp.PSFImage(np.ones((4, 5)))
    with pytest.raises(ImageError, match="oversampling"):
        bp.PSFImage(np.ones((5, 5)), oversampling=0)
    with pytest.raises(ImageError, match="non-positive"):
        bp.PSFImage(np.zeros((5, 5)))


def test_psf_from_fits_reads_oversampling(tmp_path: Path) -> None:
    file = tmp_path / "psf.fits"
    hdu = fits.PrimaryHDU(np.ones((9, 9)))
    hdu.header["OVERSAMP"] = 3
    hdu.writeto(file)
    psf = bp.PSFImage.from_fits(file)
    assert psf.oversampling == 3
    assert bp.PSFImage.from_fits(file, oversampling=1).oversampling == 1
    bundled = bp.PSFImage.from_fits(path("psf_moffat_51.fits"))
    assert bundled.shape == (51, 51) and bundled.data.sum() == pytest.approx(1.0)


def test_save_load_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    shape = (20, 24)
    data = rng.normal(size=shape)
    data[3, 4] = np.nan  # auto-masked
    weight = rng.uniform(0.5, 2.0, size=shape)
    weight[10, 11] = 0.0  # zero weight: masked
    mask = np.zeros(shape, dtype=bool)
    mask[15:17, 2:5] = True
    psf = bp.PSFImage(np.outer(np.hanning(9)[1:-1], np.hanning(9)[1:-1]), oversampling=3)
    wcs = _wcs(shape, 0.396)
    target = bp.TargetImage(data, weight=weight, mask=mask, psf=psf, pixelscale=0.396, zeropoint=22.5, wcs=wcs)
    assert target.mask.sum() == 1 + 1 + 6

    file = tmp_path / "target.fits"
    target.save(file)
    back = bp.TargetImage.from_fits(file)

    np.testing.assert_array_equal(back.data, target.data)
    np.testing.assert_array_equal(back.mask, target.mask)
    good = ~target.mask
    np.testing.assert_allclose(back.variance[good], 1.0 / weight[good], rtol=1e-12)
    np.testing.assert_array_equal(back.weight, target.weight)
    assert np.all(back.weight[target.mask] == 0)
    assert back.psf is not None
    assert back.psf.oversampling == 3
    np.testing.assert_allclose(back.psf.data, target.psf.data, rtol=1e-12)
    assert back.pixelscale == pytest.approx(0.396)
    assert back.zeropoint == 22.5
    assert back.wcs is not None
    np.testing.assert_allclose(back.wcs.wcs.crval, wcs.wcs.crval)
    np.testing.assert_allclose(back.wcs.wcs.crpix, wcs.wcs.crpix)
    np.testing.assert_allclose(back.wcs.pixel_scale_matrix, wcs.pixel_scale_matrix)
    x, y = np.array([0.0, 3.3, 9.5]), np.array([0.0, 2.0, 7.1])
    np.testing.assert_allclose(back.world_coordinates(x, y), target.world_coordinates(x, y), atol=1e-10)


def test_pixelscale_from_wcs(tmp_path: Path) -> None:
    shape = (10, 10)
    file = tmp_path / "image.fits"
    fits.PrimaryHDU(np.zeros(shape), header=_wcs(shape, 0.25).to_header()).writeto(file)
    target = bp.TargetImage.from_fits(file)
    assert target.pixelscale == pytest.approx(0.25)
    assert target.wcs is not None
    assert bp.TargetImage.from_fits(file, pixelscale=2.0).pixelscale == 2.0


def test_a_linear_wcs_gives_no_pixel_scale(tmp_path: Path) -> None:
    """The ESO field's header has CTYPE1 = '' and CDELT1 = 1 (pixels): read as degrees it made every pixel
    3600 arcsec wide, which broke NUTS (sky per arcsec² ~1e-7 beside positions ~2e4: condition number 1e18)."""
    header = fits.Header({"CTYPE1": "", "CTYPE2": "", "CDELT1": 1.0, "CDELT2": 1.0, "CRPIX1": 1.0, "CRPIX2": 1.0})
    fits.PrimaryHDU(np.zeros((8, 8)), header=header).writeto(tmp_path / "linear.fits")
    assert bp.TargetImage.from_fits(tmp_path / "linear.fits").pixelscale == 1.0


def test_from_fits_with_array_and_path_inputs(tmp_path: Path) -> None:
    data = np.arange(20.0).reshape(4, 5) + 1
    fits.PrimaryHDU(data).writeto(tmp_path / "d.fits")
    fits.PrimaryHDU(np.full(data.shape, 4.0)).writeto(tmp_path / "rms.fits")
    target = bp.TargetImage.from_fits(tmp_path / "d.fits", rms=tmp_path / "rms.fits", zeropoint=25.0)
    np.testing.assert_array_equal(target.variance, 16.0)
    assert target.zeropoint == 25.0 and target.wcs is None and target.pixelscale == 1.0


def test_pixel_arcsec_conversion() -> None:
    target = bp.TargetImage(np.zeros((4, 4)), pixelscale=0.5)
    x, y = target.pixel_to_arcsec(3.0, 2.0)
    assert (x, y) == (1.5, 1.0)
    assert target.arcsec_to_pixel(x, y) == (3.0, 2.0)
    assert target.pixel_area == 0.25
    with pytest.raises(ImageError, match="no WCS"):
        target.world_coordinates(0.0, 0.0)
