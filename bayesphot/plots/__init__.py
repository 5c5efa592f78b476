"""Matplotlib views of targets, models, residuals, light profiles and posteriors.

Every panel function takes ``(fig, ax, ...)``, draws on ``ax`` and returns it;
extra keyword arguments go to the underlying ``imshow``/``plot`` call.
Images are drawn with ``origin="lower"`` in pixel coordinates: pixel
(row i, column j) is centred at (j, i) and a window ``[[xmin, xmax], [ymin, ymax]]``
spans ``xmin - ½ … xmax - ½`` (DESIGN.md conventions).  Profiles are drawn
against the major-axis radius in arcsec.

Whole figures: :func:`fit_overview` (data | model | residual | profile over
one window, χ²/ndf in the title), :func:`data_overview`, :func:`corner` and
:func:`trace` (trace and rank plots after sampling).

This package imports matplotlib, so ``import bayesphot`` does not load it:
``bp.plots`` is imported on first use.
"""

from .image import chi2_ndf, model_image, model_window, residual_image, target_image
from .overview import data_overview, fit_overview
from .posterior import corner, trace
from .profile import galaxy_light_profile, radial_median_profile

__all__ = [
    "chi2_ndf",
    "corner",
    "data_overview",
    "fit_overview",
    "galaxy_light_profile",
    "model_image",
    "model_window",
    "radial_median_profile",
    "residual_image",
    "target_image",
    "trace",
]
