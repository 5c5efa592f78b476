"""Pixelated point-spread functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from astropy.io import fits

from ..errors import ImageError


class PSFImage:
    """A normalised, odd-sized PSF image.

    Parameters
    ----------
    data : 2-D array
        PSF pixels; normalised to unit sum on construction.
    oversampling : int
        PSF pixels per image pixel along each axis (1 = same grid as the image).
        The PSF is centred on its middle pixel.

    Notes
    -----
    How the image is used (measured 2026-11-27; a flag to declare which kind of
    image this is remains to be added):

    * extended models integrate their profile over (sub-)pixels and convolve that
      with these samples, which is right for the PSF *sampled* at (sub-)pixel
      centres;
    * a point source places these samples at its position and, with
      ``oversampling`` > 1, sums them into image pixels, which is right for an
      *effective* PSF (already integrated over an image pixel) at ``oversampling`` 1
      and for a sampled PSF when oversampled.

    So at ``oversampling`` 1 one image cannot suit both: an effective PSF (the
    ePSF of :mod:`bayesphot.catalog.psf`, photutils' ``EPSFBuilder``) convolves
    galaxies with one pixel too many (for a Gaussian of FWHM 2.8 px, Sérsic images
    3–4 % of their peak too broad), a sampled PSF makes stars one pixel too
    sharp.  Give an oversampled PSF (3 or more) where that matters.
    """

    def __init__(self, data: np.ndarray, oversampling: int = 1) -> None:
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
        self.data = arr / total
        self.oversampling = int(oversampling)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    @property
    def half_size_pixels(self) -> tuple[int, int]:
        """Half-size (rows, columns) in image pixels, rounded up: the padding a convolution needs."""
        s = self.oversampling
        return (int(np.ceil((self.shape[0] // 2) / s)), int(np.ceil((self.shape[1] // 2) / s)))

    @classmethod
    def from_fits(cls, path: str | Path, hdu: int | str = 0, oversampling: int | None = None) -> PSFImage:
        """Read a PSF from FITS (``OVERSAMP`` header keyword used when present)."""
        with fits.open(path) as hdul:
            header = hdul[hdu].header
            data = np.array(hdul[hdu].data, dtype=np.float64)
        if oversampling is None:
            oversampling = int(header.get("OVERSAMP", 1))
        return cls(data, oversampling=oversampling)

    def to_hdu(self, name: str = "PSF") -> fits.ImageHDU:
        hdu = fits.ImageHDU(self.data, name=name)
        hdu.header["OVERSAMP"] = (self.oversampling, "PSF pixels per image pixel")
        return hdu

    def __repr__(self) -> str:
        return f"PSFImage(shape={self.shape}, oversampling={self.oversampling})"
