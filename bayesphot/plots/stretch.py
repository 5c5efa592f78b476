"""Intensity stretches that show faint structure next to bright cores."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import FuncNorm, Normalize

STRETCHES = ("asinh", "log", "linear")


def background_stats(values: np.ndarray, iterations: int = 5, nsigma: float = 3.0) -> tuple[float, float]:
    """(level, noise) of the background: median and σ of the values after iterative σ-clipping.

    Non-finite values are ignored; the noise is ``1.4826 × MAD`` of the
    clipped values (never zero).
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    level, noise = float(np.median(v)), 0.0
    for _ in range(iterations):
        noise = 1.4826 * float(np.median(np.abs(v - level)))
        if noise <= 0:
            break
        kept = v[np.abs(v - level) < nsigma * noise]
        if kept.size == 0 or kept.size == v.size:
            break
        v = kept
        level = float(np.median(v))
    if not noise > 0:
        spread = float(np.ptp(v)) if v.size else 0.0
        noise = 1e-3 * spread if spread > 0 else max(1e-3 * abs(level), 1e-12)
    return level, noise


def make_norm(stretch: str, level: float, width: float, vmin: float, vmax: float) -> Normalize:
    """A colour normalisation for ``stretch`` about ``level``.

    ``"asinh"`` maps v to asinh((v − level)/width): linear within ``width`` of the
    level (the noise), logarithmic far above it.  ``"log"`` maps v to
    log10(v − level + width), softened by ``width`` so that the level itself is
    finite.  ``"linear"`` is a plain linear scale.  Colours run from ``vmin``
    to ``vmax`` (clipped outside).
    """
    if stretch not in STRETCHES:
        raise ValueError(f"stretch must be one of {STRETCHES}, got {stretch!r}")
    if not vmax > vmin:
        vmax = vmin + max(width, 1e-12)
    if stretch == "linear":
        return Normalize(vmin=vmin, vmax=vmax, clip=True)
    if stretch == "asinh":
        forward = lambda v: np.arcsinh((v - level) / width)
        inverse = lambda t: level + width * np.sinh(t)
    else:
        floor = 1e-3 * width
        forward = lambda v: np.log10(np.maximum(v - level + width, floor))
        inverse = lambda t: np.power(10.0, t) - width + level
        vmin = max(vmin, level - width + floor)
    return FuncNorm((forward, inverse), vmin=vmin, vmax=vmax, clip=True)
