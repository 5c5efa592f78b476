"""Matplotlib views of targets, models, residuals and light profiles.

Every function takes ``(fig, ax, ...)``, draws on ``ax`` and returns it;
extra keyword arguments go to the underlying ``imshow``/``plot`` call.
Images are drawn with ``origin="lower"`` in pixel coordinates: pixel
(row i, column j) is centred at (j, i) and a window ``[[xmin, xmax], [ymin, ymax]]``
spans ``xmin - ½ … xmax - ½`` (DESIGN.md conventions).  Profiles are drawn
against the major-axis radius in arcsec.

This package imports matplotlib, so ``import bayesphot`` does not load it:
``bp.plots`` is imported on first use.
"""

from .image import model_image, model_window, residual_image, target_image
from .posterior import corner
from .profile import galaxy_light_profile, radial_median_profile

__all__ = [
    "corner",
    "galaxy_light_profile",
    "model_image",
    "model_window",
    "radial_median_profile",
    "residual_image",
    "target_image",
]
