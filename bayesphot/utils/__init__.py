"""Helpers around fitting: windows from segmentation maps (``bp.utils.initialize``)."""

from . import initialize

__all__ = ["initialize"]
