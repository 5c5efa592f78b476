"""Groups: sources whose scaled windows overlap are fitted together, with a local sky.

Each detection's window is its segment's bounding box grown about its centre
(``scale`` × side + 2 ``border`` pixels, :func:`~bayesphot.utils.initialize.scale_windows`)
and clipped to the image.  Windows that overlap are joined (transitively, by
union–find) into one group; a source whose window meets no other is a group of
one.  A group's window is the union of its sources' windows; its local sky is
a flat sky fitted over that window (added in :mod:`bayesphot.catalog.fitgroup`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..image.window import Window
from ..utils.initialize import scale_windows
from .detect import Detections


@dataclass
class Source:
    """One detection to be modelled.

    Attributes
    ----------
    id : int
        Catalog id (the segment label).
    x, y : float
        Detection centroid (pixels, 0-based, full image).
    window : Window
        Fitting window (full-image pixels).
    flux : float
        Segment flux (image units), for ordering.
    clipped : bool
        The scaled window was cut by the image edge.
    """

    id: int
    x: float
    y: float
    window: Window
    flux: float = 0.0
    clipped: bool = False


@dataclass
class Group:
    """Sources fitted together.

    Attributes
    ----------
    id : int
        Group number (0, 1, … in order of the brightest member's label).
    sources : list of Source
        Brightest first.
    window : Window
        Union of the sources' windows (full-image pixels).
    """

    id: int
    sources: list[Source] = field(default_factory=list)
    window: Window = field(default_factory=lambda: Window(0, 0, 0, 0))

    @property
    def size(self) -> int:
        return len(self.sources)

    @property
    def labels(self) -> list[int]:
        return [s.id for s in self.sources]


def source_windows(detections: Detections, shape: tuple[int, int], scale: float = 2.0,
                   border: int = 3, min_size: int = 9) -> dict[int, tuple[Window, bool]]:
    """Scaled, clipped window of each detection: ``{label: (Window, clipped)}``.

    Parameters
    ----------
    detections : Detections
    shape : (rows, cols)
    scale : float
        Factor on each bounding-box side.
    border : int
        Pixels added on every side after scaling.
    min_size : int
        Smallest side (pixels) before clipping, so that faint compact sources
        keep enough sky around them.
    """
    boxes = {}
    for label, (xmin, xmax, ymin, ymax) in zip(detections.labels, detections.bbox, strict=True):
        boxes[int(label)] = [[int(xmin), int(xmax)], [int(ymin), int(ymax)]]  # half-open already
    grown = scale_windows(boxes, None, expand_scale=scale, expand_border=border)
    out = {}
    for label, ((x0, x1), (y0, y1)) in grown.items():
        if x1 - x0 < min_size:
            extra = min_size - (x1 - x0)
            x0, x1 = x0 - extra // 2, x1 + extra - extra // 2
        if y1 - y0 < min_size:
            extra = min_size - (y1 - y0)
            y0, y1 = y0 - extra // 2, y1 + extra - extra // 2
        full = Window(x0, x1, y0, y1)
        clipped = full.clip(shape)
        out[label] = (clipped, clipped != full)
    return out


def build_groups(detections: Detections, shape: tuple[int, int], scale: float = 2.0, border: int = 3,
                 min_size: int = 9) -> list[Group]:
    """Join sources with overlapping windows into groups.

    Parameters
    ----------
    detections : Detections
    shape : (rows, cols)
        Image shape.
    scale, border, min_size
        See :func:`source_windows`.

    Returns
    -------
    list of Group
        Ordered by their smallest label; sources in a group brightest first.
    """
    windows = source_windows(detections, shape, scale, border, min_size)
    labels = [int(v) for v in detections.labels]
    n = len(labels)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    boxes = np.array([[w.xmin, w.xmax, w.ymin, w.ymax] for w, _ in (windows[lab] for lab in labels)]).reshape(-1, 4)
    for i in range(n):
        # overlap of half-open boxes: xmin_i < xmax_j and xmin_j < xmax_i, same for y
        hit = ((boxes[i, 0] < boxes[:, 1]) & (boxes[:, 0] < boxes[i, 1])
               & (boxes[i, 2] < boxes[:, 3]) & (boxes[:, 2] < boxes[i, 3]))
        for j in np.flatnonzero(hit):
            if j > i:
                ri, rj = find(i), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    members: dict[int, list[int]] = {}
    for i in range(n):
        members.setdefault(find(i), []).append(i)
    groups = []
    for gid, root in enumerate(sorted(members, key=lambda r: min(labels[i] for i in members[r]))):
        idx = sorted(members[root], key=lambda i: (-float(detections.flux[i]), labels[i]))
        sources = []
        window = None
        for i in idx:
            w, clipped = windows[labels[i]]
            sources.append(Source(labels[i], float(detections.x[i]), float(detections.y[i]), w,
                                  float(detections.flux[i]), bool(clipped)))
            window = w if window is None else window | w
        groups.append(Group(gid, sources, window))
    return groups


__all__ = ["Group", "Source", "build_groups", "source_windows"]
