"""Pure rendering kernels: pixel grids, elliptical radii, pixel integration, PSF FFTs."""

from .choose import choose_common_quadrature, choose_quadrature
from .convolve import bin_pixels, convolve, embed
from .coordinates import PixelGrid, elliptical_radius
from .pixels import integrate_pixels
from .quadrature import DEFAULT_QUADRATURE, QuadratureConfig, quadrature_evaluations
from .shift import place_kernel

__all__ = [
    "DEFAULT_QUADRATURE",
    "PixelGrid",
    "QuadratureConfig",
    "bin_pixels",
    "choose_common_quadrature",
    "choose_quadrature",
    "convolve",
    "elliptical_radius",
    "embed",
    "integrate_pixels",
    "place_kernel",
    "quadrature_evaluations",
]
