"""Radial light profiles: the model's I(R) and the data's binned median."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..errors import ModelError
from ..models.base import Model
from ..models.initialize import radial_median_profile as _median_profile
from .image import leaf_models


def surface_brightness(intensity: np.ndarray, zeropoint: float) -> np.ndarray:
    """mag/arcsec² of flux/arcsec² (NaN where the intensity is not positive)."""
    i = np.asarray(intensity, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(i > 0, zeropoint - 2.5 * np.log10(np.where(i > 0, i, 1.0)), np.nan)


def _set_axes(ax: Axes, zeropoint: float | None) -> None:
    """Axis labels and scales shared by both profile plots."""
    ax.set_xlabel("R [arcsec]")
    if zeropoint is None:
        ax.set_yscale("log")
        ax.set_ylabel("I [flux / arcsec²]")
    else:
        ax.set_ylabel("μ [mag / arcsec²]")
        if not ax.yaxis_inverted():
            ax.invert_yaxis()


def _finish(ax: Axes) -> None:
    """Legend of every labelled line on the axes, and a default title."""
    ax.legend(fontsize="small")
    if not ax.get_title():
        ax.set_title("surface-brightness profile (major axis)", fontsize="medium")


def _geometry(model: Model) -> tuple[float, float, float, float]:
    """Centre (arcsec), axis ratio and PA of a model (round and unrotated when it has no q/PA)."""
    params = model.parameters
    if "x" not in params or "y" not in params:
        raise ModelError(f"{model.name!r} ({model.model_type}) has no centre (x, y) to measure a profile about")
    get = lambda k, default: float(np.asarray(params[k].value)) if k in params and params[k].value is not None \
        else default
    return get("x", 0.0), get("y", 0.0), get("q", 1.0), get("PA", 0.0)


def default_radii(model: Model, count: int = 200) -> np.ndarray:
    """``count`` radii (arcsec) from 0 to the farthest corner of the model's window."""
    xc, yc, _, _ = _geometry(model)
    (x0, x1), (y0, y1) = model.window.to_arcsec(model.target.pixelscale)
    rmax = max(np.hypot(x - xc, y - yc) for x in (x0, x1) for y in (y0, y1))
    return np.linspace(0.0, rmax, count)


def galaxy_light_profile(fig: Figure, ax: Axes, model: Model, radii: Any = None, **kwargs: Any) -> Axes:
    """Plot the model's radial profile I(R) against the major-axis radius R (arcsec).

    With ``target.zeropoint`` set the surface brightness μ = zp − 2.5 log10 I
    (mag/arcsec²) is shown on an inverted axis, otherwise I (flux/arcsec²) on
    a log axis.  A group draws one line per galaxy component.

    Parameters
    ----------
    fig, ax : matplotlib Figure and Axes
    model : Model
        A galaxy model (one with ``radial_profile``) or a group holding some.
    radii : array, optional
        Radii in arcsec (default: 200 from 0 to the window's farthest corner).
    **kwargs
        Passed to ``ax.plot``.

    Returns
    -------
    Axes
    """
    galaxies = [(name, m) for name, m in leaf_models(model) if hasattr(m, "radial_profile")]
    if not galaxies:
        raise ModelError(f"{model.name!r} ({model.model_type}) has no galaxy model with a radial profile")
    zeropoint = model.target.zeropoint
    for name, galaxy in galaxies:
        r = default_radii(galaxy) if radii is None else np.asarray(radii, dtype=np.float64)
        intensity = galaxy.radial_profile(r)
        y = intensity if zeropoint is None else surface_brightness(intensity, zeropoint)
        options: dict[str, Any] = {"label": name}
        options.update(kwargs)
        ax.plot(r, y, **options)
    _set_axes(ax, zeropoint)
    _finish(ax)
    return ax


def median_profile(model: Model, background: float = 0.0,
                   nbins: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Binned median surface brightness of the data around the model, and its uncertainty.

    Uses :func:`bayesphot.models.initialize.radial_median_profile` on the
    model's window and mask, in elliptical annuli of the model's centre, q
    and PA.  ``background`` (flux/arcsec²) is subtracted first.

    Returns
    -------
    radii, median, error
        Major-axis radii (arcsec), medians (flux/arcsec²) and the standard
        error of each median.
    """
    target, window, mask = model.target, model.window, model.fit_mask
    xc, yc, q, pa = _geometry(model)
    args = (target, window, mask, (xc, yc), q, pa, background * target.pixel_area, nbins)
    radii, medians, errors = _median_profile(*args, return_errors=True)
    return np.asarray(radii), np.asarray(medians), np.asarray(errors)


def radial_median_profile(fig: Figure, ax: Axes, model: Model, background: float = 0.0, nbins: int = 20,
                          errors: bool = True, **kwargs: Any) -> Axes:
    """Plot the median of the data in elliptical annuli around the model, with error bars.

    The annuli follow the model's centre, axis ratio and PA (round for models
    without q/PA) over its window, masked pixels left out; radii are major-axis
    radii in arcsec, on the axes of :func:`galaxy_light_profile`
    (mag/arcsec² when the target has a zero-point, else flux/arcsec² on a log
    axis).  Error bars are the standard errors of the medians.

    Parameters
    ----------
    fig, ax : matplotlib Figure and Axes
    model : Model
        A model with a centre ``x``, ``y`` (a galaxy or point source).
    background : float
        Sky surface brightness (flux/arcsec²) to subtract, e.g. a sky model's ``I``.
    nbins : int
        Number of logarithmic radial bins.
    errors : bool
        Draw error bars.
    **kwargs
        Passed to ``ax.errorbar`` (``ax.plot`` keywords such as ``color``,
        ``marker`` work).

    Returns
    -------
    Axes
    """
    radii, medians, err = median_profile(model, background, nbins)
    zeropoint = model.target.zeropoint
    yerr = None
    if zeropoint is None:
        y = medians
        if errors:
            # on a log axis: no bar below zero
            yerr = np.stack([np.minimum(err, np.where(medians > 0, medians * (1 - 1e-9), 0.0)), err])
    else:
        y = surface_brightness(medians, zeropoint)
        if errors:
            faint, bright = surface_brightness(medians - err, zeropoint), surface_brightness(medians + err, zeropoint)
            yerr = np.stack([y - bright, np.where(np.isfinite(faint), faint - y, np.nan)])
    options: dict[str, Any] = {"linestyle": "none", "marker": "o", "markersize": 4, "color": "k",
                               "capsize": 0, "elinewidth": 1, "label": f"{model.name} data median"}
    options.update(kwargs)
    ax.errorbar(radii, y, yerr=yerr, **options)
    _set_axes(ax, zeropoint)
    _finish(ax)
    return ax
