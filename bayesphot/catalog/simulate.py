"""Synthetic fields with known sources: for tests, injection studies and benchmarks.

With a Gaussian PSF given by its FWHM, sources are rendered by numpy alone
(independently of bayesphot's renderer); with a PSFImage, by bayesphot's
own models.  Each source lives on a window of ``±window_radius`` pixels (at
least 6 Re) around its centre; Gaussian noise of a given rms map is added.  The truth table
keeps every parameter in catalog units (pixels, arcsec, radians CCW from +y).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..image.psf import PSFImage
from ..image.target import TargetImage
from ..image.window import Window
from ..models.base import Model
from ..profiles.sersic import sersic_total_flux


def gaussian_psf(fwhm: float, size: int = 15) -> PSFImage:
    """A pixel-integrated circular Gaussian PSF of ``fwhm`` pixels on a ``size`` × ``size`` grid (odd)."""
    from scipy.special import erf

    sigma = fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    edges = np.arange(size + 1) - size / 2.0
    cdf = 0.5 * (1.0 + erf(edges / (math.sqrt(2.0) * sigma)))
    line = np.diff(cdf)
    return PSFImage(np.outer(line, line), kind="effective")


@dataclass
class TrueSource:
    """A simulated source (pixels, 0-based; Re in pixels; PA radians CCW from +y)."""

    kind: str
    x: float
    y: float
    flux: float
    Re: float = float("nan")
    n: float = float("nan")
    q: float = 1.0
    PA: float = 0.0


def _gaussian_pixels(shape: tuple[int, int], x: float, y: float, sigma: float) -> np.ndarray:
    """A unit-flux circular Gaussian integrated exactly over each pixel (pixel centres at integers)."""
    from scipy.special import erf

    rows, cols = shape
    cx = np.arange(cols + 1) - 0.5
    cy = np.arange(rows + 1) - 0.5
    fx = np.diff(0.5 * (1.0 + erf((cx - x) / (math.sqrt(2.0) * sigma))))
    fy = np.diff(0.5 * (1.0 + erf((cy - y) / (math.sqrt(2.0) * sigma))))
    return np.outer(fy, fx)


def _sersic_pixels(shape: tuple[int, int], src: TrueSource, sigma: float, window_radius: int,
                   supersample: int = 7) -> np.ndarray:
    """A PSF-convolved Sérsic by brute force: profile sampled on a ``supersample``² sub-grid per pixel,
    Gaussian-blurred on that grid (``scipy.ndimage``) and summed back into pixels (numpy only)."""
    from scipy.ndimage import gaussian_filter
    from scipy.special import gammaincinv

    r = max(window_radius, math.ceil(6 * src.Re))
    cx, cy = round(src.x), round(src.y)
    x0, y0 = cx - r, cy - r
    side = 2 * r + 1
    s = supersample
    sub = (np.arange(side * s) + 0.5) / s - 0.5
    xx = x0 + sub[None, :] - src.x
    yy = y0 + sub[:, None] - src.y
    # major axis along (−sin PA, cos PA): u along it, v across
    u = -xx * math.sin(src.PA) + yy * math.cos(src.PA)
    v = -xx * math.cos(src.PA) - yy * math.sin(src.PA)
    radius = np.sqrt(u**2 + (v / src.q) ** 2)
    b = float(gammaincinv(2.0 * src.n, 0.5))
    ie = src.flux / sersic_total_flux(1.0, src.Re, src.n, src.q)
    sb = ie * np.exp(-b * ((radius / src.Re) ** (1.0 / src.n) - 1.0)) / s**2   # flux per sub-pixel
    blurred = gaussian_filter(sb, sigma * s, mode="constant", truncate=6.0)
    pixels = blurred.reshape(side, s, side, s).sum(axis=(1, 3))
    image = np.zeros(shape)
    window = Window(x0, x0 + side, y0, y0 + side)
    inside = window.intersection(Window.from_shape(shape))
    if not inside.is_empty:
        image[inside.slices] = pixels[inside.relative_to(window)]
    return image


def render_sources(shape: tuple[int, int], sources: Sequence[TrueSource], psf: PSFImage | float | None,
                   window_radius: int = 20) -> np.ndarray:
    """Noise-free image (flux per pixel, pixelscale 1) of the sources.

    ``psf`` a number: a circular Gaussian of that FWHM (pixels), rendered
    independently of bayesphot (exact pixel integrals for point sources, a
    7 × 7 sub-pixel grid for Sérsics).  ``psf`` a PSFImage: bayesphot's own
    ``point source`` and ``sersic galaxy model`` render them (any PSF, e.g. an ePSF).
    """
    image = np.zeros(shape)
    if psf is None or np.isscalar(psf):
        sigma = (float(psf) if psf is not None else 1e-3) / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        for src in sources:
            if src.kind == "point":
                image += src.flux * _gaussian_pixels(shape, src.x, src.y, sigma)
            else:
                image += _sersic_pixels(shape, src, sigma, window_radius)
        return image
    blank = TargetImage(np.zeros(shape), psf=psf, pixelscale=1.0)
    for i, src in enumerate(sources):
        cx, cy = round(src.x), round(src.y)
        r = window_radius if src.kind == "point" else max(window_radius, math.ceil(6 * src.Re))
        window = Window(cx - r, cx + r + 1, cy - r, cy + r + 1).intersection(Window.from_shape(shape))
        if window.is_empty:
            continue
        if src.kind == "point":
            model = Model(f"t{i}", "point source", target=blank, window=window, x=src.x, y=src.y, flux=src.flux)
        else:
            ie = src.flux / sersic_total_flux(1.0, src.Re, src.n, src.q)
            model = Model(f"t{i}", "sersic galaxy model", target=blank, window=window, x=src.x, y=src.y,
                          q=src.q, PA=src.PA, n=src.n, Re=src.Re, Ie=ie)
        image += np.asarray(model.render(), dtype=np.float64)
    return image


def simulate_field(shape: tuple[int, int], sources: Sequence[TrueSource], psf: PSFImage | float | None,
                   rms: np.ndarray | float, seed: int = 0, sky: float = 0.0,
                   window_radius: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """(image, rms map): the rendered sources plus ``sky`` plus Gaussian noise of ``rms``."""
    rng = np.random.default_rng(seed)
    rms_map = np.broadcast_to(np.asarray(rms, dtype=np.float64), shape).copy()
    image = render_sources(shape, sources, psf, window_radius) + sky + rng.standard_normal(shape) * rms_map
    return image, rms_map


def truth_table(sources: Sequence[TrueSource]) -> Any:
    """The sources as an astropy Table."""
    from astropy.table import Table

    return Table(rows=[(s.kind, s.x, s.y, s.flux, s.Re, s.n, s.q, s.PA) for s in sources],
                 names=("kind", "x", "y", "flux", "Re", "n", "q", "PA"))


__all__ = ["TrueSource", "gaussian_psf", "render_sources", "simulate_field", "truth_table"]
