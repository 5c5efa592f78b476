"""Fitting windows from a segmentation map (SExtractor, ProFound, photutils…).

Windows are ``[[xmin, xmax], [ymin, ymax]]`` in pixels, half-open (``xmax``
excluded), x = column and y = row as everywhere in bayesphot.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..errors import WindowError

WindowSpec = list[list[int]]


def windows_from_segmentation_map(segmap: Any, skip: tuple[int, ...] = (0,)) -> dict[int, WindowSpec]:
    """The bounding box of every segment.

    Parameters
    ----------
    segmap : 2-D integer array
        Segment label per pixel (0 = background); a photutils ``SegmentationImage``
        works too (its ``.data``).
    skip : tuple of int
        Labels that are not objects (the background, 0, by default).

    Returns
    -------
    dict
        ``{label: [[xmin, xmax], [ymin, ymax]]}`` (pixels, half-open), labels in
        increasing order.
    """
    data = np.asarray(getattr(segmap, "data", segmap))
    if data.ndim != 2:
        raise WindowError(f"a segmentation map must be 2-D, got shape {data.shape}")
    if not np.issubdtype(data.dtype, np.integer):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise WindowError("a segmentation map must hold integer labels")
        data = data.astype(np.int64)
    out: dict[int, WindowSpec] = {}
    labels = np.unique(data)
    for label in labels:
        if int(label) in skip:
            continue
        rows, cols = np.nonzero(data == label)
        out[int(label)] = [[int(cols.min()), int(cols.max()) + 1], [int(rows.min()), int(rows.max()) + 1]]
    return out


def _size(window: WindowSpec) -> tuple[int, int]:
    (xmin, xmax), (ymin, ymax) = window
    return xmax - xmin, ymax - ymin


def filter_windows(windows: Mapping[int, WindowSpec], min_size: int | None = None,
                   max_size: int | None = None) -> dict[int, WindowSpec]:
    """Keep windows whose sides are all within ``[min_size, max_size]`` pixels.

    Parameters
    ----------
    windows : mapping
        ``{label: [[xmin, xmax], [ymin, ymax]]}``.
    min_size : int, optional
        Drop windows with a side (width or height, pixels) below this.
    max_size : int, optional
        Drop windows with a side above this.
    """
    out = {}
    for label, window in windows.items():
        width, height = _size(window)
        if min_size is not None and min(width, height) < min_size:
            continue
        if max_size is not None and max(width, height) > max_size:
            continue
        out[label] = [list(map(int, window[0])), list(map(int, window[1]))]
    return out


def scale_windows(windows: Mapping[int, WindowSpec], image_shape: tuple[int, int] | None = None,
                  expand_scale: float = 1.0, expand_border: int = 0) -> dict[int, WindowSpec]:
    """Grow windows about their centres, then clip them to the image.

    Each side becomes ``expand_scale × side + 2 × expand_border`` pixels
    (rounded outward to whole pixels), keeping the centre.

    Parameters
    ----------
    windows : mapping
        ``{label: [[xmin, xmax], [ymin, ymax]]}``.
    image_shape : (rows, cols), optional
        Clip to ``0 ≤ x < cols``, ``0 ≤ y < rows`` (no clipping when omitted).
    expand_scale : float
        Factor on each side's length (≥ 0).
    expand_border : int
        Pixels added on every side after scaling.
    """
    if expand_scale < 0:
        raise WindowError(f"expand_scale must be non-negative, got {expand_scale}")
    out = {}
    for label, window in windows.items():
        (xmin, xmax), (ymin, ymax) = window
        cx, cy = (xmin + xmax) / 2.0, (ymin + ymax) / 2.0
        hx = expand_scale * (xmax - xmin) / 2.0 + expand_border
        hy = expand_scale * (ymax - ymin) / 2.0 + expand_border
        # a small tolerance keeps exact half-integers from rounding outward by floating error
        x0, x1 = math.floor(cx - hx + 1e-9), math.ceil(cx + hx - 1e-9)
        y0, y1 = math.floor(cy - hy + 1e-9), math.ceil(cy + hy - 1e-9)
        if image_shape is not None:
            rows, cols = image_shape
            x0, x1 = max(x0, 0), min(x1, cols)
            y0, y1 = max(y0, 0), min(y1, rows)
            if x1 <= x0 or y1 <= y0:
                raise WindowError(f"window {label} {window} lies outside the image of shape {tuple(image_shape)}")
        out[label] = [[int(x0), int(x1)], [int(y0), int(y1)]]
    return out


__all__ = ["filter_windows", "scale_windows", "windows_from_segmentation_map"]
