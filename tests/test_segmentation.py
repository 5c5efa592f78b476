"""Windows from a segmentation map (bp.utils.initialize), checked on a hand-made map."""

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import WindowError

init = bp.utils.initialize


def hand_map() -> np.ndarray:
    seg = np.zeros((10, 12), dtype=np.int32)
    seg[1:4, 2:5] = 3          # rows 1-3, cols 2-4
    seg[6, 9] = 7              # a single pixel
    seg[5:9, 0:2] = 2          # touches the left edge
    seg[2, 10] = 3             # label 3 is not contiguous: its box spans both pieces
    return seg


def test_windows_from_hand_made_map():
    windows = init.windows_from_segmentation_map(hand_map())
    assert list(windows) == [2, 3, 7]
    assert windows[2] == [[0, 2], [5, 9]]
    assert windows[3] == [[2, 11], [1, 4]]
    assert windows[7] == [[9, 10], [6, 7]]


def test_windows_accept_photutils_segmentation_image():
    from photutils.segmentation import SegmentationImage

    windows = init.windows_from_segmentation_map(SegmentationImage(hand_map()))
    assert windows[7] == [[9, 10], [6, 7]]


def test_windows_cover_every_segment_pixel():
    rng = np.random.default_rng(3)
    seg = rng.integers(0, 6, size=(30, 25))
    for label, ((x0, x1), (y0, y1)) in init.windows_from_segmentation_map(seg).items():
        rows, cols = np.nonzero(seg == label)
        assert rows.min() == y0 and rows.max() == y1 - 1
        assert cols.min() == x0 and cols.max() == x1 - 1


def test_filter_windows():
    windows = init.windows_from_segmentation_map(hand_map())
    assert list(init.filter_windows(windows, min_size=2)) == [2, 3]
    assert list(init.filter_windows(windows, max_size=4)) == [2, 7]
    assert list(init.filter_windows(windows, min_size=2, max_size=4)) == [2]


def test_scale_windows_by_hand():
    windows = {1: [[4, 8], [10, 12]]}          # 4 × 2, centre (6, 11)
    assert init.scale_windows(windows, expand_scale=2.0) == {1: [[2, 10], [9, 13]]}
    assert init.scale_windows(windows, expand_border=3) == {1: [[1, 11], [7, 15]]}
    assert init.scale_windows(windows, expand_scale=1.5, expand_border=1) == {1: [[2, 10], [8, 14]]}
    # clipped to a (13, 9) image: rows < 13, cols < 9
    assert init.scale_windows(windows, image_shape=(13, 9), expand_scale=3.0) == {1: [[0, 9], [8, 13]]}


def test_scaled_windows_are_valid_model_windows():
    seg = hand_map()
    windows = init.scale_windows(init.windows_from_segmentation_map(seg), image_shape=seg.shape,
                                 expand_scale=2.0, expand_border=2)
    for spec in windows.values():
        bp.Window.from_any(spec).check_inside(seg.shape)


def test_bad_maps_are_rejected():
    with pytest.raises(WindowError):
        init.windows_from_segmentation_map(np.zeros(5, dtype=int))
    with pytest.raises(WindowError):
        init.windows_from_segmentation_map(np.full((3, 3), 0.5))
    with pytest.raises(WindowError):
        init.scale_windows({1: [[0, 2], [0, 2]]}, expand_scale=-1.0)
