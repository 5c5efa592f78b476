"""Sky models: a flat level or a tilted plane over the model's window."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..backend import Array, device_of, namespace
from ..render import PixelGrid
from .base import Model, ParameterSpec
from .initialize import edge_pixels
from .registry import register


class SkyModel(Model):
    """Base of sky models: never PSF-convolved (a smooth sky is unchanged by a normalised PSF)."""

    default_psf_convolve = False

    def reference_point(self) -> tuple[float, float]:
        """Sky point (arcsec) about which gradients are measured: the window centre."""
        cx, cy = self.window.center
        s = self.target.pixelscale
        return cx * s, cy * s

    def _edge_values(self) -> np.ndarray:
        data = self.target.data[self.window.slices] / self.target.pixel_area
        return edge_pixels(data, self.fit_mask, width=max(2, min(self.window.shape) // 10))

    def render_grid(self, p: Mapping[str, Array], grid: PixelGrid) -> Array:
        # a linear brightness integrates exactly to its value at the pixel centre
        xp = namespace(p["I"])
        x, y = grid.centers(p["I"])
        zeros = xp.zeros(grid.shape, dtype=p["I"].dtype, device=device_of(p["I"]))
        return self.brightness(p, x[None, :], y[:, None]) * grid.step**2 + zeros


@register
class FlatSky(SkyModel):
    """Constant sky ``I`` (flux/arcsec²)."""

    model_type = "flat sky model"
    parameter_specs = (ParameterSpec("I", "flux/arcsec^2", description="sky surface brightness"),)

    def brightness(self, p: Mapping[str, Array], x: Array, y: Array) -> Array:
        return p["I"] + 0.0 * (x + y)

    def initialize(self) -> None:
        edges = self._edge_values()
        self._initial("I", float(np.median(edges)) if edges.size else 0.0)


@register
class PlaneSky(SkyModel):
    """Tilted sky: I + dIdx (x − x_ref) + dIdy (y − y_ref), reference at the window centre."""

    model_type = "plane sky model"
    parameter_specs = (
        ParameterSpec("I", "flux/arcsec^2", description="sky at the window centre"),
        ParameterSpec("dIdx", "flux/arcsec^3", description="gradient along x"),
        ParameterSpec("dIdy", "flux/arcsec^3", description="gradient along y"),
    )

    def brightness(self, p: Mapping[str, Array], x: Array, y: Array) -> Array:
        x_ref, y_ref = self.reference_point()
        return p["I"] + p["dIdx"] * (x - x_ref) + p["dIdy"] * (y - y_ref)

    def initialize(self) -> None:
        s = self.target.pixelscale
        window = self.window
        rows, cols = np.mgrid[window.ymin: window.ymax, window.xmin: window.xmax].astype(np.float64)
        mask = self.fit_mask
        width = max(2, min(window.shape) // 10)
        border = np.zeros(window.shape, dtype=bool)
        border[:width, :] = border[-width:, :] = border[:, :width] = border[:, -width:] = True
        use = border & ~mask
        x_ref, y_ref = self.reference_point()
        data = self.target.data[window.slices] / self.target.pixel_area
        if use.sum() >= 3:
            design = np.stack([np.ones(use.sum()), cols[use] * s - x_ref, rows[use] * s - y_ref], axis=1)
            coef, *_ = np.linalg.lstsq(design, data[use], rcond=None)
        else:
            coef = np.zeros(3)
        self._initial("I", coef[0])
        self._initial("dIdx", coef[1])
        self._initial("dIdy", coef[2])
