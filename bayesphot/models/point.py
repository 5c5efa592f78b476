"""Point sources: the target's PSF, shifted to (x, y) and scaled to ``flux``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..backend import Array
from ..errors import ModelError
from ..render import bin_pixels
from ..render.shift import place_kernel
from .base import Model, ParameterSpec, pixel_grid
from .galaxy import GALAXY_SPECS
from .initialize import edge_level, window_moments
from .registry import register


@register
class PointSource(Model):
    """An unresolved source: ``flux`` × PSF centred at (x, y) arcsec.

    The PSF is resampled to the sub-pixel position by band-limited (periodic
    sinc) interpolation on its own (oversampled) grid
    (:mod:`bayesphot.render.shift`), then binned to image pixels.
    """

    model_type = "point source"
    parameter_specs = (*GALAXY_SPECS[:2], ParameterSpec("flux", "flux", (0.0, None), description="total flux"))

    def sample_image(self, values: Mapping[str, Array] | None = None) -> Array:
        p = self.parameter_arrays(values)
        psf = self.target.psf
        if psf is None:
            raise ModelError(f"point source {self.name!r} needs a target with a PSF")
        s = psf.oversampling
        grid = pixel_grid(self.window, self.target.pixelscale, s)
        dx = (p["x"] - grid.x0) / grid.step
        dy = (p["y"] - grid.y0) / grid.step
        image = place_kernel(psf.point_kernel, grid.shape, dx, dy)
        return p["flux"] * bin_pixels(image, s)

    def initialize(self) -> None:
        window, mask, target = self.window, self.fit_mask, self.target
        background = edge_level(target.data[window.slices], mask)
        moments = window_moments(target, window, mask, background)
        self._initial("x", moments.x)
        self._initial("y", moments.y)
        self._initial("flux", max(moments.flux, 1e-12))

    def brightness(self, p: Mapping[str, Array], x: Array, y: Array) -> Any:  # pragma: no cover
        raise ModelError("a point source has no surface-brightness profile; it is the PSF itself")

