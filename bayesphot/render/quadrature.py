"""Fixed quadrature rules (numpy, computed once) for integrating over pixels."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class QuadratureConfig:
    """How pixels are integrated.

    Every pixel gets a ``base_order`` × ``base_order`` Gauss–Legendre rule, or
    with ``base_order = 0`` (the default) the midpoint rule corrected to sixth
    order by finite differences (one evaluation per pixel; see ``render.pixels``).
    A ``mid_block`` × ``mid_block`` patch around the profile centre, where
    the profile changes on the pixel scale, is redone with a ``mid_order``
    Gauss–Legendre rule.  A ``block`` × ``block`` patch at the very centre, where
    the profile is steepest (the cusp of high-n Sérsics), is recomputed with a
    rule graded geometrically towards the centre on each axis: ``levels``
    sub-intervals shrinking by ``ratio`` with ``order`` Gauss–Legendre points
    each, on both sides of the centre.  Such hp-graded rules integrate the
    point singularity of r^α-type profiles with exponential convergence
    (Schwab 1998, *p- and hp-Finite Element Methods*, ch. 4).

    Defaults, measured against GalSim ``real_space`` (tight tolerances) for
    Sérsic 0.5 ≤ n ≤ 6, q ∈ {1, 0.3}, 0.7 ≤ Re ≤ 8 px, centres on pixel
    centres, corners and in between: max error ≤ ~1e-5 of the peak pixel
    (budget 1e-4).  ``levels=8, order=7`` cut the cusp error of n = 6,
    q = 0.3 twentyfold over ``levels=10, order=5`` at about the same cost;
    ``mid_block=25`` keeps elongated low-n profiles (q ≥ 0.2, minor axis
    narrower than 2 px) inside the Gauss–Legendre tier where the one-point
    base rule would alias them.  Below q ≈ 0.2 with a sub-pixel minor axis
    the budget needs a finer configuration.
    """

    base_order: int = 0
    block: int = 3
    levels: int = 8
    order: int = 7
    ratio: float = 0.25
    mid_block: int = 25
    mid_order: int = 6


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
