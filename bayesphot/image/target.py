"""The observed image: data, noise, mask, PSF, pixel scale, zero-point and WCS."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS

from ..errors import ImageError
from .psf import PSFImage
from .window import Window

PathLike = str | Path


def _as_image(name: str, value: Any, shape: tuple[int, ...] | None) -> np.ndarray:
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0 and shape is not None:
        arr = np.full(shape, float(arr))
    if arr.ndim != 2:
        raise ImageError(f"{name} must be a 2-D image, got shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ImageError(f"{name} has shape {arr.shape} but the data have shape {tuple(shape)}")
    return arr


def _number(name: str, value: Any, *, positive: bool = False, nonnegative: bool = False) -> float:
    """``value`` as a finite float (numpy scalars accepted), or an ImageError naming it."""
    if isinstance(value, (str, bytes)) or value is None:
        raise ImageError(f"{name} must be a number, got {value!r}")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ImageError(f"{name} must be a number, got {value!r}") from None
    if not np.isfinite(out):
        raise ImageError(f"{name} must be finite, got {value!r}")
    if positive and not out > 0:
        raise ImageError(f"{name} must be positive, got {value!r}")
    if nonnegative and out < 0:
        raise ImageError(f"{name} must not be negative, got {value!r}")
    return out


def ccd_variance(data: np.ndarray, gain: float, read_noise: float, sky_level: float = 0.0) -> np.ndarray:
    """Data-based CCD variance in ADU², as Imfit computes it.

    ``(data + sky_level) / gain + read_noise² / gain²`` with ``gain`` in e⁻/ADU,
    ``read_noise`` in e⁻ and ``sky_level`` the (already subtracted) sky in ADU.
    """
    gain = _number("gain", gain, positive=True)
    read_noise = _number("read_noise", read_noise, nonnegative=True)
    sky_level = _number("sky_level", sky_level)
    return (data + sky_level) / gain + (read_noise / gain) ** 2


class TargetImage:
    """An image to be modelled, with its per-pixel variance and mask.

    Parameters
    ----------
    data : 2-D array
        Pixel values (flux per pixel).
    variance, weight, rms : 2-D array or float, optional
        Give at most one: variance σ², weight 1/σ², or rms σ.  With none of
        them, ``gain`` (e⁻/ADU) and ``read_noise`` (e⁻) give the data-based CCD
        model of :func:`ccd_variance`; with nothing at all the variance is 1.
    mask : 2-D bool array, optional
        True marks a bad pixel, excluded from every likelihood.
    mask_nan : bool
        Mask non-finite data pixels automatically (default).  With False a NaN
        in an unmasked pixel raises :class:`~bayesphot.errors.ImageError`.
    psf : PSFImage, optional
        Convolved with every model that does not opt out.
    pixelscale : float
        arcsec per pixel (square pixels).
    zeropoint : float, optional
        Magnitude zero-point: ``mag = zeropoint - 2.5 log10(flux)``.
    wcs : astropy.wcs.WCS, optional
        Converts the tangent-plane arcsec coordinates to RA/Dec.
    """

    def __init__(
        self,
        data: Any,
        *,
        variance: Any = None,
        weight: Any = None,
        rms: Any = None,
        gain: float | None = None,
        read_noise: float = 0.0,
        sky_level: float = 0.0,
        mask: Any = None,
        mask_nan: bool = True,
        psf: PSFImage | None = None,
        pixelscale: float = 1.0,
        zeropoint: float | None = None,
        wcs: WCS | None = None,
    ) -> None:
        data = _as_image("data", data, None)
        shape = data.shape
        if data.size == 0:
            raise ImageError("the data image is empty")
        pixelscale = _number("pixelscale", pixelscale, positive=True)
        if zeropoint is not None:
            zeropoint = _number("zeropoint", zeropoint)
        read_noise = _number("read_noise", read_noise, nonnegative=True)
        sky_level = _number("sky_level", sky_level)
        if gain is not None:
            gain = _number("gain", gain, positive=True)
        given = [name for name, v in (("variance", variance), ("weight", weight), ("rms", rms)) if v is not None]
        if len(given) > 1:
            raise ImageError(f"give only one of variance, weight, rms (got {', '.join(given)})")

        mask_arr = np.zeros(shape, dtype=bool) if mask is None else _as_image("mask", mask, shape) != 0
        bad_data = ~np.isfinite(data)
        if np.any(bad_data & ~mask_arr):
            if not mask_nan:
                n = int(np.sum(bad_data & ~mask_arr))
                raise ImageError(f"{n} data pixels are NaN or infinite and not masked (mask them or use mask_nan=True)")
            mask_arr = mask_arr | bad_data

        if variance is not None:
            var = _as_image("variance", variance, shape)
        elif weight is not None:
            w = _as_image("weight", weight, shape)
            negative = ~mask_arr & (w < 0)
            if np.any(negative):
                raise ImageError(f"{int(negative.sum())} unmasked pixels have negative weight (zero means 'ignore')")
            if np.any(~mask_arr & ~np.isfinite(w)):
                raise ImageError("the weight map has NaN or infinite values at unmasked pixels")
            with np.errstate(divide="ignore"):
                var = np.where(w > 0, 1.0 / np.where(w > 0, w, 1.0), np.inf)
            # zero weight means "ignore this pixel"
            mask_arr = mask_arr | ~(w > 0)
        elif rms is not None:
            sigma = _as_image("rms", rms, shape)
            bad = ~mask_arr & ~(np.isfinite(sigma) & (sigma > 0))
            if np.any(bad):
                raise ImageError(f"{int(bad.sum())} unmasked pixels have a non-positive or non-finite rms")
            var = sigma**2
        elif gain is not None:
            var = ccd_variance(np.where(bad_data, 0.0, data), gain, read_noise, sky_level)
        else:
            var = np.ones(shape)

        good = ~mask_arr
        bad_var = good & ~(np.isfinite(var) & (var > 0))
        if np.any(bad_var):
            n = int(np.sum(bad_var))
            raise ImageError(f"{n} unmasked pixels have non-positive or non-finite variance")
        if not np.any(good):
            raise ImageError("every pixel is masked: nothing to fit")

        # non-finite pixels (all masked by now) become 0 so nothing downstream sees NaN
        self.data = np.where(bad_data, 0.0, data) if np.any(bad_data) else data
        self.variance = np.where(mask_arr & ~(np.isfinite(var) & (var > 0)), np.inf, var)
        self.mask = mask_arr
        self.psf = psf
        self.pixelscale = float(pixelscale)
        self.zeropoint = None if zeropoint is None else float(zeropoint)
        self.wcs = wcs
        # CCD settings are kept whenever given (also with an explicit noise map), and saved
        self.gain = gain
        self.read_noise = read_noise
        self.sky_level = sky_level
        self.noise_model = {"gain": gain, "read_noise": read_noise, "sky_level": sky_level} if (
            variance is None and weight is None and rms is None and gain is not None
        ) else None

    # -------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    @property
    def window(self) -> Window:
        """The whole image as a window."""
        return Window.from_shape(self.shape)

    @property
    def pixel_area(self) -> float:
        """arcsec² per pixel."""
        return self.pixelscale**2

    @property
    def weight(self) -> np.ndarray:
        """1/σ², zero at masked pixels."""
        return np.where(self.mask, 0.0, 1.0 / self.variance)

    def pixel_to_arcsec(self, col: Any, row: Any) -> tuple[np.ndarray, np.ndarray]:
        """Tangent-plane (x, y) in arcsec of 0-based pixel (column, row) coordinates."""
        return np.asarray(col) * self.pixelscale, np.asarray(row) * self.pixelscale

    def arcsec_to_pixel(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """0-based pixel (column, row) of tangent-plane (x, y) in arcsec."""
        return np.asarray(x) / self.pixelscale, np.asarray(y) / self.pixelscale

    def world_coordinates(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        """(RA, Dec) in degrees of (x, y) arcsec, via the WCS."""
        if self.wcs is None:
            raise ImageError("this target has no WCS")
        col, row = self.arcsec_to_pixel(x, y)
        ra, dec = self.wcs.all_pix2world(col, row, 0)  # SIP (and other) distortions included
        return ra, dec

    def __repr__(self) -> str:
        return (
            f"TargetImage(shape={self.shape}, pixelscale={self.pixelscale}, masked={int(self.mask.sum())}, "
            f"psf={self.psf!r}, zeropoint={self.zeropoint})"
        )

    # ------------------------------------------------------------------ FITS
    @classmethod
    def from_fits(
        cls,
        path: PathLike,
        *,
        hdu: int | str = 0,
        mask: PathLike | np.ndarray | None = None,
        variance: PathLike | np.ndarray | float | None = None,
        weight: PathLike | np.ndarray | float | None = None,
        rms: PathLike | np.ndarray | float | None = None,
        psf: PSFImage | PathLike | None = None,
        pixelscale: float | None = None,
        **kwargs: Any,
    ) -> TargetImage:
        """Read a target from FITS.

        ``mask``/``variance``/``weight``/``rms`` may be arrays or FITS paths.
        A file written by :meth:`save` (extensions VARIANCE, MASK, PSF) is read
        back whole.  ``pixelscale`` defaults to the ``PIXSCALE`` keyword, then
        to the WCS pixel scale, then to 1.  Other keywords (``gain``,
        ``read_noise``, ``sky_level``, ``zeropoint``, ``mask_nan``) go to the
        constructor.
        """
        read = lambda v: _read_fits_array(v) if isinstance(v, (str, Path)) else v
        with fits.open(path) as hdul:
            header = hdul[hdu].header
            data = np.array(hdul[hdu].data, dtype=np.float64)
            names = {h.name for h in hdul}
            if variance is None and weight is None and rms is None and "VARIANCE" in names:
                variance = np.array(hdul["VARIANCE"].data, dtype=np.float64)
            if mask is None and "MASK" in names:
                mask = np.array(hdul["MASK"].data) != 0
            if psf is None and "PSF" in names:
                psf = PSFImage.from_hdu(hdul["PSF"])
        if isinstance(psf, (str, Path)):
            psf = PSFImage.from_fits(psf)
        wcs = _wcs_from_header(header)
        if header.get("BPTARGET", False):  # CCD settings written by save() (other files' GAIN is not used)
            for key, keyword in (("gain", "GAIN"), ("read_noise", "RDNOISE"), ("sky_level", "SKYLEVEL")):
                if key not in kwargs and keyword in header:
                    kwargs[key] = header[keyword]
        if pixelscale is None:
            pixelscale = header.get("PIXSCALE")
        if pixelscale is None and wcs is not None and wcs.has_celestial:
            # only a celestial WCS has a scale in degrees; a linear one (CTYPE '', CDELT 1: the ESO field's)
            # counts pixels, and reading its CDELT as degrees made the pixels 3600 arcsec wide
            from astropy.wcs.utils import proj_plane_pixel_scales

            pixelscale = float(np.mean(proj_plane_pixel_scales(wcs.celestial))) * 3600.0
        if "zeropoint" not in kwargs and "ZEROPT" in header:
            kwargs["zeropoint"] = header["ZEROPT"]
        return cls(
            data, mask=read(mask), variance=read(variance), weight=read(weight), rms=read(rms),
            psf=psf, pixelscale=1.0 if pixelscale is None else float(pixelscale), wcs=wcs, **kwargs,
        )

    def save(self, path: PathLike, overwrite: bool = True) -> None:
        """Write data, variance, mask, PSF, WCS (with SIP distortion) and CCD settings to one FITS file.

        The file is written to a temporary name next to ``path`` and renamed,
        so a failure never leaves a truncated file.
        """
        header = self.wcs.to_header(relax=True) if self.wcs is not None else fits.Header()
        header["BPTARGET"] = (True, "written by bayesphot TargetImage.save")
        header["PIXSCALE"] = (self.pixelscale, "arcsec per pixel")
        if self.zeropoint is not None:
            header["ZEROPT"] = (self.zeropoint, "magnitude zero-point")
        if self.gain is not None:
            header["GAIN"] = (self.gain, "e-/ADU")
        header["RDNOISE"] = (self.read_noise, "read noise, e-")
        header["SKYLEVEL"] = (self.sky_level, "subtracted sky level, ADU")
        hdus = [
            fits.PrimaryHDU(self.data, header=header),
            fits.ImageHDU(np.where(np.isfinite(self.variance), self.variance, 0.0), name="VARIANCE"),
            fits.ImageHDU(self.mask.astype(np.uint8), name="MASK"),
        ]
        if self.psf is not None:
            hdus.append(self.psf.to_hdu("PSF"))
        path = Path(path)
        if path.exists() and not overwrite:
            raise ImageError(f"{path} exists (overwrite=False)")
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            fits.HDUList(hdus).writeto(tmp, overwrite=True)
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def _read_fits_array(path: PathLike) -> np.ndarray:
    with fits.open(path) as hdul:
        for h in hdul:
            if h.data is not None:
                return np.array(h.data)
    raise ImageError(f"{path} holds no image data")


def _wcs_from_header(header: fits.Header) -> WCS | None:
    if "CTYPE1" not in header:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return WCS(header)
