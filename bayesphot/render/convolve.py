"""PSF convolution by FFT on a padded grid, binning of oversampled grids, zero-padding.

Written against the array-API ``fft`` extension (``rfftn``/``irfftn`` with
``axes=``), so the same code runs on JAX and torch.  Grids are padded to the
full linear-convolution size, so flux never wraps around.
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import Array, device_of, namespace


def _fast_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c ≥ n (FFT-friendly)."""
    best = 2 ** math.ceil(math.log2(n))
    f5 = 1
    while f5 <= best:
        f3 = f5
        while f3 <= best:
            f2 = f3
            while f2 < n:
                f2 *= 2
            best = min(best, f2)
            f3 *= 3
        f5 *= 5
    return best


def convolve(image: Array, kernel: np.ndarray) -> Array:
    """``image`` ⊛ ``kernel`` (odd-sized, centred), cropped to ``image``'s shape ("same" mode)."""
    xp = namespace(image)
    kh, kw = kernel.shape
    h, w = image.shape
    fh, fw = _fast_size(h + kh - 1), _fast_size(w + kw - 1)
    k = xp.asarray(np.ascontiguousarray(kernel), dtype=image.dtype, device=device_of(image))
    spec = xp.fft.rfftn(image, s=(fh, fw), axes=(0, 1)) * xp.fft.rfftn(k, s=(fh, fw), axes=(0, 1))
    full = xp.fft.irfftn(spec, s=(fh, fw), axes=(0, 1))
    return full[kh // 2: kh // 2 + h, kw // 2: kw // 2 + w]


def bin_pixels(image: Array, factor: int) -> Array:
    """Sum ``factor`` × ``factor`` blocks (oversampled grid → image pixels)."""
    if factor == 1:
        return image
    xp = namespace(image)
    h, w = image.shape
    return xp.sum(xp.sum(xp.reshape(image, (h // factor, factor, w // factor, factor)), axis=3), axis=1)


def embed(image: Array, top: int, bottom: int, left: int, right: int) -> Array:
    """Zero-pad ``image`` by static amounts on each side (no in-place writes)."""
    xp = namespace(image)
    h = image.shape[0]
    dev = device_of(image)
    if left or right:
        parts = [xp.zeros((h, left), dtype=image.dtype, device=dev), image,
                 xp.zeros((h, right), dtype=image.dtype, device=dev)]
        image = xp.concat(parts, axis=1)
    if top or bottom:
        w2 = image.shape[1]
        parts = [xp.zeros((top, w2), dtype=image.dtype, device=dev), image,
                 xp.zeros((bottom, w2), dtype=image.dtype, device=dev)]
        image = xp.concat(parts, axis=0)
    return image
