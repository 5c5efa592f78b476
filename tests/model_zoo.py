"""One model of every type, for tests that run each type through the same checks (backends, devices)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import bayesphot as bp


def every_model_type(galaxy: dict[str, Any], point_xy: tuple[float, float],
                     group_window: bp.Window) -> dict[str, Callable[[bp.TargetImage], bp.Model]]:
    """Model type → builder on a target; ``galaxy`` holds the shared centre, shape (and quadrature) values."""
    return {
        "sersic": lambda t: bp.Model("m", "sersic galaxy model", target=t, n=2.7, Re=1.1, Ie=3.0, **galaxy),
        "exponential": lambda t: bp.Model("m", "exponential galaxy model", target=t, Re=1.3, Ie=2.0, **galaxy),
        "gaussian": lambda t: bp.Model("m", "gaussian galaxy model", target=t, sigma=0.8, flux=5.0, **galaxy),
        "moffat": lambda t: bp.Model("m", "moffat galaxy model", target=t, n=2.5, Rd=0.9, I0=4.0, **galaxy),
        "spline": lambda t: bp.Model("m", "spline galaxy model", target=t, knots=[0.0, 0.5, 1.2, 2.5, 5.0],
                                     logI=[1.0, 0.6, 0.1, -0.7, -1.5], **galaxy),
        "point": lambda t: bp.Model("m", "point source", target=t, x=point_xy[0], y=point_xy[1], flux=7.0),
        "flat sky": lambda t: bp.Model("m", "flat sky model", target=t, I=0.3),
        "plane sky": lambda t: bp.Model("m", "plane sky model", target=t, I=0.3, dIdx=0.02, dIdy=-0.01),
        "group": lambda t: bp.Model("m", "group", target=t, models=[
            bp.Model("sky", "plane sky model", I=0.2, dIdx=0.01, dIdy=0.03),
            bp.Model("gal", "sersic galaxy model", window=group_window, n=1.6, Re=1.0, Ie=2.0, **galaxy),
            bp.Model("star", "point source", x=2.2, y=5.1, flux=3.0),
        ]),
    }
