"""Pixelated point-spread functions."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits

from ..errors import ImageError

#: what a PSF image holds: the PSF *sampled* at (sub-)pixel centres, or the *effective* PSF (already
#: integrated over an image pixel: a star cutout, photutils' ePSF, PSFEx)
KINDS = ("sampled", "effective")


class PSFKindWarning(UserWarning):
    """A PSF was read without saying whether it is sampled or pixel-integrated (see :class:`PSFImage`)."""


def _pixel_box(kernel: np.ndarray, power: int) -> np.ndarray:
    """``kernel`` convolved (power 1) or deconvolved (power −1) with a one-pixel box, through its DFT.

    The box's transform is sinc(f_x) sinc(f_y) (f in cycles per pixel); below the
    Nyquist frequency it is at least (2/π)² ≈ 0.405, so the division is stable.
    For a kernel band-limited below Nyquist both are exact.  The kernel is
    zero-padded to twice its size (no wrap-around) and cut back to its shape.
    """
    rows, cols = kernel.shape
    padded = np.zeros((2 * rows, 2 * cols))
    padded[:rows, :cols] = kernel
    padded = np.roll(padded, (-(rows // 2), -(cols // 2)), axis=(0, 1))  # centre pixel at [0, 0]
    box = np.sinc(np.fft.fftfreq(2 * rows))[:, None] * np.sinc(np.fft.rfftfreq(2 * cols))[None, :]
    out = np.fft.irfft2(np.fft.rfft2(padded) * box**power, s=padded.shape)
    out = np.roll(out, (rows // 2, cols // 2), axis=(0, 1))[:rows, :cols]
    return out / out.sum()


class PSFImage:
    """A normalised, odd-sized PSF image.

    Parameters
    ----------
    data : 2-D array
        PSF pixels; normalised to unit sum on construction.
    oversampling : int
        PSF pixels per image pixel along each axis (1 = same grid as the image).
        The PSF is centred on its middle pixel.
    kind : {"sampled", "effective"}
        What ``data`` holds. ``"sampled"`` (default): the PSF's value at each
        (sub-)pixel centre, as a PSF model (Moffat, TinyTim, WebbPSF at the
        detector's sampling) gives it.  ``"effective"``: the PSF already
        integrated over an image pixel, as a star in the image is: star
        cutouts, photutils' ePSF (:mod:`bayesphot.catalog.psf` builds one), PSFEx.
        An effective PSF must be given at ``oversampling`` 1.

    Notes
    -----
    Extended models integrate their profile over (sub-)pixels and convolve it
    with the *sampled* PSF (:attr:`convolution_kernel`); a point source is the
    *effective* PSF placed at its position (:attr:`point_kernel`).  Using one
    image for both is off by one pixel box: an effective PSF makes galaxies too
    broad (a Sérsic through a Gaussian of FWHM 2.8 px: 3.3–3.7 % of its peak),
    a sampled one makes stars too sharp.  So at ``oversampling`` 1 the other
    kernel is derived once, on construction, by convolving with the pixel box
    or deconvolving it (:func:`_pixel_box`; exact for a PSF band-limited below
    Nyquist, ≈ 1e-4 of the peak for that Gaussian).  Oversampled (sampled) PSFs
    need no conversion: a point source sums its sub-pixel samples, which
    integrates them over the image pixel.
    """

    def __init__(self, data: np.ndarray, oversampling: int = 1, kind: str = "sampled") -> None:
        arr = np.array(data, dtype=np.float64)
        if arr.ndim != 2:
            raise ImageError(f"a PSF must be 2-D, got shape {arr.shape}")
        if arr.shape[0] % 2 == 0 or arr.shape[1] % 2 == 0:
            raise ImageError(f"a PSF needs odd dimensions (a centre pixel), got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ImageError("the PSF contains NaN or infinite pixels")
        total = arr.sum()
        if not total > 0:
            raise ImageError("the PSF sums to a non-positive value and cannot be normalised")
        if int(oversampling) != oversampling or oversampling < 1:
            raise ImageError(f"oversampling must be a positive integer, got {oversampling}")
        if kind not in KINDS:
            raise ImageError(f"a PSF's kind is one of {KINDS}, got {kind!r}")
        if kind == "effective" and oversampling != 1:
            raise ImageError("an effective (pixel-integrated) PSF must be given at oversampling 1; give an "
                             "oversampled PSF as kind='sampled'")
        self.data = arr / total
        self.oversampling = int(oversampling)
        self.kind = kind
        if self.oversampling > 1:
            self.convolution_kernel = self.point_kernel = self.data
        elif kind == "sampled":
            self.convolution_kernel, self.point_kernel = self.data, _pixel_box(self.data, 1)
        else:
            self.convolution_kernel, self.point_kernel = _pixel_box(self.data, -1), self.data

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    @property
    def half_size_pixels(self) -> tuple[int, int]:
        """Half-size (rows, columns) in image pixels, rounded up: the padding a convolution needs."""
        s = self.oversampling
        return (int(np.ceil((self.shape[0] // 2) / s)), int(np.ceil((self.shape[1] // 2) / s)))

    @classmethod
    def from_fits(cls, path: str | Path, hdu: int | str = 0, oversampling: int | None = None,
                  kind: str | None = None) -> PSFImage:
        """Read a PSF from FITS (``OVERSAMP`` and ``PSFKIND`` header keywords used when present and not given)."""
        with fits.open(path) as hdul:
            header = hdul[hdu].header
            if kind is None and "PSFKIND" not in header and (oversampling or int(header.get("OVERSAMP", 1))) == 1:
                warnings.warn(f"{Path(path).name}: no PSFKIND keyword, so the PSF is taken as sampled at pixel "
                              "centres; if it is pixel-integrated (a star cutout, an ePSF, PSFEx) declare "
                              "kind='effective' (--psf-kind effective), or point sources come out one pixel too "
                              "broad", PSFKindWarning, stacklevel=2)
            return cls.from_hdu(hdul[hdu], oversampling=oversampling, kind=kind)

    @classmethod
    def from_hdu(cls, hdu: Any, oversampling: int | None = None, kind: str | None = None) -> PSFImage:
        """A PSF from a FITS HDU; ``OVERSAMP`` and ``PSFKIND`` (else 1 and ``"sampled"``) unless given."""
        header = hdu.header
        return cls(np.array(hdu.data, dtype=np.float64),
                   oversampling=int(header.get("OVERSAMP", 1)) if oversampling is None else oversampling,
                   kind=kind or str(header.get("PSFKIND", "sampled")))

    def to_hdu(self, name: str = "PSF") -> fits.ImageHDU:
        hdu = fits.ImageHDU(self.data, name=name)
        hdu.header["OVERSAMP"] = (self.oversampling, "PSF pixels per image pixel")
        hdu.header["PSFKIND"] = (self.kind, "sampled at pixel centres, or effective (pixel-integrated)")
        return hdu

    def __repr__(self) -> str:
        return f"PSFImage(shape={self.shape}, oversampling={self.oversampling}, kind={self.kind!r})"
