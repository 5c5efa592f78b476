"""Images: the target, a model, the residuals and the models' windows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from matplotlib import colormaps, rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from ..image.target import TargetImage
from ..image.window import Window
from ..models.base import Model
from .stretch import background_stats, make_norm


def window_extent(window: Window) -> tuple[float, float, float, float]:
    """imshow ``extent`` of a window in pixel coordinates (pixel centres on integers)."""
    return (window.xmin - 0.5, window.xmax - 0.5, window.ymin - 0.5, window.ymax - 0.5)


#: Colour of masked pixels in residual maps: mid grey, distinct from white (zero residual).
MASKED_COLOR = (0.45, 0.45, 0.45, 1.0)


def _label_axes(ax: Axes) -> None:
    ax.set_xlabel("x [pixel]")
    ax.set_ylabel("y [pixel]")


def _title(ax: Axes, text: str) -> None:
    """Set a default title unless the caller already gave the axes one."""
    if not ax.get_title():
        ax.set_title(text, fontsize="medium")


def _target_stats(target: TargetImage) -> tuple[float, float]:
    return background_stats(target.data[~target.mask])


def target_image(fig: Figure, ax: Axes, target: TargetImage, stretch: str = "asinh",
                 colorbar: bool = False, window: Window | Any = None, **kwargs: Any) -> Axes:
    """Draw the target's data with a stretch that shows faint structure; masked pixels grey.

    Parameters
    ----------
    fig, ax : matplotlib Figure and Axes
    target : TargetImage
    stretch : {"asinh", "log", "linear"}
        asinh (default) is linear within the background noise and logarithmic
        above it, about the σ-clipped background level.
    colorbar : bool
        Add a colour bar.
    window : Window or ``[[xmin, xmax], [ymin, ymax]]``, optional
        Show only this part of the image (pixels), e.g. a model's window, so
        that data, model and residual panels cover the same region.
    **kwargs
        Passed to ``ax.imshow`` (``cmap``, ``norm``, ``interpolation``, ...).

    Returns
    -------
    Axes
    """
    level, noise = _target_stats(target)
    window = target.window if window is None else Window.from_any(window)
    data, mask = target.data[window.slices], target.mask[window.slices]
    good = data[~mask]
    vmax = float(np.max(good)) if good.size else level + noise
    options: dict[str, Any] = {
        "origin": "lower",
        "extent": window_extent(window),
        "cmap": colormaps["inferno"].with_extremes(bad="0.6"),
        "norm": make_norm(stretch, level, noise, level - 2.0 * noise, vmax),
        "interpolation": "nearest",
    }
    options.update(kwargs)
    # NaN as well as masked: some norms drop an array's mask, none drops NaN
    shown = np.ma.masked_array(np.where(mask, np.nan, data), mask=mask)
    image = ax.imshow(shown, **options)
    if colorbar:
        fig.colorbar(image, ax=ax, label="flux / pixel")
    _label_axes(ax)
    _title(ax, "data" + (" (masked pixels grey)" if mask.any() else ""))
    return ax


def model_image(fig: Figure, ax: Axes, model: Model, stretch: str = "asinh",
                colorbar: bool = False, **kwargs: Any) -> Axes:
    """Draw ``model.render()`` within the model's window, stretched like :func:`target_image`.

    The stretch runs from the model's faintest pixel in its window, with the
    target's background noise as its linear width, so the model and the data
    show structure down to the same level.

    Parameters
    ----------
    fig, ax : matplotlib Figure and Axes
    model : Model
        A component or group model with a target and parameter values.
    stretch : {"asinh", "log", "linear"}
    colorbar : bool
    **kwargs
        Passed to ``ax.imshow``.

    Returns
    -------
    Axes
    """
    rendered = model.render()
    window = rendered.window
    cutout = np.asarray(rendered.cutout, dtype=np.float64)
    _, noise = _target_stats(model.target)
    low, high = float(np.min(cutout)), float(np.max(cutout))
    options: dict[str, Any] = {
        "origin": "lower",
        "extent": window_extent(window),
        "cmap": "inferno",
        "norm": make_norm(stretch, low, noise, low, high),
        "interpolation": "nearest",
    }
    options.update(kwargs)
    image = ax.imshow(cutout, **options)
    if colorbar:
        fig.colorbar(image, ax=ax, label="flux / pixel")
    _label_axes(ax)
    _title(ax, f"model: {model.name}")
    return ax


def residuals(model: Model, normalize: bool = True) -> np.ma.MaskedArray:
    """Data − model on the model's window, divided by σ when ``normalize``; masked pixels masked."""
    window = model.window
    target = model.target
    data = target.data[window.slices]
    diff = data - np.asarray(model.render().cutout, dtype=np.float64)
    mask = model.fit_mask
    if normalize:
        sigma = np.sqrt(target.variance[window.slices])
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = diff / sigma
        mask = mask | ~np.isfinite(diff)
    return np.ma.masked_array(diff, mask=mask)


def chi2_ndf(model: Model) -> tuple[float, int]:
    """χ² of the model over the unmasked pixels of its window, and ndf = pixels − free parameters.

    The same statistic as :attr:`bayesphot.fit.FitResult.chi2_ndf` for a
    Gaussian fit of this model alone (Imfit's ndf convention).
    """
    res = residuals(model, normalize=True)
    values = res.compressed()
    free = sum(int(np.size(p.value)) for p in model.parameters.values() if not p.fixed and p.value is not None)
    ndf = max(int(values.size) - free, 1)
    return float(np.sum(values**2)), ndf


def residual_image(fig: Figure, ax: Axes, model: Model, normalize: bool = True, colorbar: bool = True,
                   **kwargs: Any) -> Axes:
    """Draw the residuals on the model's window with a symmetric colour map; masked pixels grey.

    Zero residual is white; masked pixels are drawn in :data:`MASKED_COLOR`
    (grey) and named in a legend, so they cannot be mistaken for a perfect
    fit.  The default title gives χ²/ndf over the window (:func:`chi2_ndf`).

    Parameters
    ----------
    fig, ax : matplotlib Figure and Axes
    model : Model
    normalize : bool
        Show (data − model)/σ (default) or data − model.
    colorbar : bool
    **kwargs
        Passed to ``ax.imshow``; the colour limits are ±(99th percentile of
        |residual|) unless ``vmin``/``vmax``/``norm`` are given.

    Returns
    -------
    Axes
    """
    res = residuals(model, normalize)
    values = np.abs(res.compressed())
    limit = float(np.percentile(values, 99.0)) if values.size else 1.0
    limit = limit if limit > 0 else 1.0
    options: dict[str, Any] = {
        "origin": "lower",
        "extent": window_extent(model.window),
        "cmap": colormaps["RdBu_r"].with_extremes(bad=MASKED_COLOR),
        "interpolation": "nearest",
    }
    if "norm" not in kwargs:
        options.update(vmin=-limit, vmax=limit)
    options.update(kwargs)
    image = ax.imshow(res, **options)
    if colorbar:
        fig.colorbar(image, ax=ax, label="(data − model) / σ" if normalize else "data − model")
    if np.ma.getmaskarray(res).any():
        ax.legend(handles=[Patch(facecolor=MASKED_COLOR, edgecolor="none", label="masked")], loc="upper right",
                  fontsize="small", framealpha=0.8)
    _label_axes(ax)
    chi2, ndf = chi2_ndf(model)
    _title(ax, f"residual{' / σ' if normalize else ''}:  χ²/ndf = {chi2 / ndf:.3f}")
    return ax


def leaf_models(model: Model) -> Iterator[tuple[str, Model]]:
    """(address, model) of every component below ``model`` (itself when it is not a group).

    Addresses are relative to ``model``: ``"child"``, or ``"outer:inner"`` in nested groups.
    """
    children = getattr(model, "models", None)
    if not children:
        yield model.name, model
        return
    for name, child in children.items():
        if getattr(child, "models", None):
            for sub, leaf in leaf_models(child):
                yield f"{name}:{sub}", leaf
        else:
            yield name, child


def model_window(fig: Figure, ax: Axes, model: Model, labels: bool = True, **kwargs: Any) -> Axes:
    """Outline the window of each component model (one rectangle per leaf of a group).

    Parameters
    ----------
    fig, ax : matplotlib Figure and Axes
    model : Model
        A group (every component below it is drawn, labelled by its
        ``"child"`` or ``"outer:inner"`` name) or a single model.
    labels : bool
        Write each model's name in its window's top-left corner.
    **kwargs
        Passed to ``matplotlib.patches.Rectangle`` (``edgecolor``, ``linewidth``, ...).

    Returns
    -------
    Axes
    """
    leaves = list(leaf_models(model))
    colors = rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
    for k, (name, leaf) in enumerate(leaves):
        window = leaf.window
        x0, x1, y0, y1 = window_extent(window)
        options: dict[str, Any] = {"fill": False, "linewidth": 1.5}
        if "color" not in kwargs:
            options["edgecolor"] = colors[k % len(colors)]
        options.update(kwargs)
        patch = ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, **options))
        if labels:
            ax.text(x0, y1, f" {name}", color=patch.get_edgecolor(), ha="left", va="top", fontsize="small",
                    clip_on=True)
    if not ax.images:
        ax.autoscale_view()
        _label_axes(ax)
    return ax
