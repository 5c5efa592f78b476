"""Starting values from the data: moments, edge sky, binned median profiles (numpy).

These heuristics only need to land the fit in the right basin; LM and NUTS
do the rest.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..image.target import TargetImage
from ..image.window import Window


def edge_pixels(data: np.ndarray, mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Unmasked pixels within ``width`` of the border of a cutout."""
    border = np.zeros(data.shape, dtype=bool)
    w = max(1, min(width, min(data.shape) // 4 or 1))
    border[:w, :] = border[-w:, :] = border[:, :w] = border[:, -w:] = True
    return data[border & ~mask]


def edge_level(data: np.ndarray, mask: np.ndarray) -> float:
    """Median of the cutout's edge (a background estimate; 0 if no edge pixel is usable)."""
    values = edge_pixels(data, mask)
    return float(np.median(values)) if values.size else 0.0


@dataclass(frozen=True)
class Moments:
    """Light-weighted centre (arcsec), axis ratio and position angle (rad, DESIGN convention)."""

    x: float
    y: float
    q: float
    pa: float
    flux: float


def _source_segment(data: np.ndarray, sigma: np.ndarray, good: np.ndarray, nsigma: float = 3.0) -> np.ndarray:
    """Pixels of the brightest connected source: 3×3-smoothed data above ``nsigma`` of its noise.

    Returns a bool array (all False when nothing is detected).
    """
    from scipy import ndimage

    d = np.where(good, data, 0.0)
    cover = ndimage.uniform_filter(good.astype(np.float64), size=3, mode="constant")
    smooth = ndimage.uniform_filter(d, size=3, mode="constant") / np.maximum(cover, 1e-12)
    var = np.where(good, sigma**2, 0.0)
    # noise of the mean over the k = 9·cover good neighbours: sqrt(Σ var) / k
    summed_var = np.clip(9.0 * ndimage.uniform_filter(var, size=3, mode="constant"), 0.0, None)
    noise = np.sqrt(summed_var) / np.maximum(9.0 * cover, 1.0)
    detected = good & (smooth > nsigma * noise)
    labels, count = ndimage.label(detected)
    if count == 0:
        return detected
    fluxes = ndimage.sum_labels(np.clip(d, 0.0, None), labels, index=np.arange(1, count + 1))
    return labels == (int(np.argmax(fluxes)) + 1)


def window_moments(target: TargetImage, window: Window, mask: np.ndarray, background: float) -> Moments:
    """Centre, axis ratio, PA and flux from the moments of the main source in ``window``.

    The source is the connected region of the (3×3-smoothed) background-subtracted
    data above 3σ holding the most flux; its isophotal boundary has the
    source's own ellipticity, so its flux-weighted second moments give ``q``
    and ``PA`` without the bias towards round shapes that noise pixels bring.
    PA follows DESIGN.md: the major axis points along (−sin PA, cos PA).
    ``flux`` is the background-subtracted flux of the source region grown by
    its own size (per pixel, not per arcsec²).
    """
    data = target.data[window.slices] - background
    sigma = np.sqrt(target.variance[window.slices])
    good = ~mask & np.isfinite(data) & np.isfinite(sigma)
    rows, cols = np.mgrid[window.ymin: window.ymax, window.xmin: window.xmax].astype(np.float64)
    segment = _source_segment(data, sigma, good)
    if segment.sum() < 3:
        # nothing detected: fall back on all positive flux
        segment = good & (data > 0)
    w = np.where(segment, np.clip(data, 0.0, None), 0.0)
    total = w.sum()
    if not total > 0:
        cx, cy = window.center
        return Moments(cx * target.pixelscale, cy * target.pixelscale, 0.9, 0.0, 0.0)
    cx = float((w * cols).sum() / total)
    cy = float((w * rows).sum() / total)
    dx, dy = cols - cx, rows - cy
    mxx = (w * dx * dx).sum() / total
    myy = (w * dy * dy).sum() / total
    mxy = (w * dx * dy).sum() / total
    evals, evecs = np.linalg.eigh(np.array([[mxx, mxy], [mxy, myy]]))
    major = evecs[:, 1]  # (dx, dy) of the largest eigenvalue
    q = float(np.sqrt(max(evals[0], 1e-12) / max(evals[1], 1e-12)))
    pa = float(np.mod(np.arctan2(-major[0], major[1]), np.pi))
    # flux: grow the isophotal region to catch the wings
    from scipy import ndimage

    grow = max(1, round(float(np.sqrt(max(evals[1], 0.0)))))
    region = ndimage.binary_dilation(segment, iterations=grow) & good
    flux = float(np.sum(data[region]))
    return Moments(cx * target.pixelscale, cy * target.pixelscale, float(np.clip(q, 0.1, 0.99)), pa,
                   max(flux, float(total)))


def radial_median_profile(
    target: TargetImage,
    window: Window,
    mask: np.ndarray,
    center: tuple[float, float],
    q: float,
    pa: float,
    background: float = 0.0,
    nbins: int = 20,
    return_errors: bool = False,
) -> tuple[np.ndarray, ...]:
    """Median surface brightness (flux/arcsec²) in elliptical annuli.

    Returns the median radius of each bin's pixels (arcsec, along the major
    axis) and the bins' medians, and with ``return_errors`` the standard
    error of each median (1.2533 σ/√N from the target's variance).  Bins
    are logarithmic from half a pixel to the window's extent; empty bins are
    dropped.
    """
    s = target.pixelscale
    rows, cols = np.mgrid[window.ymin: window.ymax, window.xmin: window.xmax].astype(np.float64)
    dx, dy = cols * s - center[0], rows * s - center[1]
    u = -dx * np.sin(pa) + dy * np.cos(pa)
    v = dx * np.cos(pa) + dy * np.sin(pa)
    radius = np.sqrt(u**2 + (v / q) ** 2)
    values = (target.data[window.slices] - background) / target.pixel_area
    sigma = np.sqrt(target.variance[window.slices]) / target.pixel_area
    good = ~mask & np.isfinite(values) & np.isfinite(sigma)
    rmax = max(radius[good].max() if good.any() else s, 2 * s)
    edges = np.concatenate([[0.0], np.geomspace(0.5 * s, rmax * (1 + 1e-9), nbins)])
    radii, medians, errors = [], [], []
    for lo, hi in itertools.pairwise(edges):
        sel = good & (radius >= lo) & (radius < hi)
        n = int(sel.sum())
        if n >= 1:
            radii.append(float(np.median(radius[sel])))
            medians.append(float(np.median(values[sel])))
            errors.append(1.2533 * float(np.median(sigma[sel])) / np.sqrt(n))
    out = (np.asarray(radii), np.asarray(medians))
    return (*out, np.asarray(errors)) if return_errors else out


def significant_bins(radii: np.ndarray, sb: np.ndarray, errors: np.ndarray, nsigma: float = 3.0,
                     rmin: float = 0.0) -> np.ndarray:
    """Mask of profile bins out to the first one that is not ``nsigma`` above zero, beyond ``rmin``."""
    keep = np.zeros(sb.shape, dtype=bool)
    for k in range(sb.size):
        if not sb[k] > nsigma * errors[k]:
            break
        keep[k] = radii[k] >= rmin
    return keep


def _grid_fit(log_sb: np.ndarray, weights: np.ndarray, shapes: np.ndarray) -> tuple[tuple[int, ...], float]:
    """Best of many log-profile shapes (last axis = bins) plus a free constant, by weighted least squares.

    Returns the index of the best shape and its constant.
    """
    wsum = weights.sum()
    const = ((log_sb - shapes) * weights).sum(axis=-1) / wsum
    resid = log_sb - shapes - const[..., None]
    ssr = (weights * resid**2).sum(axis=-1)
    best = np.unravel_index(int(np.argmin(ssr)), ssr.shape)
    return tuple(int(b) for b in best), float(const[best])


def _log_weights(sb: np.ndarray, errors: np.ndarray) -> np.ndarray:
    # σ of ln(sb) with a 5 % floor so that the bright centre does not dominate
    return 1.0 / ((errors / sb) ** 2 + 0.05**2)


def sersic_b(n: np.ndarray | float) -> np.ndarray:
    """Exact b_n: the half-light constant of a Sérsic profile (numpy)."""
    from scipy.special import gammaincinv

    return gammaincinv(2.0 * np.asarray(n, dtype=np.float64), 0.5)


def fit_sersic_profile(radii: np.ndarray, sb: np.ndarray, errors: np.ndarray, n_grid: np.ndarray | None = None,
                       re_grid: np.ndarray | None = None) -> tuple[float, float, float] | None:
    """(n, Re, Ie) of the Sérsic that best matches a median profile (grid in n and Re), or None.

    ``n_grid`` (``re_grid``) of one value fixes n (Re): exponential ``[1.0]``, Gaussian ``[0.5]``.
    """
    if radii.size < 2:
        return None
    n_grid = np.linspace(0.5, 6.0, 23) if n_grid is None else np.atleast_1d(np.asarray(n_grid, dtype=np.float64))
    if re_grid is None:
        re_grid = np.geomspace(max(radii[0], 1e-3) * 0.5, radii[-1] * 3.0, 80)
    re_grid = np.atleast_1d(np.asarray(re_grid, dtype=np.float64))
    n = n_grid[:, None, None]
    re = re_grid[None, :, None]
    shapes = -sersic_b(n) * ((radii[None, None, :] / re) ** (1.0 / n) - 1.0)
    (i, j), const = _grid_fit(np.log(sb), _log_weights(sb, errors), shapes)
    return float(n_grid[i]), float(re_grid[j]), float(np.exp(const))


def fit_moffat_profile(radii: np.ndarray, sb: np.ndarray, errors: np.ndarray, beta_grid: np.ndarray | None = None,
                       rd_grid: np.ndarray | None = None) -> tuple[float, float, float] | None:
    """(β, Rd, I0) of the Moffat that best matches a median profile, or None (grids as for Sérsic)."""
    if radii.size < 2:
        return None
    beta_grid = np.linspace(1.2, 8.0, 35) if beta_grid is None else np.atleast_1d(np.asarray(beta_grid, float))
    if rd_grid is None:
        rd_grid = np.geomspace(max(radii[0], 1e-3) * 0.3, radii[-1] * 2.0, 80)
    rd_grid = np.atleast_1d(np.asarray(rd_grid, dtype=np.float64))
    beta = beta_grid[:, None, None]
    rd = rd_grid[None, :, None]
    shapes = -beta * np.log1p((radii[None, None, :] / rd) ** 2)
    (i, j), const = _grid_fit(np.log(sb), _log_weights(sb, errors), shapes)
    return float(beta_grid[i]), float(rd_grid[j]), float(np.exp(const))


def psf_hwhm(target: TargetImage) -> float:
    """Half width at half maximum of the target's PSF in arcsec (0 without a PSF), from its area above half peak."""
    psf = target.psf
    if psf is None:
        return 0.0
    area = float(np.sum(psf.data >= 0.5 * psf.data.max())) / psf.oversampling**2
    return float(np.sqrt(area / np.pi)) * target.pixelscale


def half_light_radius(radii: np.ndarray, profile: np.ndarray, q: float) -> float:
    """Radius enclosing half of the (positive part of the) profile's light, by trapezoid cumulative sum."""
    sb = np.clip(profile, 0.0, None)
    if radii.size < 2 or not sb.any():
        return float(radii[-1] / 2 if radii.size else 1.0)
    ring = 2.0 * np.pi * q * radii * sb
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (ring[1:] + ring[:-1]) * np.diff(radii))])
    half = 0.5 * cumulative[-1]
    return float(np.interp(half, cumulative, radii))
