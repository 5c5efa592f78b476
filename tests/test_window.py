"""Window algebra against hand-computed boxes, and arcsec conversions."""

from __future__ import annotations

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import WindowError


def test_construction_and_geometry() -> None:
    w = bp.Window.from_any([[10, 30], [5, 12]])
    assert w == bp.Window(10, 30, 5, 12)
    assert bp.Window.from_any((10, 30, 5, 12)) == w
    assert bp.Window.from_any(w) is w
    assert w.shape == (7, 20)  # (rows, columns)
    assert w.size == 140
    assert w.as_list() == [[10, 30], [5, 12]]
    assert w.center == (19.5, 8.0)  # centre of pixels 10..29, 5..11
    image = np.arange(40 * 50).reshape(40, 50)
    assert image[w.slices].shape == w.shape
    assert image[w.slices][0, 0] == image[5, 10]  # row ymin, column xmin
    assert image[w.slices][-1, -1] == image[11, 29]  # half-open: xmax, ymax excluded
    assert bp.Window.from_shape((40, 50)) == bp.Window(0, 50, 0, 40)


@pytest.mark.parametrize("spec", [[[0, 1.5], [0, 2]], [[0, 1], [2]], "window", [[0, np.nan], [0, 1]]])
def test_malformed_windows(spec: object) -> None:
    with pytest.raises(WindowError):
        bp.Window.from_any(spec)


def test_max_below_min() -> None:
    with pytest.raises(WindowError, match="max below min"):
        bp.Window(5, 2, 0, 3)


def test_union_and_intersection() -> None:
    a = bp.Window(0, 10, 0, 20)
    b = bp.Window(5, 15, 10, 30)
    assert a.union(b) == bp.Window(0, 15, 0, 30) == a | b
    assert a.intersection(b) == bp.Window(5, 10, 10, 20) == a & b
    assert (a & b).shape == (10, 5)
    # disjoint: empty intersection; empty windows are neutral for union
    c = bp.Window(20, 25, 40, 45)
    assert (a & c).is_empty
    assert (a & c) | b == b
    assert b | (a & c) == b
    # containment
    assert (a | b).contains(a) and (a | b).contains(b)
    assert not a.contains(b)


def test_pad_scale_clip() -> None:
    w = bp.Window(10, 20, 10, 30)
    assert w.pad(3) == bp.Window(7, 23, 7, 33)
    assert w.pad((1, 2)) == bp.Window(9, 21, 8, 32)
    assert w.scale(2.0) == bp.Window(5, 25, 0, 40)
    assert w.scale(1.0) == w
    # rounded outward: centre (2.5, 2.5), half-size 3.75 -> [-1.25, 6.25] -> [-2, 7]
    assert bp.Window(0, 5, 0, 5).scale(1.5) == bp.Window(-2, 7, -2, 7)
    assert bp.Window(-5, 20, 30, 70).clip((50, 15)) == bp.Window(0, 15, 30, 50)
    with pytest.raises(WindowError, match="outside the image"):
        bp.Window(60, 70, 0, 10).clip((50, 50))


def test_check_inside() -> None:
    assert bp.Window(0, 50, 0, 40).check_inside((40, 50)) == bp.Window(0, 50, 0, 40)
    with pytest.raises(WindowError, match="not inside the image"):
        bp.Window(0, 51, 0, 40).check_inside((40, 50))
    with pytest.raises(WindowError, match="empty"):
        bp.Window(3, 3, 0, 4).check_inside((40, 50))


def test_relative_to() -> None:
    outer = bp.Window(10, 40, 20, 60)
    inner = bp.Window(15, 25, 30, 35)
    image = np.arange(100 * 100).reshape(100, 100)
    np.testing.assert_array_equal(image[outer.slices][inner.relative_to(outer)], image[inner.slices])


def test_arcsec_edges() -> None:
    # pixel j spans x in [(j - 1/2) s, (j + 1/2) s)
    w = bp.Window(10, 20, 0, 4)
    np.testing.assert_allclose(w.to_arcsec(0.5), [[4.75, 9.75], [-0.25, 1.75]])
    # an arcsec box is covered by the smallest enclosing pixel window
    assert bp.Window.from_arcsec([[5.0, 6.0], [0.0, 0.1]], 0.5) == bp.Window(10, 13, 0, 1)


@pytest.mark.parametrize("pixelscale", [1.0, 0.396, 0.2, 0.03, 1.7, 0.1])
def test_arcsec_round_trip(pixelscale: float) -> None:
    rng = np.random.default_rng(3)
    for _ in range(200):
        xmin, ymin = rng.integers(-50, 500, size=2)
        w = bp.Window(int(xmin), int(xmin + rng.integers(1, 300)), int(ymin), int(ymin + rng.integers(1, 300)))
        assert bp.Window.from_arcsec(w.to_arcsec(pixelscale), pixelscale) == w
