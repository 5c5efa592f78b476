"""Images: the target, its PSF, and windows on it."""

from .psf import PSFImage
from .target import TargetImage, ccd_variance
from .window import Window

__all__ = ["PSFImage", "TargetImage", "Window", "ccd_variance"]
