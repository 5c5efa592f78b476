"""The rendered image is a smooth function of every parameter, wherever the centre sits.

Scans of the noise-free log-likelihood log L(θ) = −½ Σ ((model(θ) − data)/σ)²
along one parameter at a time (data = the model at the truth), through pixel
centres and pixel boundaries for the centre.  For each scan:

* the autodiff gradient equals central finite differences of log L at every
  scan point;
* the gradient changes sign once (one maximum, at the truth);
* across every pixel boundary and pixel centre the centre crosses (where a
  quadrature block could snap or the centre meets a sample), log L changes by
  no more than its gradient explains over ±ε, and the gradient is continuous.

(The exact pixel-integrated image of a cusp is itself only C² in the centre
where the cusp crosses a pixel edge: its third derivative diverges like
|d|^(1/n − 1), so a trapezoid test of consecutive scan points would flag the
exact answer; the ±ε test does not.)

Before the smooth quadrature, the n = 4, Re = 1.5 px case without PSF jumped
by 77 in log L at x = 15.500 (a pixel boundary) where the gradient explains ~5
(issue 11); here the truth sits 0.3 px right of a pixel centre in the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import bayesphot as bp

SIZE = 25
TRUTH = {"x": 12.3, "y": 12.1, "q": 0.7, "PA": 0.5, "Ie": 1.0}
SPANS = {"x": 0.7, "y": 0.7, "q": 0.15, "PA": 0.3, "n": 0.1, "Re": 0.1}  # n, Re: relative
POINTS = 11
SN_PEAK = 300.0  # noise σ = peak pixel / SN_PEAK


def gaussian_psf() -> np.ndarray:
    r = np.arange(-4, 5, dtype=float)
    psf = np.exp(-0.5 * np.add.outer(r**2, (0.9 * r) ** 2) / 1.1**2)
    return psf / psf.sum()


def loglik_function(name: str, dtype: str, n: float, re: float, psf: bool, param: str,
                    quadrature: Any = "auto", size: int = SIZE) -> Callable:
    """t ↦ (log L, d log L/dt) at ``param`` = truth + t, as floats (image ``size`` pixels a side)."""
    truth = {**TRUTH, "n": n, "Re": re}
    target = bp.TargetImage(np.zeros((size, size)), pixelscale=1.0, psf=bp.PSFImage(gaussian_psf()) if psf else None)
    model = bp.Model("g", "sersic galaxy model", target=target, quadrature=quadrature, **truth)
    be = bp.backend.Backend(name, None, dtype)
    with bp.backend.using(name, dtype=dtype):
        data = be.jit(model.sample_image)()
        sigma = float(bp.backend.to_numpy(data).max()) / SN_PEAK

    def loglik(t):
        values = {k: be.asarray(v) for k, v in truth.items()}
        values[param] = values[param] + t
        r = (model.sample_image(values) - data) / sigma
        return -0.5 * bp.backend.namespace(r).sum(r * r)

    vg = be.jit(be.value_and_grad(loglik))

    def call(t: float) -> tuple[float, float]:
        with bp.backend.using(name, dtype=dtype):
            v, g = vg(be.asarray(t))
        return float(bp.backend.to_numpy(v)), float(bp.backend.to_numpy(g))

    return call


def check_smooth(name: str, dtype: str, n: float, re: float, psf: bool, param: str, quadrature: Any = "auto",
                 accurate: bool = True, size: int = SIZE) -> None:
    """No jump where a tier could switch; gradient = finite differences; one maximum (if ``accurate``)."""
    f = loglik_function(name, dtype, n, re, psf, param, quadrature, size)
    single = dtype == "float32"
    span = SPANS[param] * ({"n": n, "Re": re}[param] if param in ("n", "Re") else 1.0)
    ts = np.linspace(-span, span, POINTS)
    values, grads = np.array([f(t) for t in ts]).T
    gscale = np.max(np.abs(grads))
    # no step: across every pixel boundary and pixel centre the scan crosses (where a block could
    # snap or the centre meets a sample), value and gradient agree from both sides
    if param in ("x", "y"):
        centre = TRUTH[param]
        eps = 1e-4 if single else 1e-7
        for k in np.arange(np.ceil(2 * (centre - span)), np.floor(2 * (centre + span)) + 1) / 2:
            (v0, g0), (v1, g1) = f(k - centre - eps), f(k - centre + eps)
            step = abs(v1 - v0) - eps * (abs(g0) + abs(g1))
            assert step <= (1e-4 if single else 1e-8) * np.ptp(values), f"log L jumps by {step:.3g} at {param} = {k}"
            assert abs(g1 - g0) <= (1e-2 if single else 1e-5) * gscale, f"gradient jumps by {g1 - g0:.3g} at {k}"
    # the autodiff gradient is the derivative of the value, all along the scan
    h = span * (3e-3 if single else 1e-5)
    fds = np.array([(f(t + h)[0] - f(t - h)[0]) / (2 * h) for t in ts])
    worst = np.max(np.abs(fds - grads))
    assert worst <= (3e-2 if single else 1e-4) * gscale, f"gradient ≠ finite differences by {worst:.3g} of {gscale:.3g}"
    if not accurate:
        return
    # one maximum, at the truth
    signs = np.sign(grads[np.abs(grads) > 1e-3 * gscale])
    assert np.count_nonzero(np.diff(signs) != 0) == 1, "log L along the scan has more than one maximum"
    assert grads[0] > 0 > grads[-1]
    assert abs(ts[np.argmax(values)]) <= 2 * (ts[1] - ts[0])


# the case, on both backends; more profiles and parameters below
@pytest.mark.parametrize("name", ["jax", "torch"])
def test_centre_scan_through_pixel_boundary_is_smooth(name: str) -> None:
    assert TRUTH["x"] - SPANS["x"] < 12.0 and TRUTH["x"] + SPANS["x"] > 12.5  # a pixel centre and a boundary
    check_smooth(name, "float64", 4.0, 1.5, False, "x")


def test_cheap_quadrature_is_continuous_too() -> None:
    """The calibration study's cheap rule (issue 11: jumps of 21 in log L, four local maxima in a pixel).

    Without a cusp rule it is not accurate for n = 4 (its Gauss–Legendre nodes
    are fixed to the pixels, so the image ripples as the cusp passes between
    them, which is what puts several maxima in a pixel); it must still be
    continuous, with a continuous gradient.  The automatic choice adds the cusp
    rule such profiles need (the tests above).
    """
    from bayesphot.render import QuadratureConfig

    check_smooth("jax", "float64", 4.0, 1.5, True, "x", QuadratureConfig(block=0, mid_block=7, mid_order=4),
                 accurate=False)


@pytest.mark.parametrize("name", ["jax", "torch"])
@pytest.mark.parametrize(("param", "outer_order"), [("x", 0), ("y", 0), ("x", 2)])
def test_a_base_block_moves_smoothly_with_the_centre(name: str, param: str, outer_order: int) -> None:
    """The corrected midpoint on a block only (large images): the block snaps to the pixel nearest the
    centre, but its weight has fallen to 0 before a pixel leaves it, so nothing jumps; on a 96² image
    (240² with the Laplacian outside the block), where the block is used (and, at x, y ≈ 12, cut by the
    image's edge)."""
    from bayesphot.render import QuadratureConfig
    from bayesphot.render.quadrature import uses_base_block

    rule = QuadratureConfig(mid_block=13, mid_order=4, block=3, levels=3, order=3, base_block=25,
                            outer_order=outer_order)
    size = 240 if outer_order else 96
    assert uses_base_block(rule, (size, size))
    check_smooth(name, "float64", 1.5, 3.0, False, param, rule, size=size)


CASES = [  # (n, Re px, psf, parameter)
    pytest.param(6.0, 1.0, False, "y", marks=pytest.mark.xfail(
        reason="known: the gradient kinks by 3.5e-5 of its scale where the n = 6, Re = 1 px cusp crosses a "
               "pixel edge (value continuous); tolerance here is 1e-5", strict=False)),
    (0.5, 1.0, False, "x"), (1.0, 1.5, True, "x"),
    (4.0, 1.5, True, "q"), (6.0, 1.5, False, "PA"), (1.0, 1.0, False, "n"), (4.0, 1.0, True, "Re"),
]


@pytest.mark.parametrize(("n", "re", "psf", "param"), CASES)
def test_scans_are_smooth_float64(n: float, re: float, psf: bool, param: str) -> None:
    check_smooth("jax", "float64", n, re, psf, param)


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_scans_are_smooth_float32(name: str) -> None:
    check_smooth(name, "float32", 4.0, 1.5, False, "x")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["jax", "torch"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("psf", [False, True])
@pytest.mark.parametrize("n", [0.5, 1.0, 4.0, 6.0])
@pytest.mark.parametrize("param", ["x", "y", "q", "PA", "n", "Re"])
def test_all_scans_are_smooth(name: str, dtype: str, psf: bool, n: float, param: str) -> None:
    check_smooth(name, dtype, n, 1.5 if n < 5 else 1.0, psf, param)
