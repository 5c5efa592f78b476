"""One figure per stage of a fit: data, model and residuals over the same region, and the profile."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ..models.base import Model
from .image import _target_stats, chi2_ndf, leaf_models, model_image, model_window, residual_image, target_image
from .profile import galaxy_light_profile, radial_median_profile
from .stretch import make_norm


def _galaxies(model: Model) -> list[Model]:
    return [m for _, m in leaf_models(model) if hasattr(m, "radial_profile")]


def _sky_level(model: Model) -> float:
    """Sum of the flat skies' ``I`` (flux/arcsec²) in a group: the background of the median profile."""
    total = 0.0
    for _, leaf in leaf_models(model):
        if leaf.model_type == "flat sky model" and leaf["I"].value is not None:
            total += float(np.asarray(leaf["I"].value))
    return total


def fit_overview(model: Model, title: str | None = None, stretch: str = "asinh") -> Figure:
    """Data | model | residual / σ | light profile, the three images over the model's window.

    Data and model share one colour stretch (the data's), so they can be
    compared by eye; masked pixels are grey in the data and the residuals.
    The residual panel's title gives χ²/ndf over the window, the suptitle the
    model and ``title`` (e.g. ``"MAP (Levenberg–Marquardt)"``).  The profile
    panel shows each galaxy component's I(R) and the data's median in
    elliptical annuli (sky subtracted), with a legend; it is left out for
    models without a galaxy.

    Parameters
    ----------
    model : Model
        A component or group model with a target and parameter values.
    title : str, optional
        Names the stage.
    stretch : {"asinh", "log", "linear"}

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    galaxies = _galaxies(model)
    panels = 4 if galaxies else 3
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.4), layout="constrained")
    target = model.target
    window = model.window
    level, noise = _target_stats(target)
    data = target.data[window.slices][~target.mask[window.slices]]
    vmax = float(np.max(data)) if data.size else level + noise
    norm = make_norm(stretch, level, noise, level - 2.0 * noise, vmax)
    target_image(fig, axes[0], target, window=window, norm=norm)
    model_image(fig, axes[1], model, norm=norm)
    if len(list(leaf_models(model))) > 1:
        model_window(fig, axes[1], model)
    residual_image(fig, axes[2], model)
    if galaxies:
        sky = _sky_level(model)
        for k, galaxy in enumerate(galaxies):
            color = f"C{k % 10}"
            galaxy_light_profile(fig, axes[3], galaxy, color=color)
            radial_median_profile(fig, axes[3], galaxy, background=sky, color=color, alpha=0.7,
                                  label=f"{galaxy.name}: data median")
    chi2, ndf = chi2_ndf(model)
    head = f"{model.name}" + (f" — {title}" if title else "")
    fig.suptitle(f"{head}   (χ²/ndf = {chi2 / ndf:.3f} over {ndf + _free(model)} pixels)")
    return fig


def _free(model: Model) -> int:
    return sum(int(np.size(p.value)) for p in model.parameters.values() if not p.fixed and p.value is not None)


def data_overview(target: Any, model: Model | None = None, title: str | None = None) -> Figure:
    """The whole target (masked pixels grey) with the model windows outlined."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 5.4), layout="constrained")
    target_image(fig, ax, target, colorbar=True)
    if model is not None:
        model_window(fig, ax, model)
    shape = target.shape
    fig.suptitle(title or f"data: {shape[1]}×{shape[0]} pixels, {target.pixelscale:g} arcsec/pixel")
    return fig
