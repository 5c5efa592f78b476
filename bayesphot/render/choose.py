"""Choose the cheapest pixel quadrature that meets the error budget for one profile.

The rules of :func:`~bayesphot.render.integrate_pixels` have a few sizes (near
block, its Gauss–Legendre order, the cusp grading, the base rule).  Which ones
a profile needs depends on how steep its centre is and how narrow it is in
pixels, which depend on the model's parameter values.  :func:`choose_quadrature`
renders the profile on a small grid around its centre with a very fine rule
and with candidate rules of increasing cost, at several sub-pixel positions of
the centre, and returns the first candidate within ``tolerance`` of the peak
pixel (and within ``tolerance`` / 10 in the total flux).  Its base rule then gets the
smallest block outside which the corrected midpoint's correction can be left out
within half the tolerance, judged on a larger probe grid (:func:`_base_block_errors`).
Last, the choice is checked against a rule much finer than the reference
(:func:`resolution_error`): for profiles narrower than the rules resolve (axis
ratios of about 0.1) the reference is itself off, and the rule then carries
that error (``QuadratureConfig.resolution_error``) with a warning.
Models call it when
they are prepared for rendering (the choice is then fixed for every compiled
function built from the model).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from ..backend import Array, namespace, to_numpy
from ..errors import QuadratureWarning
from .coordinates import PixelGrid
from .pixels import base_block_weight, integrate_pixels, midpoint_correction
from .quadrature import BASE_BLOCK_RAMP, QuadratureConfig

#: the reference rule the candidates are compared with (≤ 1e-5 of the peak against GalSim/scipy for
#: 0.5 ≤ n ≤ 6, q ≥ 0.3, Re ≥ 1 pixel; about 1.8 × 10⁵ evaluations on the probe grid).  Its near field
#: has 10 × 10 nodes a pixel: with 6 × 6 it was 2–9e-4 of the peak off much finer rules for profiles
#: narrower than a third of a pixel across (q = 0.3, Re = 0.5–1 pixel), which every candidate then
#: matched, so they were chosen as within budget; with 10 × 10, within 2.2e-6 of those rules
REFERENCE_QUADRATURE = QuadratureConfig(base_order=3, mid_block=25, mid_order=10, levels=8, order=7, ratio=0.25)

#: a rule much finer than the reference (6 × 6 Gauss–Legendre base, 14 × 14 near field, 10 graded levels of
#: 8 points; about 0.02 s a probe in eager torch) against which every chosen rule is checked at the first
#: offset: the reference itself is not converged for profiles narrower than it resolves.  Measured (n
#: 0.5–6, first offset), the reference against a rule finer still (16 graded levels of 10 points, 4 × this
#: one's cost): q = 0.1 with Re ≤ 3 pixels, 1.2e-4 to 9e-3 of the peak (and that rule 4e-5 to 1.7e-3 off a
#: finer one again: none converged); q = 0.2 with Re 0.2–0.5 pixel, up to 7e-5; q ≥ 0.3 with Re ≥ 0.5
#: pixel, ≤ 2.2e-6.  This cheaper rule puts 10 of 11 such profiles on the same side of the 1e-4 budget;
#: the eleventh (n = 0.5, Re = 0.2, q = 0.2: 7e-5 there, 2.2e-4 here) is one neither resolves
RESOLUTION_CHECK = QuadratureConfig(base_order=6, mid_block=25, mid_order=14, levels=10, order=8, ratio=0.2)
#: the chooser's default tolerance (|candidate − reference| / peak pixel); the documented budget is twice it
DEFAULT_TOLERANCE = 5e-5
#: a chosen rule further than this many tolerances from :data:`RESOLUTION_CHECK` is reported as
#: unresolved (2: the documented budget of 1e-4 for the default tolerance)
UNRESOLVED = 2.0

#: (base_order, mid_block, mid_order) in increasing cost
#: (13 and 17 fill the gaps between 11, 15 and 21: about half of the small or elongated profiles of a
#: grid of n 0.7–4, Re 1.5–6 pixels, q 0.4–0.9 meet the budget one step down, 25–35 % fewer near nodes;
#: orders 5 and 6 come before a Gauss–Legendre base, which costs 9 evaluations on every pixel of the
#: image: of 40 random 64² profiles, n 0.5–4, Re 1–5 pixels, q 0.3–0.95, five elongated ones had fallen
#: back to that base (48 000–59 000 evaluations) or to the reference rule (172 000) and now take
#: 21 000–29 000, 27 % fewer evaluations over the 40)
NEAR_CANDIDATES: tuple[tuple[int, int, int], ...] = (
    (0, 7, 3), (0, 9, 3), (0, 9, 4), (0, 11, 4), (0, 13, 4), (0, 11, 5), (0, 15, 4), (0, 13, 5), (0, 17, 4),
    (0, 15, 5), (0, 21, 4), (0, 17, 5), (0, 21, 5), (0, 21, 6), (3, 9, 4), (3, 15, 5),
)
#: (block, levels, order) in increasing cost, (2·block·levels·order)² nodes
#: (the ones between 120² and 216² nodes fill the gap before (3, 6, 6): on a grid of n 2–6, Re 0.5–4
#: pixels, q 0.3–1, compact cuspy profiles took 13–16× the centre-sampled evaluations of a 64² image
#: with (3, 6, 6) and take 4–10× with them; 29 % fewer evaluations over the grid)
CUSP_CANDIDATES: tuple[tuple[int, int, int], ...] = (
    (0, 1, 1), (2, 2, 3), (2, 3, 3), (3, 2, 3), (2, 4, 3), (2, 3, 4), (3, 3, 3), (2, 4, 4), (3, 3, 4),
    (2, 5, 4), (2, 5, 5), (2, 6, 5), (3, 5, 4), (3, 4, 5), (2, 6, 6), (3, 5, 5), (3, 5, 6), (3, 6, 5),
    (3, 6, 6), (3, 8, 7),
)
#: sub-pixel positions (column, row offsets from a pixel centre) at which candidates are checked; the
#: second and third are one position with the axes swapped: an elongated profile (q = 0.44, PA ≈ 95°)
#: passed the first two within 5e-5 and rendered 2.5e-4 off at the third
OFFSETS = ((0.5, 0.5), (0.31, -0.17), (-0.17, 0.31))
#: a relative flux error counts this many times (flux to ≤ tolerance / FLUX_WEIGHT)
FLUX_WEIGHT = 10.0
PROBE_HALF = 14  # probe grid of 2·14 + 1 pixels a side (holds the largest near block)
#: base blocks tried (pixels a side), smallest first; none that suffices: the correction on every pixel
BASE_BLOCKS = (25, 31, 41, 51, 61, 81, 101, 127)
#: the base-block probe grid has 2·100 + 1 pixels a side: the largest base block and 37 pixels beyond
BASE_PROBE_HALF = 100
#: the share of the tolerance left to what a base block leaves out (per pixel, and in the flux)
BASE_SHARE = 0.5
#: the probe grid's outer ring (pixels) whose correction, per pixel, stands for what lies beyond
BASE_TAIL = 8
#: what pixels outside a base block may get, cheapest first (``QuadratureConfig.outer_order``)
OUTER_ORDERS = (0, 2)


def _probe(brightness: Callable[[Array, Array], Array], center: tuple[Array, Array], step: float,
           config: QuadratureConfig, offsets: Sequence[tuple[float, float]] = OFFSETS) -> list[np.ndarray]:
    xc, yc = center
    xcf, ycf = float(to_numpy(xc)), float(to_numpy(yc))
    images = []
    for dx, dy in offsets:
        # pixel (PROBE_HALF, PROBE_HALF) is centred (dx, dy) pixels from the profile centre
        grid = PixelGrid(xcf - (PROBE_HALF + dx) * step, ycf - (PROBE_HALF + dy) * step, step,
                         (2 * PROBE_HALF + 1, 2 * PROBE_HALF + 1))
        images.append(to_numpy(integrate_pixels(brightness, grid, center, config)))
    return images


def _error(images: Iterable[np.ndarray], references: list[np.ndarray], outside_cusp: bool = False) -> float:
    """Worst |image − reference| / peak over the offsets (optionally ignoring the 3 × 3 cusp pixels).

    The relative error of the total over the probe grid, times ``FLUX_WEIGHT``, counts too: small
    per-pixel errors of one sign add up in the flux.
    """
    worst = 0.0
    for image, reference in zip(images, references, strict=True):
        diff = image - reference
        if outside_cusp:
            diff[PROBE_HALF - 1: PROBE_HALF + 2, PROBE_HALF - 1: PROBE_HALF + 2] = 0.0
        flux = FLUX_WEIGHT * abs(float(np.sum(diff))) / abs(float(np.sum(reference)))
        error = max(float(np.max(np.abs(diff)) / np.max(np.abs(reference))), flux)
        if not np.isfinite(error):
            return np.inf  # a non-finite image or reference never passes (max() would skip a NaN)
        worst = max(worst, error)
    return worst


def choose_quadrature(
    brightness: Callable[[Array, Array], Array],
    center: tuple[Array, Array],
    step: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> QuadratureConfig:
    """The cheapest candidate rule within ``tolerance`` × peak pixel of a very fine rule.

    Parameters
    ----------
    brightness : callable
        ``f(x, y)`` → surface brightness (flux/arcsec²) of the profile at its current parameters.
    center : (xc, yc)
        Profile centre (arcsec, 0-d arrays of ``brightness``'s backend).
    step : float
        Pixel size (arcsec) of the grid the profile is rendered on.
    tolerance : float
        Largest accepted |candidate − reference| / peak pixel (the documented budget is 1e-4;
        the default leaves room for parameters to move during a fit).

    Returns
    -------
    QuadratureConfig
        The cheapest candidate that meets the tolerance (the near-field rule's order raised up to
        the reference's when no cusp rule suffices with the first near-field rule that does), or
        :data:`REFERENCE_QUADRATURE` when none does (narrow or very cuspy profiles, which need the fine rule);
        with ``resolution_error`` set (and a :class:`~bayesphot.errors.QuadratureWarning`) when it is over
        twice ``tolerance`` from :data:`RESOLUTION_CHECK`.
    """
    namespace(center[0])  # fail early on a non-array centre
    return choose_common_quadrature([(brightness, center)], step, tolerance)


def choose_common_quadrature(
    profiles: Sequence[tuple[Callable[[Array, Array], Array], tuple[Array, Array]]],
    step: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> QuadratureConfig:
    """The cheapest candidate rule within ``tolerance`` of a very fine rule for every one of ``profiles``.

    The same search as :func:`choose_quadrature`, each candidate's error being the worst over the
    profiles: one rule that several objects can share (one compiled program), and never costlier
    than the componentwise finest of their own choices, which can be costlier than any of them
    (a 3 × 3 cusp block from one object and 4 levels of 5 points from another).

    Parameters
    ----------
    profiles : sequence of (brightness, (xc, yc))
        Each profile's surface brightness ``f(x, y)`` (flux/arcsec²) and centre (arcsec).
    step : float
        Pixel size (arcsec) of the grid they are rendered on.
    tolerance : float
        As for :func:`choose_quadrature`.

    Returns
    -------
    QuadratureConfig
    """
    if not profiles:
        raise ValueError("choose_common_quadrature needs at least one profile")
    return _checked(_search(profiles, step, tolerance), profiles, step, tolerance)


def _search(profiles: Sequence[tuple[Callable[[Array, Array], Array], tuple[Array, Array]]], step: float,
            tolerance: float) -> QuadratureConfig:
    """The cheapest candidate within ``tolerance`` of the reference rule for every profile (or the reference)."""
    references = [_probe(brightness, center, step, REFERENCE_QUADRATURE) for brightness, center in profiles]
    first = list(range(len(profiles)))  # the profile that last refused a candidate is tried first

    def within(config: QuadratureConfig, threshold: float, outside_cusp: bool = False) -> bool:
        """Whether ``config`` is within ``threshold`` for every profile at every offset, probing one profile
        and offset at a time and stopping at the first that refuses it (most candidates are refused: of a
        batch's extreme profiles usually the same one, which is then tried first)."""
        for position, k in enumerate(first):
            brightness, center = profiles[k]
            for offset, reference in zip(OFFSETS, references[k], strict=True):
                image = _probe(brightness, center, step, config, (offset,))
                if not _error(image, [reference], outside_cusp) <= threshold:
                    first.insert(0, first.pop(position))
                    return False
        return True

    near_choice = None
    for base_order, mid_block, mid_order in NEAR_CANDIDATES:
        # the cusp rule only touches the 3 × 3 pixels around the centre, which are ignored here
        config = QuadratureConfig(base_order=base_order, mid_block=mid_block, mid_order=mid_order, block=0)
        if within(config, 0.7 * tolerance, outside_cusp=True):
            near_choice = (base_order, mid_block, mid_order)
            break
    if near_choice is None:
        return REFERENCE_QUADRATURE
    base_order, mid_block, mid_order = near_choice
    # no cusp rule may suffice because the pixels just outside the cusp block need a finer near-field
    # rule than the ones further out: raise its order before falling back to the reference rule
    # (an elongated n = 2.75, Re = 5 pixel, q = 0.44 profile stopped at 2e-4 with order 4, passed with
    # 5: 14 000 evaluations on 64² instead of the reference's 170 000)
    for near_order in range(mid_order, max(mid_order, REFERENCE_QUADRATURE.mid_order) + 1):
        for block, levels, order in CUSP_CANDIDATES:
            config = QuadratureConfig(base_order=base_order, mid_block=mid_block, mid_order=near_order,
                                      block=block, levels=levels, order=order)
            if within(config, tolerance):
                return _with_base_block(config, profiles, step, tolerance, references)
    return REFERENCE_QUADRATURE


def reference_probe(brightness: Callable[[Array, Array], Array], center: tuple[Array, Array],
                    step: float) -> list[np.ndarray]:
    """The reference rule's probe images of one profile (at :data:`OFFSETS`), for :func:`budget_error`."""
    return _probe(brightness, center, step, REFERENCE_QUADRATURE)


def budget_error(brightness: Callable[[Array, Array], Array], center: tuple[Array, Array], step: float,
                 config: QuadratureConfig, reference: list[np.ndarray] | None = None) -> float:
    """The error the search holds within its tolerance: ``config`` against the reference rule, worst over
    :data:`OFFSETS`, as a fraction of the peak pixel (flux counted as in the search).

    ``reference`` is :func:`reference_probe` of the same profile, when already computed.
    """
    if reference is None:
        reference = reference_probe(brightness, center, step)
    return _error(_probe(brightness, center, step, config), reference)


def resolution_error(profiles: Sequence[tuple[Callable[[Array, Array], Array], tuple[Array, Array]]],
                     step: float, config: QuadratureConfig) -> float:
    """The worst error of ``config`` over the profiles' peak pixels against :data:`RESOLUTION_CHECK`.

    At the first sub-pixel offset only, flux included as in the search (:data:`FLUX_WEIGHT`).  Where that
    finer rule is itself not converged (axis ratios of 0.1 and less), the true error can be larger.
    """
    return max(_error(_probe(brightness, center, step, config, OFFSETS[:1]),
                      _probe(brightness, center, step, RESOLUTION_CHECK, OFFSETS[:1]))
               for brightness, center in profiles)


def unresolved_error(profiles: Sequence[tuple[Callable[[Array, Array], Array], tuple[Array, Array]]],
                     step: float, config: QuadratureConfig, tolerance: float = DEFAULT_TOLERANCE) -> float:
    """:func:`resolution_error` where it exceeds :data:`UNRESOLVED` × ``tolerance`` (the profiles are narrower
    than the rules resolve), else 0."""
    error = resolution_error(profiles, step, config)
    return error if error > UNRESOLVED * tolerance else 0.0


def _checked(config: QuadratureConfig, profiles: Sequence[tuple[Callable[[Array, Array], Array],
                                                               tuple[Array, Array]]],
             step: float, tolerance: float) -> QuadratureConfig:
    """``config``, carrying its :func:`unresolved_error` (and a :class:`~bayesphot.errors.QuadratureWarning`)
    when there is one: every rule here, the reference's included, is then off by about as much for these
    profiles, so the choice stands but is reported."""
    error = unresolved_error(profiles, step, config, tolerance)
    if not error:
        return config
    warnings.warn(f"a profile is narrower than the pixel quadrature resolves (axis ratio ≲ 0.1, or about a tenth "
                  f"of a pixel across): its rendering is uncertain to at least {error:.1e} of its peak pixel "
                  f"(budget {UNRESOLVED * tolerance:.0e}); results that depend on its central pixels carry "
                  "that error", QuadratureWarning, stacklevel=4)
    return dataclasses.replace(config, resolution_error=error)


def _base_block_errors(brightness: Callable[[Array, Array], Array], center: tuple[Array, Array], step: float,
                       blocks: Sequence[int], peaks: Sequence[float], tolerance: float) -> np.ndarray:
    """The worst error over the offsets of correcting the midpoint on each of ``blocks`` only.

    Returns an array (outer order, block): row 0 with the centre sample alone outside the block, row 1
    with the five-point Laplacian there (``QuadratureConfig.outer_order`` 0 and 2).

    What the block adds to the outer rule, c (the corrected midpoint's correction, less the
    Laplacian's with ``outer_order`` 2), on a large probe grid, times one less the block's weight w,
    is what the block leaves out of each pixel: its largest pixel over the offset's ``peaks``.  What
    it leaves out of the flux, over the whole plane, is −Σ w c (times :data:`FLUX_WEIGHT`, over the
    flux): every term of c is a finite difference, whose sum along a row or column telescopes to 0
    wherever the profile decays, so Σ (1 − w) c = −Σ w c, and w vanishes outside the probe grid.
    Beyond the grid c is taken to decay outwards: where it exceeds the share (:data:`BASE_SHARE` ×
    ``tolerance`` of the peak) in the grid's outer :data:`BASE_TAIL` pixels, nothing beyond can be
    vouched for and every block gets an infinite error.
    """
    xc, yc = (float(to_numpy(v)) for v in center)
    side = 2 * BASE_PROBE_HALF + 1
    worst = np.zeros((len(OUTER_ORDERS), len(blocks)))
    index = np.arange(side) - BASE_PROBE_HALF
    ring = np.maximum(np.abs(index)[:, None], np.abs(index)[None, :]) > BASE_PROBE_HALF - BASE_TAIL
    for (dx, dy), peak in zip(OFFSETS, peaks, strict=True):
        # centre samples on the probe grid padded by the correction's two pixels: one evaluation gives all
        padded = PixelGrid(xc - (BASE_PROBE_HALF + 2 + dx) * step, yc - (BASE_PROBE_HALF + 2 + dy) * step, step,
                           (side + 4, side + 4))
        x, y = padded.centers(center[0])
        samples = brightness(x[None, :], y[:, None])
        full = to_numpy(midpoint_correction(samples, step))
        flux = abs(float(np.sum(to_numpy(samples[2:-2, 2:-2])) * step * step + np.sum(full)))
        if not np.isfinite(flux):
            worst[:] = np.inf
            break
        kept = [np.outer(base_block_weight(np.abs(index - dy), block), base_block_weight(np.abs(index - dx), block))
                for block in blocks]
        for row, outer_order in enumerate(OUTER_ORDERS):
            correction = to_numpy(midpoint_correction(samples, step, outer_order)) if outer_order else full
            tail = float(np.max(np.abs(correction[ring]))) / peak
            if not np.isfinite(tail) or tail > BASE_SHARE * tolerance:
                worst[row] = np.inf
                continue
            for k, weight in enumerate(kept):
                worst[row, k] = max(worst[row, k], float(np.max(np.abs((1.0 - weight) * correction))) / peak,
                                    FLUX_WEIGHT * abs(float(np.sum(weight * correction))) / flux)
    return worst


def _with_base_block(config: QuadratureConfig, profiles: Sequence[tuple[Callable[[Array, Array], Array],
                                                                      tuple[Array, Array]]],
                     step: float, tolerance: float, references: list[list[np.ndarray]]) -> QuadratureConfig:
    """``config`` with the cheapest base block within :data:`BASE_SHARE` × ``tolerance`` for every profile.

    The smallest block with the centre sample alone outside it, else the smallest with the five-point
    Laplacian outside it (a pass over the image, but much smaller blocks for wide profiles).  Unchanged
    (the correction on every pixel) where none is, or where the rule has no base block to give.
    """
    if config.base_order or not config.mid_block:
        return config
    blocks = [block for block in BASE_BLOCKS if block >= config.mid_block + 2 * BASE_BLOCK_RAMP]
    worst = np.zeros((len(OUTER_ORDERS), len(blocks)))
    for (brightness, center), reference in zip(profiles, references, strict=True):
        peaks = [float(np.max(np.abs(image))) for image in reference]
        worst = np.maximum(worst, _base_block_errors(brightness, center, step, blocks, peaks, tolerance))
    for row, outer_order in enumerate(OUTER_ORDERS):
        for block, error in zip(blocks, worst[row], strict=True):
            if error <= BASE_SHARE * tolerance:
                return dataclasses.replace(config, base_block=block, outer_order=outer_order)
    return config
