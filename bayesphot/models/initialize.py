"""Starting values from the data: moments, edge sky, binned median profiles (numpy).

These heuristics only need to land the fit in the right basin; LM and NUTS
do the rest.
"""

from __future__ import annotations

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


def window_moments(target: TargetImage, window: Window, mask: np.ndarray, background: float) -> Moments:
    """First and second moments of background-subtracted positive flux in ``window``.

    PA follows DESIGN.md: the major axis points along (−sin PA, cos PA).
    """
    data = target.data[window.slices] - background
    weights = np.where(mask | ~np.isfinite(data), 0.0, np.clip(data, 0.0, None))
    rows, cols = np.mgrid[window.ymin: window.ymax, window.xmin: window.xmax].astype(np.float64)
    total = weights.sum()
    if not total > 0:
        cx, cy = window.center
        return Moments(cx * target.pixelscale, cy * target.pixelscale, 0.9, 0.0, 0.0)
    # centroid on the brightest part first, to resist neighbours at the window edge
    cut = np.where(weights >= np.quantile(weights[weights > 0], 0.5), weights, 0.0)
    w = cut if cut.sum() > 0 else weights
    cx = float((w * cols).sum() / w.sum())
    cy = float((w * rows).sum() / w.sum())
    dx, dy = cols - cx, rows - cy
    mxx = (w * dx * dx).sum() / w.sum()
    myy = (w * dy * dy).sum() / w.sum()
    mxy = (w * dx * dy).sum() / w.sum()
    evals, evecs = np.linalg.eigh(np.array([[mxx, mxy], [mxy, myy]]))
    major = evecs[:, 1]  # (dx, dy) of the largest eigenvalue
    q = float(np.sqrt(max(evals[0], 1e-12) / max(evals[1], 1e-12)))
    pa = float(np.mod(np.arctan2(-major[0], major[1]), np.pi))
    return Moments(cx * target.pixelscale, cy * target.pixelscale, float(np.clip(q, 0.1, 0.99)), pa,
                   float(total))


def radial_median_profile(
    target: TargetImage,
    window: Window,
    mask: np.ndarray,
    center: tuple[float, float],
    q: float,
    pa: float,
    background: float = 0.0,
    nbins: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Median surface brightness (flux/arcsec²) in elliptical annuli.

    Returns bin-centre radii (arcsec, along the major axis) and medians; bins
    are logarithmic from half a pixel to the window's extent, empty bins
    dropped.
    """
    s = target.pixelscale
    rows, cols = np.mgrid[window.ymin: window.ymax, window.xmin: window.xmax].astype(np.float64)
    dx, dy = cols * s - center[0], rows * s - center[1]
    u = -dx * np.sin(pa) + dy * np.cos(pa)
    v = dx * np.cos(pa) + dy * np.sin(pa)
    radius = np.sqrt(u**2 + (v / q) ** 2)
    values = (target.data[window.slices] - background) / target.pixel_area
    good = ~mask & np.isfinite(values)
    rmax = max(radius[good].max() if good.any() else s, 2 * s)
    edges = np.concatenate([[0.0], np.geomspace(0.5 * s, rmax, nbins)])
    radii, medians = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = good & (radius >= lo) & (radius < hi)
        if sel.sum() >= 1:
            radii.append(0.5 * (lo + hi))
            medians.append(float(np.median(values[sel])))
    return np.asarray(radii), np.asarray(medians)


def half_light_radius(radii: np.ndarray, profile: np.ndarray, q: float) -> float:
    """Radius enclosing half of the (positive part of the) profile's light, by trapezoid cumulative sum."""
    sb = np.clip(profile, 0.0, None)
    if radii.size < 2 or not sb.any():
        return float(radii[-1] / 2 if radii.size else 1.0)
    ring = 2.0 * np.pi * q * radii * sb
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (ring[1:] + ring[:-1]) * np.diff(radii))])
    half = 0.5 * cumulative[-1]
    return float(np.interp(half, cumulative, radii))
