"""Synthetic fields with known sources: for tests, injection studies and benchmarks.

Sources are rendered with bayesphot's own models (PSF-convolved Sérsics and
point sources) on windows of ``±window_radius`` pixels around their centres
and summed; Gaussian noise of a given rms map is added.  The truth table
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
    return PSFImage(np.outer(line, line))


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


def render_sources(shape: tuple[int, int], sources: Sequence[TrueSource], psf: PSFImage | None,
                   window_radius: int = 20) -> np.ndarray:
    """Noise-free image (flux per pixel, pixelscale 1) of the sources."""
    blank = TargetImage(np.zeros(shape), psf=psf, pixelscale=1.0)
    image = np.zeros(shape)
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


def simulate_field(shape: tuple[int, int], sources: Sequence[TrueSource], psf: PSFImage | None,
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
