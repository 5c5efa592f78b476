"""The rendered image of a model, placed on its target's pixel grid."""

from __future__ import annotations

import numpy as np

from ..image.window import Window


class ModelImage:
    """A target-shaped image (zero outside ``window``).

    ``np.asarray(model_image)`` is the full pixel array; ``.window`` says
    where the model lives; ``.cutout`` is the array on that window alone.
    """

    def __init__(self, data: np.ndarray, window: Window) -> None:
        self.data = data
        self.window = window

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.data if dtype is None else self.data.astype(dtype)

    @property
    def cutout(self) -> np.ndarray:
        return self.data[self.window.slices]

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    def __repr__(self) -> str:
        return f"ModelImage(shape={self.shape}, window={self.window.as_list()})"
