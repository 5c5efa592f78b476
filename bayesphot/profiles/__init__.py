"""Pure radial-profile kernels and the Sérsic b_n."""

from .radial import gaussian, moffat, sersic, spline
from .sersic import b_n, sersic_total_flux

__all__ = ["b_n", "gaussian", "moffat", "sersic", "sersic_total_flux", "spline"]
