"""Radial surface-brightness profiles I(R) in flux/arcsec² (array-API kernels).

``R`` is the elliptical radius in arcsec; every function broadcasts.
"""

from __future__ import annotations

import math

from ..backend import Array, device_of, namespace
from .sersic import b_n


def sersic(R: Array, n: Array, Re: Array, Ie: Array, b: Array | None = None) -> Array:
    """I(R) = Ie exp(−b_n [(R/Re)^(1/n) − 1]) (Sérsic 1963).

    ``b`` may be passed when already computed (``b_n(n)``), so that one
    render evaluates the b_n series once rather than once per quadrature tier.
    """
    xp = namespace(R, n)
    b = b_n(n) if b is None else b
    # (R/Re)^(1/n) as exp(log(R/Re)/n): the same numbers, several times cheaper than pow under XLA;
    # R/Re is kept ≥ the smallest normal float so that log(0) never occurs
    ratio = xp.maximum(R / Re, xp.asarray(xp.finfo(R.dtype).tiny, dtype=R.dtype, device=device_of(R)))
    return Ie * xp.exp(-b * (xp.exp(xp.log(ratio) / n) - 1.0))


def gaussian(R: Array, sigma: Array, flux: Array, q: Array) -> Array:
    """Elliptical Gaussian normalised to total ``flux``: flux/(2π q σ²) exp(−R²/2σ²)."""
    xp = namespace(R, sigma)
    return flux / (2.0 * math.pi * q * sigma**2) * xp.exp(-0.5 * (R / sigma) ** 2)


def moffat(R: Array, beta: Array, Rd: Array, I0: Array) -> Array:
    """I(R) = I0 (1 + (R/Rd)²)^(−β) (Moffat 1969)."""
    return I0 * (1.0 + (R / Rd) ** 2) ** (-beta)


def spline(R: Array, knots: Array, logI: Array) -> Array:
    """Piecewise-linear log10 I between radial ``knots`` (arcsec, first at 0).

    Beyond the last knot the last segment's slope continues (a declining
    outer profile).  Written as a sum of clipped ramps, so no search or
    gather is needed.
    """
    xp = namespace(R, logI)
    widths = knots[1:] - knots[:-1]
    slopes = (logI[1:] - logI[:-1]) / widths
    ramp = xp.clip(R[..., None] - knots[:-1], 0.0, None)
    # every segment but the last stops at its width; the last extends outward
    capped = xp.concat([xp.minimum(ramp[..., :-1], widths[:-1]), ramp[..., -1:]], axis=-1)
    return 10.0 ** (logI[0] + xp.sum(capped * slopes, axis=-1))
