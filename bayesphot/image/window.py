"""Rectangular pixel boxes: where a model lives on its image.

A window is ``[[xmin, xmax], [ymin, ymax]]`` in pixels, half-open: it covers
columns ``xmin … xmax-1`` and rows ``ymin … ymax-1`` (DESIGN.md conventions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import WindowError


@dataclass(frozen=True)
class Window:
    """A half-open pixel box.

    Parameters
    ----------
    xmin, xmax : int
        Column range (``xmax`` excluded).
    ymin, ymax : int
        Row range (``ymax`` excluded).
    """

    xmin: int
    xmax: int
    ymin: int
    ymax: int

    def __post_init__(self) -> None:
        for name in ("xmin", "xmax", "ymin", "ymax"):
            value = getattr(self, name)
            if not float(value).is_integer():
                raise WindowError(f"window bound {name}={value!r} is not a whole pixel")
            object.__setattr__(self, name, int(value))
        if self.xmax < self.xmin or self.ymax < self.ymin:
            raise WindowError(f"window {self.as_list()} has max below min")

    # ------------------------------------------------------------ construction
    @classmethod
    def from_any(cls, spec: Any) -> Window:
        """Accept a Window, ``[[xmin, xmax], [ymin, ymax]]`` or ``(xmin, xmax, ymin, ymax)``."""
        if isinstance(spec, Window):
            return spec
        try:
            flat = np.asarray(spec, dtype=np.float64).ravel()
        except (TypeError, ValueError) as exc:
            raise WindowError(f"cannot read a window from {spec!r}") from exc
        if flat.size != 4:
            raise WindowError(f"a window needs [[xmin, xmax], [ymin, ymax]], got {spec!r}")
        if not np.all(np.isfinite(flat)) or np.any(flat != np.round(flat)):
            raise WindowError(f"window bounds must be whole pixels, got {spec!r}")
        return cls(*(int(v) for v in flat))

    @classmethod
    def from_shape(cls, shape: tuple[int, int]) -> Window:
        """The window covering a whole image of ``shape = (rows, columns)``."""
        return cls(0, int(shape[1]), 0, int(shape[0]))

    @classmethod
    def from_arcsec(cls, box: Sequence[Sequence[float]], pixelscale: float) -> Window:
        """Smallest pixel window covering an arcsec box ``[[x0, x1], [y0, y1]]``.

        Pixel ``j`` spans x in ``[(j - ½) s, (j + ½) s)`` for pixelscale ``s``.
        Edges within 1e-9 pixel of a pixel boundary count as on it, so that
        ``Window.from_arcsec(w.to_arcsec(s), s) == w`` despite rounding.
        """
        if not pixelscale > 0:
            raise WindowError(f"pixelscale must be positive, got {pixelscale}")
        (x0, x1), (y0, y1) = box
        tol = 1e-9
        lo = lambda v: math.floor(v / pixelscale + 0.5 + tol)
        hi = lambda v: math.ceil(v / pixelscale + 0.5 - tol)
        return cls(lo(x0), hi(x1), lo(y0), hi(y1))

    # --------------------------------------------------------------- geometry
    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return (self.ymax - self.ymin, self.xmax - self.xmin)

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def is_empty(self) -> bool:
        return self.size == 0

    @property
    def slices(self) -> tuple[slice, slice]:
        """Index an image array: ``image[window.slices]``."""
        return (slice(self.ymin, self.ymax), slice(self.xmin, self.xmax))

    @property
    def center(self) -> tuple[float, float]:
        """Centre (x, y) in pixel coordinates."""
        return ((self.xmin + self.xmax - 1) / 2.0, (self.ymin + self.ymax - 1) / 2.0)

    def as_list(self) -> list[list[int]]:
        return [[self.xmin, self.xmax], [self.ymin, self.ymax]]

    def to_arcsec(self, pixelscale: float) -> list[list[float]]:
        """Outer edges of the window in arcsec, ``[[x0, x1], [y0, y1]]``."""
        s = pixelscale
        return [[(self.xmin - 0.5) * s, (self.xmax - 0.5) * s], [(self.ymin - 0.5) * s, (self.ymax - 0.5) * s]]

    def union(self, other: Window) -> Window:
        """Smallest window containing both."""
        if self.is_empty:
            return other
        if other.is_empty:
            return self
        return Window(
            min(self.xmin, other.xmin), max(self.xmax, other.xmax),
            min(self.ymin, other.ymin), max(self.ymax, other.ymax),
        )

    def intersection(self, other: Window) -> Window:
        """Overlap of both (an empty window where they do not meet)."""
        xmin, xmax = max(self.xmin, other.xmin), min(self.xmax, other.xmax)
        ymin, ymax = max(self.ymin, other.ymin), min(self.ymax, other.ymax)
        if xmax <= xmin or ymax <= ymin:
            return Window(xmin, xmin, ymin, ymin)
        return Window(xmin, xmax, ymin, ymax)

    __or__ = union
    __and__ = intersection

    def pad(self, pixels: int | tuple[int, int]) -> Window:
        """Grow by ``pixels`` on each side (``(px, py)`` for different x and y)."""
        px, py = (pixels, pixels) if isinstance(pixels, int) else pixels
        return Window(self.xmin - px, self.xmax + px, self.ymin - py, self.ymax + py)

    def scale(self, factor: float) -> Window:
        """Scale about the centre by ``factor`` (rounded outward to whole pixels)."""
        cx, cy = (self.xmin + self.xmax) / 2.0, (self.ymin + self.ymax) / 2.0
        hx, hy = factor * (self.xmax - self.xmin) / 2.0, factor * (self.ymax - self.ymin) / 2.0
        return Window(
            math.floor(cx - hx), math.ceil(cx + hx),
            math.floor(cy - hy), math.ceil(cy + hy),
        )

    def clip(self, shape: tuple[int, int]) -> Window:
        """Restrict to an image of ``shape``; raises if nothing remains."""
        clipped = self.intersection(Window.from_shape(shape))
        if clipped.is_empty:
            raise WindowError(f"window {self.as_list()} lies outside the image of shape {tuple(shape)}")
        return clipped

    def contains(self, other: Window) -> bool:
        return (
            self.xmin <= other.xmin and other.xmax <= self.xmax
            and self.ymin <= other.ymin and other.ymax <= self.ymax
        )

    def check_inside(self, shape: tuple[int, int]) -> Window:
        """Raise a :class:`WindowError` unless the window is non-empty and inside ``shape``."""
        if self.is_empty:
            raise WindowError(f"window {self.as_list()} is empty")
        if not Window.from_shape(shape).contains(self):
            raise WindowError(f"window {self.as_list()} is not inside the image of shape {tuple(shape)}")
        return self

    def relative_to(self, outer: Window) -> tuple[slice, slice]:
        """Slices locating this window inside the array of ``outer``."""
        return (
            slice(self.ymin - outer.ymin, self.ymax - outer.ymin),
            slice(self.xmin - outer.xmin, self.xmax - outer.xmin),
        )
