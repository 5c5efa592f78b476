"""Plots: each draws on a small synthetic field and shows what it should."""

from __future__ import annotations

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.patches import Rectangle

import bayesphot as bp
from bayesphot.errors import ModelError

SCALE = 0.5


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def field():
    """A 40×50 target (rms 2, a masked box) holding a sky and two galaxies, noisy data from the truth."""
    rows, cols = 40, 50
    mask = np.zeros((rows, cols), dtype=bool)
    mask[30:35, 35:45] = True
    target = bp.TargetImage(np.zeros((rows, cols)), rms=2.0, mask=mask, pixelscale=SCALE)
    sky = bp.Model("sky", "flat sky model", target=target, I=8.0)
    gal = bp.Model("gal", "sersic galaxy model", target=target, window=[[2, 30], [5, 35]],
                   x=8.0, y=10.0, q=0.6, PA=0.5, n=2.0, Re=2.5, Ie=20.0)
    disk = bp.Model("disk", "exponential galaxy model", target=target, window=[[28, 48], [10, 38]],
                    x=19.0, y=12.0, q=0.8, PA=2.0, Re=2.0, Ie=10.0)
    group = bp.Model("field", "group", models=[sky, gal, disk], target=target)
    rng = np.random.default_rng(3)
    target.data[:] = np.asarray(group.render()) + rng.normal(0.0, 2.0, (rows, cols))
    gal["n"].value = 2.6  # the model is not the truth: residuals are not pure noise
    return target, group


def figure():
    return plt.subplots()


def test_import_does_not_load_matplotlib():
    code = "import sys, bayesphot; assert 'matplotlib' not in sys.modules; bayesphot.plots.target_image"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_target_image_shows_data_with_mask_grey(field):
    target, _ = field
    fig, ax = figure()
    assert bp.plots.target_image(fig, ax, target) is ax
    (image,) = ax.get_images()
    shown = image.get_array()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), target.mask)
    np.testing.assert_allclose(shown.compressed(), target.data[~target.mask])
    assert image.origin == "lower"
    assert tuple(image.get_extent()) == (-0.5, 49.5, -0.5, 39.5)
    # the stretch is monotonic and shows faint structure: the noise level spans a visible share of the colours
    norm = image.norm
    level, noise = np.median(target.data[~target.mask]), 2.0
    values = norm(np.array([level - noise, level, level + 2 * noise, target.data.max()]))
    assert np.all(np.diff(values) > 0)
    assert values[2] - values[0] > 0.1
    cmap = image.get_cmap()
    assert np.allclose(cmap.get_bad()[:3], 0.6)  # masked pixels grey


def test_target_image_stretches_and_kwargs(field):
    target, _ = field
    for stretch in ("asinh", "log", "linear"):
        fig, ax = figure()
        bp.plots.target_image(fig, ax, target, stretch=stretch, colorbar=True, cmap="viridis")
        assert ax.get_images()[0].get_cmap().name == "viridis"
        fig.canvas.draw()
    with pytest.raises(ValueError, match="stretch"):
        bp.plots.target_image(*figure(), target, stretch="sqrt")


def test_model_image_is_render_within_window(field):
    _, group = field
    gal = group["gal"]
    fig, ax = figure()
    assert bp.plots.model_image(fig, ax, gal) is ax
    (image,) = ax.get_images()
    np.testing.assert_allclose(image.get_array(), gal.render().cutout)
    assert image.get_array().shape == gal.window.shape
    assert tuple(image.get_extent()) == (1.5, 29.5, 4.5, 34.5)
    fig, ax = figure()
    bp.plots.model_image(fig, ax, group, stretch="log", colorbar=True)
    np.testing.assert_allclose(ax.get_images()[0].get_array(), np.asarray(group.render())[group.window.slices])
    fig.canvas.draw()


@pytest.mark.parametrize("normalize", [True, False])
def test_residual_image_values_mask_and_symmetric_colours(field, normalize):
    target, group = field
    for model in (group["disk"], group):
        check_residual_image(target, model, normalize)


def check_residual_image(target, model, normalize):
    fig, ax = figure()
    assert bp.plots.residual_image(fig, ax, model, normalize=normalize) is ax
    (image,) = ax.get_images()
    shown = image.get_array()
    window = model.window
    expected = target.data[window.slices] - model.render().cutout
    if normalize:
        expected = expected / np.sqrt(target.variance[window.slices])
    mask = target.mask[window.slices]
    assert mask.any()
    np.testing.assert_array_equal(np.ma.getmaskarray(shown), mask)
    np.testing.assert_allclose(shown.compressed(), expected[~mask])
    vmin, vmax = image.get_clim()
    assert vmin == -vmax and vmax > 0
    assert image.get_cmap().get_bad()[3] == 0.0  # masked pixels blank
    fig.canvas.draw()


def rectangles(ax):
    return [p for p in ax.patches if isinstance(p, Rectangle)]


def test_model_window_one_rectangle_per_model(field):
    target, group = field
    fig, ax = figure()
    bp.plots.target_image(fig, ax, target)
    assert bp.plots.model_window(fig, ax, group) is ax
    rects = rectangles(ax)
    assert len(rects) == len(group.models) == 3
    for rect, model in zip(rects, group.models.values(), strict=True):
        w = model.window
        assert rect.get_xy() == (w.xmin - 0.5, w.ymin - 0.5)
        assert (rect.get_width(), rect.get_height()) == (w.xmax - w.xmin, w.ymax - w.ymin)
    assert [t.get_text().strip() for t in ax.texts] == ["sky", "gal", "disk"]
    # a single model, and a nested group (leaves labelled by their address)
    fig, ax = figure()
    bp.plots.model_window(fig, ax, group["disk"], edgecolor="r")
    assert len(rectangles(ax)) == 1
    inner = bp.Model("pair", "group", models=[group["gal"], group["disk"]])
    outer = bp.Model("all", "group", models=[group["sky"], inner], target=target)
    fig, ax = figure()
    bp.plots.model_window(fig, ax, outer)
    assert len(rectangles(ax)) == 3
    assert [t.get_text().strip() for t in ax.texts] == ["sky", "pair:gal", "pair:disk"]
    fig.canvas.draw()


def test_galaxy_light_profile_is_the_model_profile(field):
    _, group = field
    gal = group["gal"]
    fig, ax = figure()
    assert bp.plots.galaxy_light_profile(fig, ax, gal) is ax
    (line,) = ax.get_lines()
    x, y = line.get_xdata(), line.get_ydata()
    assert x[0] == 0.0 and x.size > 10
    np.testing.assert_allclose(y, gal.radial_profile(x))
    assert ax.get_yscale() == "log"
    # a group draws each galaxy (not the sky)
    fig, ax = figure()
    bp.plots.galaxy_light_profile(fig, ax, group, radii=[0.5, 1.0, 2.0])
    assert [ln.get_label() for ln in ax.get_lines()] == ["gal", "disk"]
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), group["disk"].radial_profile([0.5, 1.0, 2.0]))
    with pytest.raises(ModelError):
        bp.plots.galaxy_light_profile(fig, ax, group["sky"])


def test_galaxy_light_profile_in_magnitudes(field):
    target, group = field
    gal = group["gal"]
    target.zeropoint = 25.0
    fig, ax = figure()
    bp.plots.galaxy_light_profile(fig, ax, gal)
    bp.plots.galaxy_light_profile(fig, ax, gal)  # a second call keeps the axis inverted
    line = ax.get_lines()[0]
    np.testing.assert_allclose(line.get_ydata(), 25.0 - 2.5 * np.log10(gal.radial_profile(line.get_xdata())))
    assert ax.yaxis_inverted()
    assert "mag" in ax.get_ylabel()


def linear_profile_target():
    """Data exactly A − B·R (flux/arcsec²) in the elliptical radius R of a known geometry; masked pixels junk."""
    rows, cols = 41, 45
    xc, yc, q, pa = 11.2, 10.1, 0.7, 0.4
    r, c = np.mgrid[0:rows, 0:cols].astype(float)
    dx, dy = c * SCALE - xc, r * SCALE - yc
    u = -dx * np.sin(pa) + dy * np.cos(pa)
    v = dx * np.cos(pa) + dy * np.sin(pa)
    radius = np.hypot(u, v / q)
    A, B = 100.0, 3.0
    data = (A - B * radius) * SCALE**2
    mask = np.zeros(data.shape, dtype=bool)
    mask[20:24, 20:30] = True
    data[mask] = 1e6
    target = bp.TargetImage(data, rms=0.1, mask=mask, pixelscale=SCALE)
    gal = bp.Model("gal", "sersic galaxy model", target=target, x=xc, y=yc, q=q, PA=pa, n=1.0, Re=5.0, Ie=10.0)
    return target, gal, (A, B, radius)


def test_radial_median_profile_matches_numpy():
    target, gal, (A, B, radius) = linear_profile_target()
    fig, ax = figure()
    assert bp.plots.radial_median_profile(fig, ax, gal) is ax
    container = ax.containers[0]
    x, y = container.lines[0].get_xdata(), container.lines[0].get_ydata()
    assert x.size >= 10
    # the median of a linear function of R over an annulus is the function at the median R: masked
    # pixels (1e6) would break this
    np.testing.assert_allclose(y, A - B * x, rtol=1e-10)
    # and each point is the median of the unmasked pixels in some annulus around the model
    values = target.data / SCALE**2
    good = ~target.mask
    for xi, yi in zip(x, y, strict=True):
        near = good & (np.abs(radius - xi) < 1e-9)
        if near.any():
            assert np.all(np.abs(values[near] - yi) < 1e-6)
    from bayesphot.models.initialize import radial_median_profile

    radii, medians, errors = radial_median_profile(target, gal.window, gal.fit_mask, (11.2, 10.1), 0.7, 0.4,
                                                   return_errors=True)
    np.testing.assert_allclose(x, radii)
    np.testing.assert_allclose(y, medians)
    # error bars: the medians' standard errors
    (bars,) = container.lines[2]
    spans = np.array([seg[:, 1] for seg in bars.get_segments()])
    np.testing.assert_allclose(spans[:, 1] - y, errors, rtol=1e-9)
    np.testing.assert_allclose(y - spans[:, 0], errors, rtol=1e-9)
    assert ax.get_yscale() == "log"


def test_radial_median_profile_background_and_magnitudes(field):
    target, group = field
    gal = group["gal"]
    fig, ax = figure()
    bp.plots.radial_median_profile(fig, ax, gal)
    plain = ax.containers[0].lines[0].get_ydata()
    fig, ax = figure()
    bp.plots.radial_median_profile(fig, ax, gal, background=8.0)
    np.testing.assert_allclose(ax.containers[0].lines[0].get_ydata(), plain - 8.0)
    target.zeropoint = 25.0
    fig, ax = figure()
    bp.plots.galaxy_light_profile(fig, ax, gal)
    bp.plots.radial_median_profile(fig, ax, gal, background=8.0, color="C3")
    mags = ax.containers[0].lines[0].get_ydata()
    with np.errstate(invalid="ignore"):
        expected = np.where(plain - 8.0 > 0, 25.0 - 2.5 * np.log10(np.abs(plain - 8.0)), np.nan)
    np.testing.assert_allclose(mags, expected)
    assert ax.yaxis_inverted()
    fig.canvas.draw()
    fig.savefig(__import__("io").BytesIO(), format="png")
