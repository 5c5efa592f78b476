"""Source detection: background, threshold, deblending and per-segment measurements (photutils).

Without a segmentation map the image is background-subtracted (a given
background map, or photutils' ``Background2D`` with a sigma-clipped median),
smoothed by a Gaussian of ``smooth_fwhm`` pixels, thresholded at ``nsigma``
times the noise rms over at least ``npixels`` connected pixels
(``detect_sources``) and deblended (``deblend_sources``, multi-thresholding
with ``nlevels`` levels and a ``contrast`` flux fraction).  A given
segmentation map is used as it is: its segments are only measured.

Every segment is measured with ``SourceCatalog`` on the background-subtracted
image: centroid (pixels, 0-based, x = column), second-moment semi-axes
(pixels), orientation, segment flux, peak value and bounding box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ImageError


@dataclass
class Detections:
    """Segments and their measurements.

    Attributes
    ----------
    segmap : (rows, cols) int array
        Segment label per pixel, 0 = background.
    labels, x, y : arrays
        Label and centroid (pixels, 0-based; x = column) per segment.
    a, b : arrays
        Second-moment semi-major / semi-minor σ (pixels).
    theta : array
        Orientation of the major axis, radians counter-clockwise from +x.
    flux : array
        Background-subtracted sum over the segment (image units).
    peak : array
        Largest background-subtracted pixel in the segment.
    fwhm : array
        Circularised FWHM from the second moments (pixels).
    bbox : (n, 4) int array
        ``xmin, xmax, ymin, ymax`` of each segment, half-open (``xmax`` and ``ymax`` excluded).
    background : array or None
        The background subtracted before measuring (None when none was).
    settings : dict
        How the detection was made (recorded in the catalog header).
    """

    segmap: np.ndarray
    labels: np.ndarray
    x: np.ndarray
    y: np.ndarray
    a: np.ndarray
    b: np.ndarray
    theta: np.ndarray
    flux: np.ndarray
    peak: np.ndarray
    fwhm: np.ndarray
    bbox: np.ndarray
    background: np.ndarray | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.labels.size)

    def select(self, keep: np.ndarray) -> Detections:
        """A copy holding only the segments where ``keep`` is True (the segmap keeps every label)."""
        keep = np.asarray(keep, dtype=bool)
        pick = lambda a: np.asarray(a)[keep]
        return Detections(self.segmap, pick(self.labels), pick(self.x), pick(self.y), pick(self.a), pick(self.b),
                          pick(self.theta), pick(self.flux), pick(self.peak), pick(self.fwhm), pick(self.bbox),
                          self.background, dict(self.settings))


def estimate_background(data: np.ndarray, mask: np.ndarray | None = None, box_size: int = 32,
                        filter_size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Background and background-rms maps by photutils ``Background2D`` (sigma-clipped median, 3σ).

    Parameters
    ----------
    data : 2-D array
    mask : 2-D bool array, optional
        True = ignore.
    box_size : int
        Mesh size (pixels); clipped to the image size.
    filter_size : int
        Median filter over the meshes.

    Returns
    -------
    (background, rms), both image-shaped, in image units.
    """
    from photutils.background import Background2D, MedianBackground

    box = int(min(box_size, *data.shape))
    bkg = Background2D(data, box, mask=mask, filter_size=(filter_size, filter_size),
                       bkg_estimator=MedianBackground())
    return np.asarray(bkg.background, dtype=np.float64), np.asarray(bkg.background_rms, dtype=np.float64)


def _smooth(data: np.ndarray, fwhm: float) -> np.ndarray:
    if not fwhm or fwhm <= 0:
        return data
    from astropy.convolution import convolve
    from photutils.segmentation import make_2dgaussian_kernel

    size = 2 * int(np.ceil(1.5 * fwhm)) + 1
    kernel = make_2dgaussian_kernel(fwhm, size=size)
    return convolve(data, kernel, normalize_kernel=True, boundary="extend")


def measure(data: np.ndarray, segmap: Any, *, error: np.ndarray | None = None, mask: np.ndarray | None = None,
            background: np.ndarray | None = None, settings: dict[str, Any] | None = None) -> Detections:
    """Measure every segment of ``segmap`` on ``data`` (used as is: no relabelling, no deblending).

    Parameters
    ----------
    data : 2-D array
        The image (background included when ``background`` is given).
    segmap : 2-D int array or photutils SegmentationImage
        Labels > 0 are sources.
    error : 2-D array, optional
        Per-pixel noise rms (only used for photutils' error columns).
    mask : 2-D bool array, optional
    background : 2-D array, optional
        Subtracted from ``data`` before measuring.
    """
    from photutils.segmentation import SegmentationImage, SourceCatalog

    seg = np.asarray(getattr(segmap, "data", segmap))
    if seg.shape != data.shape:
        raise ImageError(f"the segmentation map has shape {seg.shape} but the image has shape {data.shape}")
    if not np.issubdtype(seg.dtype, np.integer):
        if not np.all(np.isfinite(seg)) or np.any(seg != np.round(seg)):
            raise ImageError("a segmentation map must hold integer labels")
    seg = seg.astype(np.int64)
    if np.any(seg < 0):
        raise ImageError("a segmentation map must not hold negative labels")
    sub = data - background if background is not None else data
    if not np.any(seg > 0):
        empty = np.zeros(0)
        return Detections(seg, empty.astype(int), empty, empty, empty, empty, empty, empty, empty, empty,
                          np.zeros((0, 4), dtype=int), background, dict(settings or {}))
    cat = SourceCatalog(sub, SegmentationImage(seg), error=error, mask=mask)
    bbox = np.array([[b.ixmin, b.ixmax, b.iymin, b.iymax] for b in cat.bbox], dtype=int)
    val = lambda q: np.asarray(getattr(q, "value", q), dtype=np.float64)
    # photutils ≥ 3 names the centroids x_centroid / y_centroid
    xc = cat.x_centroid if hasattr(cat, "x_centroid") else cat.xcentroid
    yc = cat.y_centroid if hasattr(cat, "y_centroid") else cat.ycentroid
    return Detections(
        segmap=seg,
        labels=np.asarray(cat.label, dtype=int),
        x=val(xc), y=val(yc),
        a=val(cat.semimajor_axis), b=val(cat.semiminor_axis),
        theta=np.deg2rad(val(cat.orientation)),
        flux=val(cat.segment_flux), peak=val(cat.max_value), fwhm=val(cat.fwhm),
        bbox=bbox, background=background, settings=dict(settings or {}),
    )


def detect(data: np.ndarray, *, rms: np.ndarray | float | None = None, mask: np.ndarray | None = None,
           background: np.ndarray | float | None = None, nsigma: float = 2.0, npixels: int = 5,
           deblend: bool = True, nlevels: int = 32, contrast: float = 0.005, smooth_fwhm: float = 2.0,
           box_size: int = 32) -> Detections:
    """Detect and deblend sources, then measure them.

    Parameters
    ----------
    data : 2-D array
        The image, background included unless ``background=0``.
    rms : 2-D array or float, optional
        Noise rms per pixel (image units); photutils' background rms when omitted.
    mask : 2-D bool array, optional
        True = bad pixel (never part of a segment).
    background : 2-D array or float, optional
        Background to subtract; estimated with :func:`estimate_background` when omitted.
    nsigma : float
        Threshold in units of ``rms`` above the background.
    npixels : int
        Minimum connected pixels of a source.
    deblend : bool
        Split blended segments (``deblend_sources``).
    nlevels, contrast
        Deblending: multi-threshold levels and the minimum flux fraction of a component.
    smooth_fwhm : float
        Gaussian smoothing (pixels) of the detection image; 0 turns it off.
    box_size : int
        Background mesh (pixels) when the background is estimated.

    Returns
    -------
    Detections
    """
    from photutils.segmentation import deblend_sources, detect_sources

    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 2:
        raise ImageError(f"the image must be 2-D, got shape {data.shape}")
    bad = ~np.isfinite(data) if mask is None else (np.asarray(mask, dtype=bool) | ~np.isfinite(data))
    clean = np.where(bad, 0.0, data)
    if background is None:
        bkg, bkg_rms = estimate_background(clean, mask=bad, box_size=box_size)
    else:
        bkg = np.broadcast_to(np.asarray(background, dtype=np.float64), data.shape).copy()
        bkg_rms = None
    if rms is None:
        if bkg_rms is None:
            _, bkg_rms = estimate_background(clean - bkg, mask=bad, box_size=box_size)
        rms_map = bkg_rms
    else:
        rms_map = np.broadcast_to(np.asarray(rms, dtype=np.float64), data.shape)
    sub = np.where(bad, 0.0, clean - bkg)
    smoothed = _smooth(sub, smooth_fwhm)
    settings = {"nsigma": nsigma, "npixels": npixels, "deblend": deblend, "nlevels": nlevels,
                "contrast": contrast, "smooth_fwhm": smooth_fwhm, "box_size": box_size,
                "background": "given" if background is not None else "Background2D median"}
    seg = detect_sources(smoothed, nsigma * rms_map, npixels, mask=bad)
    if seg is None:
        empty = np.zeros(0)
        return Detections(np.zeros(data.shape, dtype=np.int64), empty.astype(int), empty, empty, empty, empty,
                          empty, empty, empty, empty, np.zeros((0, 4), dtype=int), bkg, settings)
    if deblend:
        seg = deblend_sources(smoothed, seg, npixels, n_levels=nlevels, contrast=contrast, progress_bar=False)
    return measure(clean, seg.data, error=rms_map, mask=bad, background=bkg, settings=settings)


__all__ = ["Detections", "detect", "estimate_background", "measure"]
