"""Fixed quadrature rules (numpy, computed once) for integrating over pixels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..errors import ModelError


@dataclass(frozen=True)
class QuadratureConfig:
    """How pixels are integrated (see :func:`bayesphot.render.integrate_pixels`).

    Three rules, blended so that the image is a smooth function of every
    parameter wherever the profile centre sits relative to the pixel grid:

    * **base** — every pixel: with ``base_order = 0`` (the default) the midpoint
      rule corrected to sixth order by finite differences (one evaluation per
      pixel), else a ``base_order`` × ``base_order`` Gauss–Legendre rule.
    * **near field** — the profile times a smooth window Ψ centred on the
      profile centre (Ψ = 1 within ``mid_block // 2 − taper`` pixels, 0 beyond
      ``mid_block // 2`` pixels, C∞ in between) is integrated with a
      ``mid_order`` × ``mid_order`` Gauss–Legendre rule on the
      ``mid_block`` × ``mid_block`` pixels around the centre; the base rule
      sees only the profile times (1 − Ψ), which has no cusp.  The window moves
      with the centre, so nothing switches as the centre crosses pixels.
    * **cusp** — on the ``block`` × ``block`` pixels around the centre (0 or
      3) each pixel is split at the point nearest the centre and each of its
      four parts gets an ``order`` × ``order`` Gauss–Legendre rule after the
      substitution t → t^``power``, which grades the nodes towards the
      (near-)singular corner (a Duffy/power grading; Schwab 1998, *p- and
      hp-Finite Element Methods*, ch. 4).  Its weight falls smoothly from 1
      for pixels within ``blend`` pixel of the centre to 0 at one pixel, where
      the near-field rule takes over, so the block may snap with the centre
      without any jump.

    ``mid_block = 0`` switches both refinements off (base rule only).
    """

    base_order: int = 0
    block: int = 3
    levels: int = 8
    order: int = 7
    ratio: float = 0.25
    blend: float = 0.4
    mid_block: int = 9
    mid_order: int = 4
    taper: float = 2.0

    def __post_init__(self) -> None:
        if self.block not in (0, 3):
            raise ModelError(f"QuadratureConfig.block must be 0 or 3, got {self.block}")
        if self.mid_block and (self.mid_block % 2 == 0 or self.mid_block < 5):
            raise ModelError(f"QuadratureConfig.mid_block must be 0 or an odd number ≥ 5, got {self.mid_block}")
        if self.block and not self.mid_block:
            raise ModelError("QuadratureConfig.block needs mid_block > 0 (the cusp rule blends into it)")
        if self.mid_block and not 0.0 < self.taper < self.mid_block // 2:
            raise ModelError(f"QuadratureConfig.taper must lie in (0, {self.mid_block // 2}), got {self.taper}")
        if not 0.0 < self.blend < 1.0:
            raise ModelError(f"QuadratureConfig.blend must lie in (0, 1), got {self.blend}")
        if min(self.order, self.levels, self.mid_order) < 1 or not 0.0 < self.ratio < 1.0 or self.base_order < 0:
            raise ModelError("QuadratureConfig orders and levels must be positive and ratio in (0, 1)")

    @property
    def window(self) -> float:
        """Radius (pixels) beyond which the near-field window Ψ vanishes."""
        return float(self.mid_block // 2)


DEFAULT_QUADRATURE = QuadratureConfig()


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
