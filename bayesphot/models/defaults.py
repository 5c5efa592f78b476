"""Default priors per model type (for sampling), derived from each parameter's limits and initial value.

A parameter whose ``prior`` is None gets, for sampling, a weakly informative
default (the MAP fit keeps treating it as flat within its limits).  The rules,
applied in this order:

1. **Fixed** and **tied** parameters get none (they are not sampled).
2. **Cyclic** parameters (``PA``): ``VonMises(loc=0, concentration=0, period=upper − lower)``,
   i.e. uniform on the circle.
3. **Bounded on both sides** (``q`` on (0, 1), Sérsic ``n`` on (0.36, 10), Moffat β):
   ``Uniform(lower, upper)``.
4. **Positions** ``x``, ``y`` (arcsec): ``Normal(x₀, σ)`` with x₀ the current
   (initial or fitted) value and σ a quarter of the larger side of the model's
   window in arcsec: the centre is somewhere in the window.
5. **Positive, lower limit 0** (radii ``Re``, ``sigma``, ``Rd``; intensities ``Ie``,
   ``I0``; ``flux``): ``LogNormal(ln v₀, ln 10)``: one decade either side of the
   current value at 1σ.
6. **Sky level** ``I`` (flux/arcsec², unbounded): ``Normal(I₀, |I₀| + 10 σ_sb)`` with
   σ_sb the median per-pixel noise rms in the window divided by the pixel area.
   **Sky gradients** (flux/arcsec³): ``Normal(g₀, (|I₀| + 10 σ_sb) / L)`` with L the
   larger side of the window in arcsec.
7. **log10 brightness** (spline ``logI``, units starting with "log10"): ``Normal(v₀, 2)``
   per knot (two decades).
8. Anything else unbounded: ``Normal(v₀, 10 max(|v₀|, 1))``.
9. A one-sided limit other than zero (not used by the built-in models): none
   (flat within the limit).

All of these are broad compared with what an image of useful signal-to-noise
constrains, so the posterior is dominated by the likelihood; give explicit
priors (``priors={"n": ...}`` or ``group["gal:n"].prior = ...``) where that is
not the case.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..params import Parameter
from ..priors.distributions import LogNormal, Normal, Prior, Uniform, VonMises
from .base import Model


def leaf_parameters(model: Model, prefix: str = "") -> Iterator[tuple[str, Model, str, Parameter]]:
    """(full name, component model, local name, parameter) for every parameter below ``model``."""
    children = getattr(model, "models", None)
    if children:
        for child_name, child in children.items():
            yield from leaf_parameters(child, f"{prefix}{child_name}:")
        return
    for local, param in model.parameters.items():
        yield prefix + local, model, local, param


def _window_extent(model: Model) -> float:
    """Larger side of the model's window in arcsec."""
    rows, cols = model.window.shape
    return max(rows, cols) * model.target.pixelscale


def _noise_sb(model: Model) -> float:
    """Median per-pixel noise rms in the window, in flux/arcsec²."""
    target = model.target
    variance = target.variance[model.window.slices]
    good = ~model.fit_mask & np.isfinite(variance) & (variance > 0)
    if not good.any():
        return 1.0
    return float(np.sqrt(np.median(variance[good]))) / target.pixel_area


def default_prior(model: Model, name: str) -> Prior | None:
    """The default prior of component ``model``'s parameter ``name`` (see the module rules).

    Parameters
    ----------
    model : Model
        A component (not a group) with a target; the parameter must have a value.
    name : str
        Local parameter name (``"Re"``).

    Returns
    -------
    Prior or None
        None for fixed parameters and one-sided limits other than zero.
    """
    param = model[name]
    if not param.is_free:
        return None
    lower, upper = param.limits
    if param.cyclic:
        return VonMises(loc=0.0, concentration=0.0, period=upper - lower)
    if lower is not None and upper is not None:
        return Uniform(lower, upper)
    value = np.asarray(param.interior_value(), dtype=np.float64)
    center = float(np.mean(value)) if value.size else 0.0
    if name in ("x", "y") and lower is None and upper is None:
        return Normal(center, 0.25 * _window_extent(model))
    if lower == 0.0 and upper is None:
        return LogNormal(math.log(max(float(np.exp(np.mean(np.log(value)))), 1e-300)), math.log(10.0))
    if lower is not None or upper is not None:
        return None
    if param.units.startswith("log10"):
        return Normal(center, 2.0)
    if param.units == "flux/arcsec^2":
        return Normal(center, abs(center) + 10.0 * _noise_sb(model))
    if param.units == "flux/arcsec^3":
        level = model["I"].value if "I" in model.parameters and model["I"].value is not None else 0.0
        scale = (abs(float(np.mean(level))) + 10.0 * _noise_sb(model)) / _window_extent(model)
        return Normal(center, scale)
    return Normal(center, 10.0 * max(abs(center), 1.0))


def default_priors(model: Model, only_missing: bool = True) -> dict[str, Prior]:
    """Default priors of every free parameter of a (group) model, by full name.

    Parameters
    ----------
    model : Model
    only_missing : bool
        Skip parameters that already have a prior (default).

    Returns
    -------
    dict
        ``{"gal:Re": LogNormal(...), ...}``; parameters without a default are left out.
    """
    out: dict[str, Prior] = {}
    for full, component, local, param in leaf_parameters(model):
        if not param.is_free or (only_missing and param.prior is not None):
            continue
        prior = default_prior(component, local)
        if prior is not None:
            out[full] = prior
    return out


__all__ = ["default_prior", "default_priors", "leaf_parameters"]
