"""Sky-plane geometry: pixel grids and elliptical radii (array-API kernels)."""

from __future__ import annotations

from dataclasses import dataclass

from ..backend import Array, device_of, namespace


@dataclass(frozen=True)
class PixelGrid:
    """A regular grid of square pixels on the sky plane.

    Parameters
    ----------
    x0, y0 : float
        Sky coordinates (arcsec) of the centre of pixel (row 0, column 0).
    step : float
        Pixel size in arcsec (the image pixelscale divided by any oversampling).
    shape : (rows, columns)
    """

    x0: float
    y0: float
    step: float
    shape: tuple[int, int]

    def centers(self, like: Array) -> tuple[Array, Array]:
        """1-D arrays of column-centre x and row-centre y (arcsec), on the dtype/device of ``like``."""
        xp = namespace(like)
        rows, cols = self.shape
        dev = device_of(like)
        x = self.x0 + self.step * xp.arange(cols, dtype=like.dtype, device=dev)
        y = self.y0 + self.step * xp.arange(rows, dtype=like.dtype, device=dev)
        return x, y


def elliptical_radius(x: Array, y: Array, xc: Array, yc: Array, q: Array, pa: Array) -> Array:
    """Elliptical radius R = sqrt(u² + (v/q)²) of points (x, y) (arcsec).

    ``u`` runs along the major axis, which points along (−sin PA, cos PA), PA
    counter-clockwise from +y; ``v`` along the minor axis.  The radius is kept
    ≥ sqrt(smallest normal float) so that its gradient stays finite at the centre in float32 and float64.
    """
    xp = namespace(x, y, xc)
    dx, dy = x - xc, y - yc
    s, c = xp.sin(pa), xp.cos(pa)
    u = -dx * s + dy * c
    v = dx * c + dy * s
    r2 = u * u + (v / q) ** 2
    return xp.sqrt(xp.maximum(r2, xp.asarray(xp.finfo(r2.dtype).tiny, dtype=r2.dtype, device=device_of(r2))))
