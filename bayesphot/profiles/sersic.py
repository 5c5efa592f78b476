"""The Sérsic b_n constant: exact, and differentiable in n.

b_n solves γ(2n, b_n) = Γ(2n)/2, i.e. P(2n, b_n) = ½ with P the regularised
lower incomplete gamma function, so that R_e encloses half the light
(Ciotti & Bertin 1999, A&A 352, 447).

The value is found by Newton iterations on P(2n, b) − ½ with P summed by its
power series in the active backend (so JAX and torch agree to rounding); the
derivative db/dn is the implicit-function derivative −2 (∂P/∂a)/(∂P/∂x), with
∂P/∂a from the same series differentiated term by term (digamma).  No backend
needs a gradient of P in its first argument (torch has none).
"""

from __future__ import annotations

import math

from ..backend import Array, device_of, digamma, gammaln, namespace, stop_gradient
from ..tracing import traced_once

#: terms of the power series: 64 already give b_n to 8e-15 (relative) for 0.2 ≤ n ≤ 20 (x = b_n ≤ 40);
#: 96 leave a margin.  256 made b_n a fifth of a 64² Sérsic gradient.
_SERIES_TERMS = 96
#: Newton steps from the asymptotic start (error ≤ 5e-3 at n = 0.2, 2e-6 for n ≥ 0.36): 3 leave 1e-11
#: at n = 0.2, 4 reach rounding everywhere
NEWTON_STEPS = 4


def b_n_asymptotic(n: Array) -> Array:
    """Ciotti & Bertin (1999) asymptotic series for b_n (starting guess; |error| < 2e-6 for n ≥ 0.36)."""
    return (
        2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n) + 46.0 / (25515.0 * n**2)
        + 131.0 / (1148175.0 * n**3) - 2194697.0 / (30690717750.0 * n**4)
    )


def _series_terms(a: Array, x: Array) -> tuple[Array, Array]:
    """Terms x^(a+k) e^(−x) / Γ(a+k+1) of P(a, x) and the k-grid used (broadcast on a last axis)."""
    xp = namespace(a, x)
    k = xp.arange(_SERIES_TERMS, dtype=a.dtype, device=device_of(a))
    ak = a[..., None] + k
    log_terms = ak * xp.log(x)[..., None] - x[..., None] - gammaln(ak + 1.0)
    return xp.exp(log_terms), ak


def regularized_gamma_p(a: Array, x: Array) -> Array:
    """P(a, x) by its power series (DLMF 8.7.1); same arithmetic on every backend."""
    xp = namespace(a, x)
    terms, _ = _series_terms(a, x)
    return xp.sum(terms, axis=-1)


def _dp_da(a: Array, x: Array) -> Array:
    """∂P(a, x)/∂a, differentiating the series term by term."""
    xp = namespace(a, x)
    terms, ak = _series_terms(a, x)
    return xp.sum(terms * (xp.log(x)[..., None] - digamma(ak + 1.0)), axis=-1)


def _dp_dx(a: Array, x: Array) -> Array:
    xp = namespace(a, x)
    return xp.exp((a - 1.0) * xp.log(x) - x - gammaln(a))


@traced_once  # a pure function of n: traced once for JAX (~25 ms of tracing per object before)
def b_n(n: Array) -> Array:
    """Exact Sérsic b_n for index ``n`` (array), differentiable in ``n``.

    Parameters
    ----------
    n : array
        Sérsic index (0.2 ≤ n ≤ 20).

    Returns
    -------
    array
        b_n with P(2n, b_n) = ½, to machine precision; its derivative in n
        is the exact implicit derivative −2 (∂P/∂a)/(∂P/∂x).
    """
    xp = namespace(n)
    n0 = stop_gradient(n)
    a = 2.0 * n0
    b = xp.maximum(b_n_asymptotic(n0), xp.asarray(1e-3, dtype=n.dtype, device=device_of(n)))
    for _ in range(NEWTON_STEPS):
        step = (regularized_gamma_p(a, b) - 0.5) / _dp_dx(a, b)
        b = xp.maximum(b - step, b * 0.1)
    slope = -2.0 * _dp_da(a, b) / _dp_dx(a, b)
    return b + slope * (n - n0)


def sersic_total_flux(Ie: float, Re: float, n: float, q: float) -> float:
    """Analytic total flux of a Sérsic profile: 2π q Re² Ie e^b n b^(−2n) Γ(2n) (numpy floats)."""
    from scipy.special import gammaincinv

    b = float(gammaincinv(2.0 * n, 0.5))
    return 2.0 * math.pi * q * Re**2 * Ie * math.exp(b) * n * b ** (-2.0 * n) * math.gamma(2.0 * n)
