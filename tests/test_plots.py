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
    # masked pixels grey and opaque: distinct from white, which is zero residual
    bad = image.get_cmap().get_bad()
    assert bad[3] == 1.0 and np.allclose(bad[:3], bad[0]) and 0.2 < bad[0] < 0.8
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["masked"]
    # the title's chi²/ndf is Σ((data − model)/σ)² over the unmasked window pixels / (pixels − free parameters)
    full = (target.data[window.slices] - model.render().cutout) / np.sqrt(target.variance[window.slices])
    free = sum(np.size(p.value) for p in model.parameters.values() if not p.fixed)
    chi2_ndf = np.sum(full[~mask] ** 2) / (np.sum(~mask) - free)
    if normalize:
        assert f"χ²/ndf = {chi2_ndf:.3f}" in ax.get_title()
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


def test_fit_overview_shows_one_region_with_a_shared_stretch(field):
    target, group = field
    disk = group["disk"]
    fig = bp.plots.fit_overview(disk, "test stage")
    data_ax, model_ax, resid_ax, profile_ax = fig.axes[:4]
    extents = [tuple(ax.get_images()[0].get_extent()) for ax in (data_ax, model_ax, resid_ax)]
    w = disk.window
    assert extents == [(w.xmin - 0.5, w.xmax - 0.5, w.ymin - 0.5, w.ymax - 0.5)] * 3
    data_image, model_image = data_ax.get_images()[0], model_ax.get_images()[0]
    # data and model share one colour scale: the same value maps to the same colour
    probe = np.array([0.0, 5.0, 20.0])
    np.testing.assert_allclose(data_image.norm(probe), model_image.norm(probe))
    np.testing.assert_allclose(data_image.get_array().compressed(),
                               target.data[w.slices][~target.mask[w.slices]])
    assert "test stage" in fig.get_suptitle() and "χ²/ndf" in fig.get_suptitle()
    assert data_ax.get_title() and model_ax.get_title() and "χ²/ndf" in resid_ax.get_title()
    labels = [t.get_text() for t in profile_ax.get_legend().get_texts()]
    assert labels == ["disk", "disk: data median"]
    fig.canvas.draw()


def test_target_image_window_crops_to_the_window(field):
    target, group = field
    fig, ax = figure()
    w = group["gal"].window
    bp.plots.target_image(fig, ax, target, window=[[w.xmin, w.xmax], [w.ymin, w.ymax]])
    shown = ax.get_images()[0].get_array()
    assert shown.shape == (w.ymax - w.ymin, w.xmax - w.xmin)
    good = ~target.mask[w.slices]
    np.testing.assert_allclose(shown.filled(np.nan)[good], target.data[w.slices][good])


def test_trace_rank_histograms_count_every_draw():
    from types import SimpleNamespace

    from bayesphot.infer.posterior import from_dict_compat

    rng = np.random.default_rng(0)
    chains, draws = 3, 200
    posterior = {"a": rng.normal(size=(chains, draws)), "b": rng.normal(size=(chains, draws)) + 1.0}
    idata = from_dict_compat({"posterior": posterior}, {}, {"sampler": "NUTS", "backend": "numpyro"})
    post = SimpleNamespace(idata=idata, names=["a", "b"], attrs=dict(idata.posterior.attrs))
    fig = bp.plots.trace(post)
    left, right = fig.axes[0], fig.axes[1]
    for c, line in enumerate(left.get_lines()):
        np.testing.assert_array_equal(line.get_ydata(), posterior["a"][c])
    # each chain's rank histogram holds that chain's draws (step lines end with a repeated last count)
    for line in right.get_lines()[:chains]:
        assert np.sum(line.get_ydata()) == draws
    assert "r_hat" in left.get_title(loc="left") and "ESS" in left.get_title(loc="left")
    fig.canvas.draw()
