"""Catalog detection, PSF-star selection, ePSF and groups, on synthetic fields with known sources."""

import numpy as np
import pytest

from bayesphot.catalog import build_groups, build_psf, detect, measure, select_stars
from bayesphot.catalog.detect import Detections
from bayesphot.catalog.psf import StarSelection
from bayesphot.catalog.simulate import TrueSource, gaussian_psf, simulate_field
from bayesphot.errors import ImageError

FWHM = 3.0
PSF = gaussian_psf(FWHM, 15)
TRUTH = [
    TrueSource("point", 15.3, 16.6, 4000.0),
    TrueSource("point", 60.7, 14.2, 2500.0),
    TrueSource("point", 17.8, 62.4, 6000.0),
    TrueSource("sersic", 58.2, 59.5, 8000.0, Re=4.0, n=1.0, q=0.6, PA=0.5),
]


@pytest.fixture(scope="module")
def field():
    image, rms = simulate_field((80, 80), TRUTH, FWHM, 5.0, seed=2, sky=100.0)
    return image, rms


def match(det, truth):
    out = []
    for t in truth:
        d = np.hypot(det.x - t.x, det.y - t.y)
        out.append(int(np.argmin(d)))
    return out


def test_detect_finds_every_source_at_its_position(field):
    image, rms = field
    det = detect(image, rms=rms, nsigma=2.0, npixels=5)   # background estimated by photutils
    assert len(det) == len(TRUTH)
    idx = match(det, TRUTH)
    assert sorted(idx) == list(range(4))
    for t, i in zip(TRUTH, idx, strict=True):
        tol = 0.15 if t.kind == "point" else 0.4   # centroid of S/N > 50 sources (pixels)
        assert abs(det.x[i] - t.x) < tol and abs(det.y[i] - t.y) < tol
    # the estimated background is the simulated sky level (100) within the noise of its mesh
    assert abs(np.median(det.background) - 100.0) < 1.0
    # segment fluxes are the light inside the segments: a little below the total, never above it
    for t, i in zip(TRUTH, idx, strict=True):
        assert 0.75 * t.flux < det.flux[i] < 1.02 * t.flux
    # stars have the PSF's FWHM (3 px); the galaxy is larger
    star_fwhm = [det.fwhm[i] for t, i in zip(TRUTH, idx, strict=True) if t.kind == "point"]
    assert np.allclose(star_fwhm, 3.0, atol=0.35)
    assert det.fwhm[idx[3]] > 1.5 * np.mean(star_fwhm)


def test_deblending_splits_a_close_pair():
    pair = [TrueSource("point", 30.0, 30.0, 5000.0), TrueSource("point", 36.5, 31.0, 4000.0)]
    image, rms = simulate_field((60, 60), pair, FWHM, 3.0, seed=5)
    merged = detect(image, rms=rms, background=0.0, deblend=False)
    split = detect(image, rms=rms, background=0.0, deblend=True)
    assert len(merged) == 1 and len(split) == 2
    idx = match(split, pair)
    for t, i in zip(pair, idx, strict=True):
        assert abs(split.x[i] - t.x) < 0.5 and abs(split.y[i] - t.y) < 0.5


def test_given_segmentation_map_is_used_as_is():
    image = np.zeros((20, 30))
    image[4:7, 3:6] = 1.0              # a flat 3x3 square: centroid (4, 5)
    image[10:14, 20:28] = 2.0          # a 4x8 box: centroid (23.5, 11.5)
    seg = np.zeros(image.shape, dtype=int)
    seg[4:7, 3:6] = 7
    seg[10:14, 20:28] = 3
    det = measure(image, seg)
    assert list(det.labels) == [3, 7]                    # the given labels, not renumbered
    assert np.array_equal(det.segmap, seg)
    i3, i7 = 0, 1
    assert det.x[i7] == pytest.approx(4.0) and det.y[i7] == pytest.approx(5.0)
    assert det.x[i3] == pytest.approx(23.5) and det.y[i3] == pytest.approx(11.5)
    assert det.flux[i3] == pytest.approx(64.0) and det.flux[i7] == pytest.approx(9.0)
    assert list(det.bbox[i3]) == [20, 28, 10, 14]   # half-open
    with pytest.raises(ImageError):
        measure(image, seg[:, :10])
    with pytest.raises(ImageError):
        measure(image, seg - 10)


def _detections(xy, boxes):
    n = len(xy)
    z = np.zeros(n)
    return Detections(np.zeros((100, 100), dtype=int), np.arange(1, n + 1), np.array([p[0] for p in xy], float),
                      np.array([p[1] for p in xy], float), z + 1, z + 1, z, np.arange(n, 0, -1.0), z, z + 2,
                      np.array(boxes))


def test_groups_join_overlapping_windows_transitively():
    # boxes xmin, xmax, ymin, ymax (half-open); scale 1, border 1: windows grow by one pixel per side
    det = _detections([(11, 11), (16, 11), (21, 11), (60, 60), (80, 11)],
                      [[10, 13, 10, 13], [15, 18, 10, 13], [20, 23, 10, 13], [58, 63, 58, 63], [79, 82, 10, 13]])
    groups = build_groups(det, (100, 100), scale=1.0, border=1, min_size=1)
    members = sorted(sorted(g.labels) for g in groups)
    # with border 1 the windows [9, 14), [14, 19), [19, 24) touch but do not overlap
    assert members == [[1], [2], [3], [4], [5]]
    groups = build_groups(det, (100, 100), scale=1.0, border=2, min_size=1)
    members = sorted(sorted(g.labels) for g in groups)
    assert members == [[1, 2, 3], [4], [5]]              # 1–2 and 2–3 overlap: one group of three
    g = next(g for g in groups if g.size == 3)
    assert g.window.as_list() == [[8, 25], [8, 15]]      # union of the three windows
    assert [s.id for s in g.sources] == [1, 2, 3]        # brightest first (flux n, n-1, …)


def test_windows_are_clipped_at_the_edge_and_say_so():
    det = _detections([(1, 50)], [[0, 3, 49, 52]])
    (group,) = build_groups(det, (100, 100), scale=2.0, border=3, min_size=9)
    assert group.window.xmin == 0 and group.sources[0].clipped


def _star_field(seed=0):
    stars = [TrueSource("point", x + 0.1 * k, y + 0.23 * k, 20000.0 + 3000 * k)
             for k, (x, y) in enumerate([(20, 20), (60, 22), (100, 18), (22, 62), (62, 60), (102, 64), (40, 100),
                                         (90, 102)])]
    galaxy = TrueSource("sersic", 20.0, 100.0, 30000.0, Re=5.0, n=1.0, q=0.5, PA=0.3)
    saturated = TrueSource("point", 110.0, 110.0, 400000.0)
    image, rms = simulate_field((124, 124), [*stars, galaxy, saturated], FWHM, 5.0, seed=seed)
    image = np.minimum(image, 15000.0)    # the bright star saturates at 15000
    return image, rms, stars


def test_star_selection_rejects_saturated_and_extended_sources():
    image, rms, stars = _star_field()
    det = detect(image, rms=rms, background=0.0)
    idx, reasons = select_stars(image, det, rms, StarSelection(saturation=14000.0))
    assert len(idx) == len(stars)
    for s in stars:   # every star chosen, once
        assert np.sum(np.hypot(det.x[idx] - s.x, det.y[idx] - s.y) < 0.5) == 1

    def reason_at(x, y):
        i = int(np.argmin(np.hypot(det.x - x, det.y - y)))
        return reasons.get(int(det.labels[i]), "")

    assert reason_at(110, 110).startswith("peak")
    assert reason_at(20, 100).startswith("FWHM")


def test_epsf_reproduces_the_psf():
    """The ePSF of 8 stars matches the pixel-integrated Gaussian they were drawn with (0.5 % of the peak
    measured; photutils' default quartic smoothing made it 4.2 %)."""
    image, rms, stars = _star_field(seed=1)
    det = detect(image, rms=rms, background=0.0)
    psf, info = build_psf(image, det, rms, StarSelection(saturation=14000.0, size=15))
    assert len(info["psf_stars"]) == len(stars)
    truth = PSF.data
    assert psf.shape == truth.shape
    # the ePSF matches the pixel-integrated Gaussian to 1.5 % of its peak everywhere, and is declared effective
    assert np.max(np.abs(psf.data - truth)) < 0.015 * truth.max()
    assert psf.kind == "effective"
    with pytest.raises(ImageError, match="PSF star"):
        build_psf(image, det, rms, StarSelection(saturation=14000.0, min_stars=20))
