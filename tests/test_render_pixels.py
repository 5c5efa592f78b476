"""The pixel integrator's building blocks against independent references.

* :func:`bayesphot.backend.correlate_valid` (the corrected midpoint's 5 × 5 stencil) against
  ``scipy.signal.correlate2d``;
* :func:`bayesphot.backend.add_at` (how the near-field block is put back) against ``numpy.add.at``;
* :func:`bayesphot.render.integrate_pixels` on a grid that cuts through its near-field and cusp blocks
  (the profile centre at, or beyond, an image edge or corner) against the same pixels cut out of a
  render on a larger grid that holds the blocks whole.  Every rule is local, so the two must agree to
  rounding (1e-12 of the peak); a block put back at wrapped or shifted positions would not.
"""

from __future__ import annotations

import dataclasses
import warnings
from typing import Any

import numpy as np
import pytest
from scipy import signal

from bayesphot import backend
from bayesphot.render import PixelGrid, QuadratureConfig, integrate_pixels
from bayesphot.render.quadrature import BASE_BLOCK_RAMP, uses_base_block

BACKENDS = ("jax", "torch")


def _array(name: str, values: Any, dtype: Any = "float64") -> Any:
    if name == "torch":
        import torch

        return torch.as_tensor(np.asarray(values), dtype=getattr(torch, dtype))
    import jax.numpy as jnp

    return jnp.asarray(np.asarray(values), dtype=dtype)


@pytest.mark.parametrize("name", BACKENDS)
def test_correlate_valid_matches_scipy(name: str) -> None:
    rng = np.random.default_rng(3)
    image, kernel = rng.normal(size=(23, 31)), rng.normal(size=(5, 5))
    with backend.using(name, dtype="float64"):
        got = backend.to_numpy(backend.correlate_valid(_array(name, image), kernel))
    expected = signal.correlate2d(image, kernel, mode="valid")
    assert got.shape == expected.shape == (19, 27)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", BACKENDS)
def test_add_at_matches_numpy_and_accumulates_repeats(name: str) -> None:
    rng = np.random.default_rng(4)
    target, values = rng.normal(size=50), rng.normal(size=12)
    index = np.array([0, 3, 3, 49, 7, 0, 11, 11, 11, 20, 21, 22])
    expected = target.copy()
    np.add.at(expected, index, values)
    with backend.using(name, dtype="float64"):
        got = backend.add_at(_array(name, target), _array(name, index, "int64"), _array(name, values))
    np.testing.assert_allclose(backend.to_numpy(got), expected, rtol=0, atol=1e-14)


def test_the_numpy_branches_match_the_references_too() -> None:
    """A program evaluated on numpy values renders through numpy (the catalog's total log-likelihood)."""
    rng = np.random.default_rng(5)
    image, kernel = rng.normal(size=(23, 31)), rng.normal(size=(5, 5))
    np.testing.assert_allclose(backend.correlate_valid(image, kernel), signal.correlate2d(image, kernel, mode="valid"),
                               rtol=0, atol=1e-12)
    target, values = rng.normal(size=20), rng.normal(size=5)
    index = np.array([1, 1, 19, 0, 7])
    expected = target.copy()
    np.add.at(expected, index, values)
    got = backend.add_at(target, index, values)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-14)
    assert not np.shares_memory(got, target)  # a copy, no in-place write


def _profile(name: str, xc: float, yc: float):
    """An elliptical r^(1/2) cusp profile and its centre, on backend ``name``."""
    c = (_array(name, xc), _array(name, yc))

    def brightness(x: Any, y: Any) -> Any:
        xp = backend.namespace(x)
        r = xp.sqrt((x - c[0]) ** 2 + ((y - c[1]) / 0.6) ** 2 + 1e-300)
        return xp.exp(-3.0 * xp.sqrt(r / 2.0))

    return brightness, c


CONFIGS = {
    "default": QuadratureConfig(),
    "cusp 2x2": QuadratureConfig(base_order=0, mid_block=15, mid_order=4, block=2, levels=3, order=3),
    "gauss base": QuadratureConfig(base_order=3, mid_block=9, mid_order=4),
}


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("config", list(CONFIGS), ids=list(CONFIGS))
@pytest.mark.parametrize("centre", [(0.3, 17.6), (-2.4, -1.2), (29.8, 30.9), (15.2, 33.5)],
                         ids=["left edge", "beyond corner", "far corner", "beyond bottom edge"])
def test_blocks_cut_by_the_image_edge_match_a_larger_grid(name: str, config: str, centre: tuple) -> None:
    rows, cols, pad = 32, 31, 12
    with backend.using(name, dtype="float64"):
        brightness, c = _profile(name, *centre)
        small = backend.to_numpy(integrate_pixels(brightness, PixelGrid(0.0, 0.0, 1.0, (rows, cols)), c,
                                                  CONFIGS[config]))
        large = backend.to_numpy(integrate_pixels(
            brightness, PixelGrid(-pad * 1.0, -pad * 1.0, 1.0, (rows + 2 * pad, cols + 2 * pad)), c,
            CONFIGS[config]))
    crop = large[pad:pad + rows, pad:pad + cols]
    assert np.max(np.abs(small - crop)) <= 1e-12 * np.max(large)


BASE_BLOCK = QuadratureConfig(base_order=0, mid_block=13, mid_order=4, block=3, levels=3, order=3, base_block=25)


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("centre", [(0.3, 17.6), (-2.4, -1.2), (-1.8, 30.9)],
                         ids=["left edge", "beyond corner", "right edge"])
@pytest.mark.parametrize("outer_order", [0, 2])
def test_a_base_block_cut_by_the_image_edge_matches_a_larger_grid(name: str, centre: tuple, outer_order: int) -> None:
    """The corrected midpoint on a block only: its samples beyond the image are the profile's, not 0, and
    so are those of the Laplacian outside it (``outer_order`` 2, used on larger images).  A negative x
    of −1.8 in ``centre`` stands for 1.8 pixels left of the right edge."""
    rule = dataclasses.replace(BASE_BLOCK, outer_order=outer_order)
    rows, cols, pad = (240, 244, 20) if outer_order else (60, 62, 20)
    assert uses_base_block(rule, (rows, cols))
    xc, yc = centre
    centre = (cols + xc if xc == -1.8 else xc, yc)
    with backend.using(name, dtype="float64"):
        brightness, c = _profile(name, *centre)
        small = backend.to_numpy(integrate_pixels(brightness, PixelGrid(0.0, 0.0, 1.0, (rows, cols)), c, rule))
        large = backend.to_numpy(integrate_pixels(
            brightness, PixelGrid(-pad * 1.0, -pad * 1.0, 1.0, (rows + 2 * pad, cols + 2 * pad)), c, rule))
    crop = large[pad:pad + rows, pad:pad + cols]
    assert np.max(np.abs(small - crop)) <= 1e-12 * np.max(large)


@pytest.mark.parametrize("name", BACKENDS)
def test_a_chosen_base_block_stays_within_budget_of_the_reference_rule(name: str) -> None:
    """A profile the chooser gives a base block, on a grid where it is used, against the reference rule
    (a 3 × 3 Gauss–Legendre base on every pixel: no finite differences at all): every pixel within 1e-4
    of the peak and the flux within 1e-5, as the budget says; without the block's correction (the centre
    samples alone outside the near field) the same image is well outside it."""
    from bayesphot.render import choose_quadrature
    from bayesphot.render.choose import REFERENCE_QUADRATURE

    size = 200
    with backend.using("torch", dtype="float64"):  # the choice is the same on either backend; eager JAX is slow
        rule = choose_quadrature(*_profile("torch", 97.3, 101.8), 1.0)
    assert rule.base_block and uses_base_block(rule, (size, size))
    with backend.using(name, dtype="float64"):
        brightness, c = _profile(name, 97.3, 101.8)
        grid = PixelGrid(0.0, 0.0, 1.0, (size, size))

        def render(config: QuadratureConfig) -> np.ndarray:
            def call() -> Any:
                return integrate_pixels(brightness, grid, c, config)
            if name == "jax":  # compiled: op by op, JAX compiles every primitive of a large render
                import jax

                call = jax.jit(call)
            return backend.to_numpy(call())

        image = render(rule)
        reference = render(REFERENCE_QUADRATURE)
        # the smallest legal block, all but its near field left to the centre samples
        bare = render(dataclasses.replace(rule, base_block=rule.mid_block + 2 * BASE_BLOCK_RAMP))
    peak, flux = np.max(reference), np.sum(reference)
    assert np.max(np.abs(image - reference)) <= 1e-4 * peak
    assert abs(np.sum(image) - flux) <= 1e-5 * flux
    assert max(np.max(np.abs(bare - reference)) / peak, 10 * abs(np.sum(bare) - flux) / flux) > 1e-4


@pytest.mark.parametrize("profile", [(2.75, 0.44, 5.01, 1.6585), (2.11, 0.33, 1.25, 1.66), (1.83, 0.37, 3.9, 1.99),
                                     (5.0, 0.7, 0.8, 0.4)],
                         ids=["n=2.75 q=0.44 Re=5", "n=2.11 q=0.33 Re=1.25", "n=1.83 q=0.37 Re=3.9",
                              "n=5 q=0.7 Re=0.8"])
def test_an_elongated_profile_gets_a_cheap_rule_within_budget(profile: tuple) -> None:
    """Profiles that used to get costly rules must get a cheap one within budget.

    The first three are elongated: their corrected-midpoint base failed the budget with near-field rules
    of order 4, and they fell back to the reference rule (the first: 12× the evaluations, before the
    near-field order could be raised; the second: 172 000 evaluations on 64²) or to a Gauss–Legendre
    base on every pixel (the third: 48 000); near-field rules of order 5 and 6 now serve them.  The
    fourth, compact and cuspy, took the (3, 6, 6) cusp rule (56 000) before the cusp candidates between
    it and (3, 4, 5).  Each must take a corrected-midpoint base and under a fifth of the reference's
    evaluations, and meet the budget (1e-4 of the peak) against ``scipy.integrate.dblquad`` on the 5 × 5
    central pixels, each split at the pixel's point nearest the centre so that the cusp lies on a corner.
    """
    from scipy import integrate, special

    from bayesphot.image import TargetImage
    from bayesphot.models import Model
    from bayesphot.render.choose import REFERENCE_QUADRATURE
    from bayesphot.render.quadrature import quadrature_evaluations

    (n, q, re, pa), ie, xc, yc = profile, 14.29, 31.8297, 31.3095
    with backend.using("torch", dtype="float64"):
        model = Model("g", "sersic galaxy model", target=TargetImage(np.zeros((64, 64))), x=xc, y=yc, q=q,
                      PA=pa, n=n, Re=re, Ie=ie)
        rule = model.quadrature
        image = backend.to_numpy(model.render())
    assert rule.base_order == 0
    assert quadrature_evaluations(rule, (64, 64)) < quadrature_evaluations(REFERENCE_QUADRATURE, (64, 64)) / 5
    b = special.gammaincinv(2.0 * n, 0.5)
    s, c = np.sin(pa), np.cos(pa)

    def sersic(y: float, x: float) -> float:
        dx, dy = x - xc, y - yc
        r = np.hypot(-dx * s + dy * c, (dx * c + dy * s) / q)
        return ie * np.exp(-b * ((r / re) ** (1.0 / n) - 1.0))

    col0, row0 = round(xc), round(yc)
    worst = 0.0
    for row in range(row0 - 2, row0 + 3):
        for col in range(col0 - 2, col0 + 3):
            lo_x, hi_x, lo_y, hi_y = col - 0.5, col + 0.5, row - 0.5, row + 0.5
            sx, sy = min(max(xc, lo_x), hi_x), min(max(yc, lo_y), hi_y)
            total = 0.0
            for ax, bx in ((lo_x, sx), (sx, hi_x)):
                for ay, by in ((lo_y, sy), (sy, hi_y)):
                    if bx > ax and by > ay:
                        total += integrate.dblquad(sersic, ax, bx, ay, by, epsabs=1e-9, epsrel=1e-9)[0]
            worst = max(worst, abs(image[row, col] - total))
    assert worst <= 1e-4 * np.max(image)


def _sersic(name: str, xc: float, yc: float, n: float, re: float, q: float):
    """An elliptical Sérsic profile (Ie = 1, PA = 0.4) and its centre, on backend ``name`` (pixel units)."""
    from scipy import special

    b = float(special.gammaincinv(2.0 * n, 0.5))
    c = (_array(name, xc), _array(name, yc))
    cos, sin = np.cos(0.4), np.sin(0.4)

    def brightness(x: Any, y: Any) -> Any:
        xp = backend.namespace(x)
        u, v = (x - c[0]) * cos + (y - c[1]) * sin, (y - c[1]) * cos - (x - c[0]) * sin
        r = xp.sqrt(u * u + (v / q) ** 2 + 1e-300)
        return xp.exp(-b * (xp.exp(xp.log(r / re) / n) - 1.0))

    return brightness, c


@pytest.mark.parametrize("shape", [(1.0, 3.0, 0.7), (4.0, 1.0, 0.8), (0.8, 20.0, 0.7)],
                         ids=["exponential", "de Vaucouleurs", "wide"])
def test_the_midpoint_correction_sums_to_zero_over_the_plane(shape: tuple) -> None:
    """Every term of the corrected midpoint's correction is a finite difference, whose sum along a row or
    column telescopes: over a grid on whose edge the profile has decayed (to 1e-12 of its peak), the correction sums
    to 0 (to 1e-9 of the sum of its magnitudes).  The chooser relies on this to know what a base block
    leaves out of the flux beyond its probe grid."""
    from bayesphot.render.pixels import midpoint_correction

    half = 400
    with backend.using("torch", dtype="float64"):
        brightness, _ = _sersic("torch", 0.3, -0.2, *shape)
        x = _array("torch", np.arange(-half - 2, half + 3, dtype=float))
        correction = backend.to_numpy(midpoint_correction(brightness(x[None, :], x[:, None]), 1.0))
    assert abs(np.sum(correction)) <= 1e-9 * np.sum(np.abs(correction))


@pytest.mark.parametrize(("shape", "outer_order"), [((1.0, 10.0, 0.5), 0), ((6.0, 3.0, 0.8), 0), ((0.8, 20.0, 0.7), 2)],
                         ids=["exponential", "n=6 wings", "wide"])
def test_what_a_chosen_base_block_leaves_out_is_within_its_share(shape: tuple, outer_order: int) -> None:
    """The chosen base block against the correction on every pixel, on a 601² grid, three times the
    chooser's probe: every pixel within BASE_SHARE × tolerance of the peak and the flux within that share
    over FLUX_WEIGHT.  The wide profile (n = 0.8, Re = 20 pixels) left 2.5e-6 of its flux out of a
    127-pixel block with the centre samples alone outside (over its share of 2.5e-6): it gets the
    five-point Laplacian outside and a small block instead."""
    import jax

    from bayesphot.render import choose_quadrature
    from bayesphot.render.choose import BASE_SHARE, FLUX_WEIGHT

    size, tolerance = 601, 5e-5
    with backend.using("torch", dtype="float64"):
        rule = choose_quadrature(*_sersic("torch", 300.3, 299.8, *shape), 1.0, tolerance)
    assert rule.base_block and rule.outer_order == outer_order and uses_base_block(rule, (size, size))
    with backend.using("jax", dtype="float64"):
        brightness, c = _sersic("jax", 300.3, 299.8, *shape)
        grid = PixelGrid(0.0, 0.0, 1.0, (size, size))
        image, full = (backend.to_numpy(jax.jit(lambda config=config: integrate_pixels(brightness, grid, c, config))())
                       for config in (rule, dataclasses.replace(rule, base_block=0, outer_order=0)))
    share = BASE_SHARE * tolerance
    assert np.max(np.abs(image - full)) <= share * np.max(full)
    assert FLUX_WEIGHT * abs(np.sum(image - full)) <= share * np.sum(full)


def test_a_wide_profile_with_the_laplacian_outside_its_block_is_within_budget() -> None:
    """``benchmarks/render.py``'s 256² profile (n = 2.5, Re = 32 pixels, q = 0.6) gets a small base block
    with the five-point Laplacian outside; against the reference rule (a 3 × 3 Gauss–Legendre base on
    every pixel, no finite differences), every pixel within 1e-4 of the peak and the flux within 1e-5."""
    import jax

    from bayesphot.render import choose_quadrature
    from bayesphot.render.choose import REFERENCE_QUADRATURE

    size, centre, shape = 256, (128.3, 127.8), (2.5, 32.0, 0.6)
    with backend.using("torch", dtype="float64"):
        rule = choose_quadrature(*_sersic("torch", *centre, *shape), 1.0)
    assert rule.outer_order == 2 and uses_base_block(rule, (size, size))
    with backend.using("jax", dtype="float64"):
        brightness, c = _sersic("jax", *centre, *shape)
        grid = PixelGrid(0.0, 0.0, 1.0, (size, size))

        def render(config: QuadratureConfig) -> np.ndarray:
            return backend.to_numpy(jax.jit(lambda: integrate_pixels(brightness, grid, c, config))())

        image, reference = render(rule), render(REFERENCE_QUADRATURE)
    assert np.max(np.abs(image - reference)) <= 1e-4 * np.max(reference)
    assert abs(np.sum(image) - np.sum(reference)) <= 1e-5 * np.sum(reference)


@pytest.mark.parametrize("profile", [(0.5, 0.5), (2.0, 1.0), (6.0, 0.5)],
                         ids=["n=0.5 Re=0.5", "n=2 Re=1", "n=6 Re=0.5"])
def test_profiles_narrower_than_a_third_of_a_pixel_are_within_budget(profile: tuple) -> None:
    """q = 0.3 and Re ≤ 1 pixel: a profile under a third of a pixel across its minor axis.  The reference
    rule the chooser compares with was 2–9e-4 of the peak off for these (its near field had 6 × 6 nodes a
    pixel), and so were the rules chosen against it.  The chosen rule against a much finer one (6 × 6
    Gauss–Legendre base, 14 × 14 near field, 16 graded levels of 10 points; 20–30 × the reference's
    evaluations, 2e-5 from the next finer), on the chooser's own probe at its three sub-pixel offsets:
    within the budget of 1e-4 (flux error × 10 included)."""
    from bayesphot.image import TargetImage
    from bayesphot.models import Model
    from bayesphot.models.base import choice_backend
    from bayesphot.render import choose

    finer = QuadratureConfig(base_order=6, mid_block=25, mid_order=14, levels=16, order=10, ratio=0.2)
    n, re = profile
    model = Model("g", "sersic galaxy model", target=TargetImage(np.zeros((64, 64))), x=31.3, y=31.8, PA=0.4,
                  Ie=1.0, n=n, Re=re, q=0.3)
    rule = model.quadrature
    with choice_backend():
        brightness, centre, step = model.choice_profile()
        error = choose._error(choose._probe(brightness, centre, step, rule),
                              choose._probe(brightness, centre, step, finer))
    assert error <= 1e-4


#: a rule finer than the chooser's own check (RESOLUTION_CHECK): an independent judge of its findings
FINEST = QuadratureConfig(base_order=8, mid_block=25, mid_order=24, levels=20, order=12, ratio=0.2)


def test_a_profile_narrower_than_the_rules_resolve_is_reported() -> None:
    """q = 0.1, Re = 1.1 pixels: a profile a tenth of a pixel across its minor axis, which no rule here
    resolves (measured at Re = 1, n = 2: the reference 2.4e-4 of the peak off a much finer rule, which was
    itself 2.2e-4 off a finer one still).  Before, the chooser returned a rule that matched the reference
    and passed it as within budget.  Now the rule carries its error against the finer rule, over the
    1e-4 budget, and a QuadratureWarning says so.  Independently of the chooser's own check: the chosen
    rule against a finer rule still (:data:`FINEST`), at the chooser's three offsets, is over the budget
    too: the report is no false alarm.  A resolved profile (q = 0.7, Re = 3.1 pixels) carries no error
    and no warning, and is within the budget of that rule."""
    from bayesphot.errors import QuadratureWarning
    from bayesphot.image import TargetImage
    from bayesphot.models import Model
    from bayesphot.models.base import choice_backend
    from bayesphot.models.resolution import quadrature_issues
    from bayesphot.render import choose

    def model(q: float, re: float) -> Model:
        return Model("g", "sersic galaxy model", target=TargetImage(np.zeros((64, 64))), x=31.3, y=31.8,
                     PA=0.45, Ie=1.3, n=2.2, Re=re, q=q)

    narrow, resolved = model(0.1, 1.1), model(0.7, 3.1)
    with pytest.warns(QuadratureWarning, match="narrower than the pixel quadrature resolves"):
        rule = narrow.quadrature
    assert rule.resolution_error > 1e-4
    assert quadrature_issues(narrow) and "uncertain to at least" in quadrature_issues(narrow)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", QuadratureWarning)
        assert resolved.quadrature.resolution_error == 0.0
    assert quadrature_issues(resolved) == []
    with choice_backend():
        for m, over in ((narrow, True), (resolved, False)):
            brightness, centre, step = m.choice_profile()
            error = choose._error(choose._probe(brightness, centre, step, m.quadrature),
                                  choose._probe(brightness, centre, step, FINEST))
            assert (error > 1e-4) == over, error


def test_a_non_finite_probe_never_passes_the_chooser() -> None:
    """A NaN in a candidate's probe image: its error is infinite (Python's max() had skipped the NaN, and the
    error came out 0: a candidate rendering NaN passed as exact)."""
    from bayesphot.render import choose

    reference = [np.ones((5, 5))]
    image = np.ones((5, 5))
    image[2, 2] = np.nan
    assert choose._error([image], reference) == np.inf
    assert choose._error([np.ones((5, 5)) * (1 + 1e-6)], reference) == pytest.approx(1e-5)
