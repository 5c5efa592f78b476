"""Synthetic test images with known truth (crowded Sérsic fields), for tests and benchmarks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend
from ..image import TargetImage


@dataclass
class SyntheticField:
    """A rendered field and the truth behind it.

    Attributes
    ----------
    target : TargetImage
        Noisy image (flux per pixel) with its constant variance.
    truth : list of dict
        One dict of Sérsic parameters per galaxy (``x``, ``y`` in arcsec, ``q``,
        ``PA`` rad, ``n``, ``Re`` arcsec, ``Ie`` flux/arcsec²).
    sky : float
        The flat sky level (flux/arcsec²).
    noiseless : numpy array
        The model image before noise.
    """

    target: TargetImage
    truth: list[dict[str, float]]
    sky: float
    noiseless: np.ndarray


def sersic_field(n_galaxies: int = 25, shape: tuple[int, int] = (128, 128), seed: int = 0, sigma: float = 1.0,
                 sky: float = 2.0, re_range: tuple[float, float] = (1.5, 3.0),
                 ie_range: tuple[float, float] = (4.0, 12.0), min_separation: float = 14.0,
                 border: float = 8.0, max_tries: int = 100000) -> SyntheticField:
    """Random Sérsic galaxies on a flat sky with Gaussian noise (pixelscale 1).

    Centres are drawn uniformly at least ``min_separation`` pixels apart and
    ``border`` pixels from the edges; each galaxy's light overlaps its
    neighbours'.  The image is rendered with bayesphot's own models (the
    truth is exactly representable), then noise of standard deviation
    ``sigma`` (flux per pixel) is added with ``numpy.random.default_rng(seed)``.

    Parameters
    ----------
    n_galaxies : int
    shape : (rows, cols)
    seed : int
    sigma : float
        Noise rms per pixel.
    sky : float
        Flat sky (flux/arcsec² = flux per pixel here).
    re_range, ie_range : (float, float)
        Uniform ranges of Re (pixels) and log-uniform of Ie (flux/pixel).
    min_separation, border : float
        Pixels.
    """
    from ..models.base import Model

    rng = np.random.default_rng(seed)
    rows, cols = shape
    centres: list[tuple[float, float]] = []
    tries = 0
    while len(centres) < n_galaxies:
        tries += 1
        if tries > max_tries:
            raise ValueError(f"cannot place {n_galaxies} galaxies {min_separation} px apart in {shape}")
        x = rng.uniform(border, cols - 1 - border)
        y = rng.uniform(border, rows - 1 - border)
        if all((x - a) ** 2 + (y - b) ** 2 >= min_separation**2 for a, b in centres):
            centres.append((x, y))
    truth = []
    for x, y in centres:
        truth.append({
            "x": float(x), "y": float(y),
            "q": float(rng.uniform(0.45, 0.95)),
            "PA": float(rng.uniform(0.0, np.pi)),
            "n": float(rng.uniform(0.8, 2.5)),
            "Re": float(rng.uniform(*re_range)),
            "Ie": float(np.exp(rng.uniform(np.log(ie_range[0]), np.log(ie_range[1])))),
        })
    blank = TargetImage(data=np.zeros(shape), variance=np.full(shape, sigma**2), pixelscale=1.0)
    image = np.full(shape, float(sky))
    gal = Model("g", "sersic galaxy model", target=blank, **truth[0])
    be = backend.current()
    render = be.jit(lambda values: gal.sample_image(values))  # one compilation for every galaxy
    for params in truth:
        image += backend.to_numpy(render({k: be.asarray(v) for k, v in params.items()}))
    noisy = image + rng.normal(0.0, sigma, size=shape)
    target = TargetImage(data=noisy, variance=np.full(shape, sigma**2), pixelscale=1.0)
    return SyntheticField(target, truth, float(sky), image)


def match_truth(field: SyntheticField, positions: Any) -> list[int]:
    """Index of the nearest true galaxy for each (x, y) position (pixels)."""
    out = []
    for x, y in positions:
        d = [(t["x"] - x) ** 2 + (t["y"] - y) ** 2 for t in field.truth]
        out.append(int(np.argmin(d)))
    return out
