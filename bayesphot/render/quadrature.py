"""Fixed quadrature rules (numpy, computed once) for integrating over pixels."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..errors import ModelError

#: pixels over which the weight of the corrected midpoint's block falls from 1 to 0 (``base_block``)
BASE_BLOCK_RAMP = 4


@dataclass(frozen=True)
class QuadratureConfig:
    """How pixels are integrated (see :mod:`bayesphot.render.pixels`).

    * ``base_order``: every pixel gets the midpoint rule corrected to sixth
      order by finite differences (0, one evaluation per pixel) or a
      ``base_order`` × ``base_order`` Gauss–Legendre rule.
    * ``mid_block``, ``mid_order``: a ``mid_block`` × ``mid_block`` block
      around the profile centre gets a ``mid_order`` × ``mid_order``
      Gauss–Legendre rule, blended smoothly into the base rule towards the
      block's edge (``mid_block = 0``: base rule only).
    * ``block``, ``levels``, ``order``, ``ratio``: the 3 × 3 pixels around the
      centre (``block = 3``), or the 2 × 2 pixels whose centres bracket it
      (``block = 2``; 0 switches the rule off) are split at their point
      nearest the centre and graded towards it: ``levels`` sub-intervals
      shrinking by ``ratio`` with ``order`` Gauss–Legendre points each, on
      both sides, on both axes.  Such hp-graded rules integrate the point
      singularity of r^α-type profiles with exponential convergence (Schwab
      1998, *p- and hp-Finite Element Methods*, ch. 4).  Their weight is 1 for
      pixels within ``blend`` × reach of the centre and falls smoothly to 0 at
      the reach (one pixel for 3 × 3, half a pixel for 2 × 2).
    * ``base_block``: with ``base_order = 0``, the corrected midpoint's finite
      differences are applied on a ``base_block`` × ``base_block`` block around
      the centre only (0: on every pixel); outside it, where the profile is smooth
      enough that the correction is below the budget, pixels keep their centre
      sample.  Its weight falls smoothly to 0 over the block's outer
      :data:`BASE_BLOCK_RAMP` pixels.
    * ``outer_order``: with a base block, what pixels outside it get: 0, the
      centre sample alone; 2, the centre sample corrected to second order by
      the five-point Laplacian, f + (δx² + δy²)f/24 (its error, h⁴ times fourth
      derivatives, falls off faster than the sixth-order correction's size: wide
      profiles need much smaller blocks with it), the sixth-order terms then
      being what the block adds.
    * ``resolution_error``: not a setting but a finding of the automatic choice
      (0 otherwise): the rule's error over the peak pixel against a much finer
      rule, when that exceeds the accuracy budget: a profile narrower than these
      rules resolve (an axis ratio of 0.1 or less, or a tenth of a pixel
      across), whose rendering near its centre is uncertain to at least that
      much.  It takes no part in comparisons, hashing or ``repr``.

    Models choose a configuration per profile by default (``quadrature="auto"``,
    :func:`~bayesphot.render.choose_quadrature`): narrow, elongated profiles
    need a Gauss–Legendre base rule, cuspy ones more levels.
    """

    base_order: int = 0
    block: int = 3
    levels: int = 8
    order: int = 7
    ratio: float = 0.25
    blend: float = 0.4
    mid_block: int = 9
    mid_order: int = 4
    base_block: int = 0
    outer_order: int = 0
    resolution_error: float = field(default=0.0, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.block not in (0, 2, 3):
            raise ModelError(f"QuadratureConfig.block must be 0, 2 or 3, got {self.block}")
        if self.mid_block and (self.mid_block % 2 == 0 or self.mid_block < 7):
            raise ModelError(f"QuadratureConfig.mid_block must be 0 or an odd number ≥ 7, got {self.mid_block}")
        if self.block and not self.mid_block:
            raise ModelError("QuadratureConfig.block needs mid_block > 0 (the cusp rule blends into it)")
        if self.base_block and (self.base_order or not self.mid_block or self.base_block % 2 == 0
                                or self.base_block < self.mid_block + 2 * BASE_BLOCK_RAMP):
            raise ModelError("QuadratureConfig.base_block must be 0, or odd, with base_order 0, mid_block > 0 and "
                             f"at least mid_block + {2 * BASE_BLOCK_RAMP}; got base_block={self.base_block}, "
                             f"base_order={self.base_order}, mid_block={self.mid_block}")
        if not 0.0 < self.blend < 1.0:
            raise ModelError(f"QuadratureConfig.blend must lie in (0, 1), got {self.blend}")
        if self.outer_order not in (0, 2) or (self.outer_order and not self.base_block):
            raise ModelError(f"QuadratureConfig.outer_order must be 0, or 2 with a base_block; got "
                             f"outer_order={self.outer_order}, base_block={self.base_block}")
        if min(self.order, self.levels, self.mid_order) < 1 or not 0.0 < self.ratio < 1.0 or self.base_order < 0:
            raise ModelError("QuadratureConfig orders and levels must be positive and ratio in (0, 1)")



#: used where no automatic choice can be made (no values yet); moderate cusps, q ≳ 0.5
DEFAULT_QUADRATURE = QuadratureConfig(levels=6, order=6, mid_block=11, mid_order=4)


def quadrature_evaluations(config: QuadratureConfig, shape: tuple[int, int]) -> int:
    """Brightness nodes of one render of a ``shape`` = (rows, columns) grid with ``config``.

    The rules' own nodes.  The small rules' grids (near field, cusp, the base block's samples) are
    evaluated stacked, each padded to the largest one's side (:mod:`~bayesphot.render.pixels`); that
    padding is not counted, and under JAX it costs nothing: XLA computes only the elements the slices
    that cut it off keep (the same grids cut into unpadded tiles gave the same 64² gradient time).
    """
    rows, cols = shape
    if config.base_order:
        base = rows * cols * config.base_order**2
    elif uses_base_block(config, shape):
        outer = (rows + 2) * (cols + 2) if config.outer_order else rows * cols
        base = outer + (config.base_block + 4) ** 2
    else:
        base = (rows + 4) * (cols + 4)
    near = config.mid_block**2 * config.mid_order**2
    cusp = config.block**2 * (2 * config.levels * config.order) ** 2 if config.block else 0
    return base + near + cusp


def uses_base_block(config: QuadratureConfig, shape: tuple[int, int]) -> bool:
    """Whether a render of a ``shape`` grid corrects the midpoint on ``config.base_block`` only.

    Only where the block's padded samples are at most a quarter of the image's pixels, or a
    sixty-fourth with ``outer_order`` 2, whose Laplacian is a pass over the whole image: on smaller
    images the finite differences everywhere cost about as much, and are more accurate.  (A whole
    log-density gradient with a 25-pixel block and the Laplacian outside, two CPU cores, one
    process: 0.97–1.11× the time of the convolution everywhere at 128² and 256², 0.90× at 512²,
    0.93× at 1024².)
    """
    rows, cols = shape
    share = 64 if config.outer_order else 4
    return bool(config.base_block) and share * (config.base_block + 4) ** 2 <= rows * cols


@lru_cache(maxsize=32)
def gauss_legendre_unit(order: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on [-½, ½] (weights sum to 1)."""
    nodes, weights = np.polynomial.legendre.leggauss(order)
    return nodes / 2.0, weights / 2.0


@lru_cache(maxsize=32)
def graded_rule(levels: int, order: int, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights on [0, 1] graded geometrically towards 0.

    Breakpoints are 0, ratio^(levels-1), …, ratio, 1; each sub-interval gets a
    Gauss–Legendre rule of ``order`` points.  The innermost interval [0, ratio^(levels-1)]
    absorbs the singular behaviour at 0.
    """
    breaks = np.concatenate([[0.0], ratio ** np.arange(levels - 1, -1, -1.0)])
    gl_nodes, gl_weights = gauss_legendre_unit(order)
    lo, hi = breaks[:-1, None], breaks[1:, None]
    nodes = ((lo + hi) / 2.0 + (hi - lo) * gl_nodes[None, :]).ravel()
    weights = ((hi - lo) * gl_weights[None, :]).ravel()
    return nodes, weights
