"""Integrate a surface-brightness function over pixels, smoothly in the profile's parameters.

A rendered pixel holds the integral of the surface brightness f (flux/arcsec²)
over its area (arcsec²): flux per pixel.  Three rules are blended:

* **base**: every pixel, one sample at its centre corrected to sixth order by
  finite differences of its neighbours (or a Gauss–Legendre rule); optionally
  (``base_block``) the differences only on a block around c, beyond which the
  profile is smooth enough for the centre sample alone (or, ``outer_order`` 2,
  the centre sample with the five-point Laplacian's second-order correction),
  the rest of the correction's weight falling smoothly to 0 towards the block's edge;
* **near field**: the pixels of a block around the profile centre c, a
  Gauss–Legendre rule per pixel; its weight is 1 for pixels within 2.5 pixels
  of c on both axes (every pixel whose base stencil reaches the samples next to
  the cusp), or up to 3 pixels inside the block's edge in larger blocks, and
  falls to 0, as a C∞ function of the pixel's offset from c, half a pixel
  inside the block's edge (a ramp of at most 3 pixels: with the ramp across the
  whole block, the base rule's error in it, on compact profiles, kept 21-pixel
  blocks of order 4 over the flux budget, and the chooser fell back to a
  Gauss–Legendre base on every pixel);
* **cusp**: the 3 × 3 pixels around c (or the 2 × 2 whose centres bracket c),
  each split at its point nearest c and graded geometrically towards it on
  both axes (the cusp of high-n Sérsics, also when c lies just outside the
  pixel); its weight is 1 for pixels within ``blend`` × reach of c and falls
  smoothly to 0 at the reach, one pixel (3 × 3) or half a pixel (2 × 2).

Every node moves continuously with c and every weight is a C∞ function of c,
so the image and its gradient are continuous in the centre and in the shape
parameters; the blocks themselves snap to the pixel nearest c, but whatever
they contribute has vanished before a pixel leaves them.  The base samples
within half a pixel of c are dropped (they only feed pixels whose base weight
is exactly 0), so no cusp-sized number is added and taken off again, which
keeps float32 accurate.  No Python loops over pixels and no in-place writes:
the near-field block is cut out of the image by a gather and put back by a
scatter-add (:func:`~bayesphot.backend.add_at`); the small cusp block is placed
into the near-field block by zero padding, and its weights, exactly 0 beyond its
reach, are computed on the whole near-field block; all work under JAX tracing
and torch alike.

The brightness is called twice per render: on the base rule's separable
(rows, 1) × (1, cols) grid, and on the small grids of the other rules (near
field, cusp, the base block's samples) stacked into one (sets, rows, 1) ×
(sets, 1, cols) broadcast.  Each call site is a copy of the profile (and of its
derivative) in the compiled program, which costs compilation time; and XLA
evaluates a broadcast grid 3–4× as fast per node as the same nodes flattened
(two CPU cores: a 64² render and gradient in 0.24 ms instead of 0.33 with the
three rules' nodes flattened into one call, and a whole 64² log-density
gradient in 0.41 ms instead of 0.55, for about 1 s more compilation).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..backend import Array, add_at, correlate_valid, device_of, namespace, stop_gradient
from .coordinates import PixelGrid
from .quadrature import (
    BASE_BLOCK_RAMP,
    DEFAULT_QUADRATURE,
    QuadratureConfig,
    gauss_legendre_unit,
    graded_rule,
    uses_base_block,
)

Brightness = Callable[[Array, Array], Array]

#: pixels whose centre lies within this many pixels of the profile centre (on both axes) take the
#: near-field rule alone: the base rule's stencil (± 2 pixels) reaches samples near the centre
_NEAR_FULL = 2.5
#: the widest ramp (pixels) over which the near-field rule's weight falls to 0 at the block's edge
_NEAR_RAMP = 3.0
#: width (pixels) over which the graded rule's split point leaves a pixel edge smoothly
_CLAMP_SOFTNESS = 1e-3


# ----------------------------------------------------------------------------- helpers
def _const(value, like: Array) -> Array:
    """A numpy constant as an array of ``like``'s namespace, dtype and device."""
    xp = namespace(like)
    return xp.asarray(value, dtype=like.dtype, device=device_of(like))


def _smooth_step(t: Array) -> Array:
    """C∞ step: 1 for t ≤ 0, 0 for t ≥ 1, e^(−1/(1−t)) / (e^(−1/t) + e^(−1/(1−t))) between."""
    xp = namespace(t)
    inside = (t > 0.0) & (t < 1.0)
    ts = xp.where(inside, t, xp.full_like(t, 0.5))  # keeps the gradient finite outside
    a, b = xp.exp(-1.0 / ts), xp.exp(-1.0 / (1.0 - ts))
    middle = b / (a + b)
    return xp.where(t <= 0.0, xp.ones_like(t), xp.where(t >= 1.0, xp.zeros_like(t), middle))


def _tensor_points(xn: Array, yn: Array) -> tuple[Array, Array]:
    """Broadcastable (x, y) of the tensor-product nodes ``xn`` (cols, k) × ``yn`` (rows, k).

    A 2-D grid (rows·k, cols·k), like the base rule's: evaluated on the 4-D
    (rows, k, cols, k) form instead, the same numbers cost XLA 2.4× as much on a
    CPU (one node per pixel, 64²: 0.28–0.30 against 0.12 ms for value and gradient).
    """
    xp = namespace(xn)
    return xp.reshape(xn, (-1,))[None, :], xp.reshape(yn, (-1,))[:, None]


def _tensor_sum(values: Array, xw: Array, yw: Array) -> Array:
    """Σ w_x w_y f over each pixel's nodes: ``values`` (rows·k, cols·k) → (rows, cols)."""
    xp = namespace(values)
    rows, k = yw.shape
    cols, kx = xw.shape
    grid = xp.reshape(values, (rows, k, cols, kx))
    weighted = grid * yw[:, :, None, None] * xw[None, None, :, :]
    return xp.sum(xp.sum(weighted, axis=3), axis=1)


def _brightness_at(brightness: Brightness, points: list[tuple[Array, Array]]) -> list[Array]:
    """``brightness`` on several small (rows, 1) × (1, cols) node grids, in one call on their stack.

    Each grid is padded to the largest one's shape by repeating its last node (the padding is cut
    off again), and the grids are stacked into a (sets, rows, 1) × (sets, 1, cols) broadcast: one
    copy of the profile in the compiled program, evaluated in the broadcast form XLA runs fastest.
    Flattened and concatenated instead, the same nodes cost 3–4× as much per node (two CPU cores).
    """
    if len(points) == 1:
        return [brightness(*points[0])]
    xp = namespace(points[0][0])
    cols = max(x.shape[-1] for x, _ in points)
    rows = max(y.shape[0] for _, y in points)

    def padded(v: Array, axis: int, length: int) -> Array:
        extra = length - v.shape[axis]
        if extra == 0:
            return v
        last = v[:, -1:] if axis == 1 else v[-1:, :]
        shape = (1, extra) if axis == 1 else (extra, 1)
        return xp.concat([v, xp.broadcast_to(last, shape)], axis=axis)

    xs = xp.stack([padded(xp.reshape(x, (1, -1)), 1, cols) for x, _ in points])
    ys = xp.stack([padded(xp.reshape(y, (-1, 1)), 0, rows) for _, y in points])
    values = brightness(xs, ys)
    return [values[k, :y.shape[0], :x.shape[-1]] for k, (x, y) in enumerate(points)]


def _gauss_nodes(centers: Array, step: float, order: int) -> tuple[Array, Array]:
    """Per-pixel Gauss–Legendre nodes and weights (pixels centred at ``centers``, side ``step``)."""
    xp = namespace(centers)
    t, w = gauss_legendre_unit(order)
    nodes = centers[:, None] + step * _const(t, centers)[None, :]
    weights = xp.broadcast_to(step * _const(w, centers)[None, :], nodes.shape)
    return nodes, weights


#: the 5-point identity, second difference δ² and fourth difference δ⁴ (numpy, one axis)
_CENTRE = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
_SECOND = np.array([0.0, 1.0, -2.0, 1.0, 0.0])
_FOURTH = np.array([1.0, -4.0, 6.0, -4.0, 1.0])
#: the five-point Laplacian's correction (δx² + δy²)/24, as a 5 × 5 stencil (:func:`_laplacian_midpoint`
#: applies it by slices)
_LAPLACIAN_STENCIL = (np.outer(_CENTRE, _SECOND) + np.outer(_SECOND, _CENTRE)) / 24.0


def _midpoint_stencil() -> np.ndarray:
    """The 5 × 5 weights of :func:`_corrected_midpoint` (numpy, symmetric)."""
    return (np.outer(_CENTRE, _CENTRE) + _LAPLACIAN_STENCIL
            - 17.0 * (np.outer(_CENTRE, _FOURTH) + np.outer(_FOURTH, _CENTRE)) / 5760.0
            + np.outer(_SECOND, _SECOND) / 576.0)


_MIDPOINT_STENCIL = _midpoint_stencil()
#: the corrected midpoint less the centre sample: the correction alone
_CORRECTION_STENCIL = _MIDPOINT_STENCIL - np.outer(_CENTRE, _CENTRE)
#: the correction less its second-order part, the five-point Laplacian's
_SIXTH_ORDER_TERMS = _CORRECTION_STENCIL - _LAPLACIAN_STENCIL


def _corrected_midpoint(f: Array, h: float) -> Array:
    """Pixel integrals from centre samples ``f`` on a grid padded by two pixels, corrected to sixth order.

    Over a pixel of side h, ∫ f / h² = f + h²∇²f/24 + h⁴(f_xxxx + f_yyyy)/1920
    + h⁴ f_xxyy/576 + O(h⁶).  With central differences δ² (three points) and
    δ⁴ (five points) and h²f'' = δ²f − δ⁴f/12 + O(h⁶), this is
    f + (δx² + δy²)f/24 − 17 (δx⁴ + δy⁴)f/5760 + δx²δy² f/576,
    so each pixel still costs one evaluation.  Accurate where the integrand is
    smooth on the pixel scale; being linear in the samples, the rule applied to
    a sum is the sum of the rule applied to each part.  The differences form one
    5 × 5 stencil, applied as one library convolution (:func:`~bayesphot.backend.correlate_valid`).
    """
    return correlate_valid(f, _MIDPOINT_STENCIL) * (h * h)


def midpoint_correction(f: Array, h: float, outer_order: int = 0) -> Array:
    """The corrected midpoint's correction (:func:`_corrected_midpoint` less the centre samples).

    ``f``: brightness (flux/arcsec²) at pixel centres on a grid padded by two pixels; ``h``: pixel
    side (arcsec).  Returns flux per pixel, two pixels smaller on each side.  With ``outer_order`` 2,
    only the part beyond the five-point Laplacian's (:func:`_laplacian_midpoint`): what a base block
    adds to pixels that already have that (:class:`~bayesphot.render.QuadratureConfig`).
    """
    stencil = _SIXTH_ORDER_TERMS if outer_order else _CORRECTION_STENCIL
    return correlate_valid(f, stencil) * (h * h)


def _laplacian_midpoint(f: Array, h: float) -> Array:
    """Pixel integrals from centre samples ``f`` on a grid padded by one pixel, corrected to second order.

    ∫ f / h² = f + (δx² + δy²)f/24 + O(h⁴): four shifted slices and the centre, which XLA fuses
    into one pass (cheaper than a library convolution: 256², value and gradient, 0.14 ms more than
    the centre samples against 0.26 for the 5 × 5 convolution, two CPU cores).
    """
    centre = f[1:-1, 1:-1]
    neighbours = f[:-2, 1:-1] + f[2:, 1:-1] + f[1:-1, :-2] + f[1:-1, 2:]
    return (centre + (neighbours - 4.0 * centre) / 24.0) * (h * h)


def _padded(centers: Array, h: float, width: int = 2) -> Array:
    """Pixel centres extended by ``width`` pixels on each side (2: the corrected midpoint's stencil)."""
    xp = namespace(centers)
    steps = xp.asarray(np.arange(1.0, width + 1.0), dtype=centers.dtype, device=device_of(centers)) * h
    return xp.concat([centers[:1] - xp.flip(steps), centers, centers[-1:] + steps])


def _without_centre_sample(values: Array, xs: Array, ys: Array, center: tuple[Array, Array], h: float) -> Array:
    """``values`` on the grid ``xs`` (cols) × ``ys`` (rows) with the samples within half a pixel of the
    centre set to 0: only pixels that take the near-field rule alone use them (see integrate_pixels)."""
    xp = namespace(values)
    near_x = xp.abs(xs - center[0]) <= 0.5 * h
    near_y = xp.abs(ys - center[1]) <= 0.5 * h
    return xp.where(near_y[:, None] & near_x[None, :], xp.zeros_like(values), values)


def _add_block(image: Array, block: Array, row0: Array, col0: Array) -> Array:
    """A copy of ``image`` with the square ``block`` added at (``row0``, ``col0``), by flat index.

    A scatter-add of the block's size (one-hot matrices cost rows × cols × block: 1 ms a gradient
    at 256²); the block's pixels that fall off the image add nothing.
    """
    xp = namespace(image)
    rows, cols = image.shape
    index, inside = _block_index(row0, col0, block.shape[0], (rows, cols))
    values = xp.reshape(block, (-1,))
    flat = add_at(xp.reshape(image, (-1,)), index, xp.where(inside, values, xp.zeros_like(values)))
    return xp.reshape(flat, (rows, cols))


#: the cusp block lies in this many pixels around the centre pixel, on each axis (3 × 3, or 2 × 2
#: whose centres bracket the profile centre)
_CUSP_FRAME = 3


def _embed_axis(values: Array, shift: Array, axis: int) -> Array:
    """``values`` (k along ``axis``, k ≤ 3) placed ``shift`` (0 … 3 − k) into a 3-wide frame, zeros around.

    One zero-padded copy per possible shift, chosen by ``where``: elementwise work that XLA fuses
    with what surrounds it, unlike one-hot matrix products (two small matrix kernels each, and
    more in the gradient).
    """
    xp = namespace(values)
    k = values.shape[axis]

    def zeros(n: int) -> Array:
        shape = (n, values.shape[1]) if axis == 0 else (values.shape[0], n)
        return xp.zeros(shape, dtype=values.dtype, device=device_of(values))

    def shifted(s: int) -> Array:
        parts = ([zeros(s)] if s else []) + [values] + ([zeros(_CUSP_FRAME - k - s)] if _CUSP_FRAME - k - s else [])
        return xp.concat(parts, axis=axis) if len(parts) > 1 else values

    framed = shifted(0)
    for s in range(1, _CUSP_FRAME - k + 1):
        framed = xp.where(shift == s, shifted(s), framed)
    return framed


def _embed(block: Array, row0: Array, col0: Array, size: int) -> Array:
    """A (``size``, ``size``) array, zero but for the small ``block`` at (``row0``, ``col0``).

    ``row0`` and ``col0`` (0-d integer arrays) lie in the 3 × 3 pixels around the centre of the
    array (odd ``size``), as does the block.
    """
    xp = namespace(block)
    lo = size // 2 - 1
    framed = _embed_axis(_embed_axis(block, row0 - lo, 0), col0 - lo, 1)
    pad_rows = xp.zeros((lo, _CUSP_FRAME), dtype=block.dtype, device=device_of(block))
    framed = xp.concat([pad_rows, framed, pad_rows], axis=0)
    pad_cols = xp.zeros((size, lo), dtype=block.dtype, device=device_of(block))
    return xp.concat([pad_cols, framed, pad_cols], axis=1)


def _block_index(row0: Array, col0: Array, size: int, shape: tuple[int, int]) -> tuple[Array, Array]:
    """Flat indices into a ``shape`` image of the ``size`` × ``size`` block at (``row0``, ``col0``).

    Returns (index, inside): pixels of the block that fall off the image get index 0
    and ``inside`` False, so that a gather reads 0 and a scatter adds 0 there.
    """
    xp = namespace(row0)
    dev = device_of(row0)
    rows, cols = shape
    offsets = xp.arange(size, dtype=row0.dtype, device=dev)
    r, c = row0 + offsets, col0 + offsets
    inside = ((r >= 0) & (r < rows))[:, None] & ((c >= 0) & (c < cols))[None, :]
    flat = r[:, None] * cols + c[None, :]
    index = xp.where(inside, flat, xp.zeros_like(flat))
    return xp.reshape(index, (-1,)), xp.reshape(inside, (-1,))


def _graded_nodes(centers: Array, step: float, cusp: Array, config: QuadratureConfig) -> tuple[Array, Array]:
    """Per-pixel nodes/weights (..., cols, 2·order) split at the point of each pixel nearest ``cusp``.

    Each side gets the geometrically graded rule crowding towards the split point, so
    the rule resolves the cusp whether it lies inside the pixel or just
    outside it; nodes and weights are continuous in ``cusp``.  ``centers`` (..., cols) and ``cusp``
    (..., 1): both axes in one call (stacked on a leading axis) make one set of small kernels, forward
    and in the gradient, instead of one per axis.
    """
    xp = namespace(centers)
    t_np, w_np = graded_rule(config.levels, config.order, config.ratio)
    n = t_np.size
    # both sides at once: node c + t (e − c) and weight ∓w (e − c), e the pixel's edge on that side
    # (c − t·(c − lo) and w·(c − lo) on the left, bit for bit): one subtraction carries the
    # dependence on the split point, and no concatenation of the sides (nor its transpose) is needed
    t = _const(np.concatenate([t_np, t_np]), centers)
    w = _const(np.concatenate([-w_np, w_np]), centers)
    half = _const(np.repeat([-0.5 * step, 0.5 * step], n), centers)
    lo = centers[..., None] - 0.5 * step
    hi = centers[..., None] + 0.5 * step
    # the split point: the cusp clamped into the pixel, by a C∞ clamp (within 5e-4 pixel of the hard
    # one, far inside the innermost graded interval), so that nodes are C¹ in the cusp's position
    # and the gradient has no kink when the cusp crosses a pixel edge
    delta2 = (_CLAMP_SOFTNESS * step) ** 2

    def soft_max0(u: Array) -> Array:
        return 0.5 * (u + xp.sqrt(u * u + delta2))

    c = lo + soft_max0(cusp[..., None] - lo) - soft_max0(cusp[..., None] - hi)
    to_edge = (centers[..., None] + half) - c
    return c + t * to_edge, w * to_edge


# ----------------------------------------------------------------------------- the rule
def integrate_pixels(
    brightness: Brightness,
    grid: PixelGrid,
    center: tuple[Array, Array],
    config: QuadratureConfig = DEFAULT_QUADRATURE,
) -> Array:
    """Flux per pixel of ``brightness`` on ``grid``.

    Parameters
    ----------
    brightness : callable
        ``f(x, y)`` → surface brightness (flux/arcsec²), broadcasting over arrays.
    grid : PixelGrid
    center : (xc, yc)
        Sky position (arcsec, 0-d arrays) of the profile centre, where the
        near-field and cusp rules are placed.
    config : QuadratureConfig

    Returns
    -------
    array of shape ``grid.shape`` (flux per pixel), on the dtype and device of ``xc``.
    """
    xc, yc = center
    xp = namespace(xc)
    h = grid.step
    dtype, dev = xc.dtype, device_of(xc)
    rows, cols = grid.shape
    xcen, ycen = grid.centers(xc)
    if config.mid_block == 0:
        return _plain_base(brightness, xcen, ycen, h, config.base_order)

    # blocks centred on the pixel nearest the centre (position not differentiated); their
    # weights vanish smoothly before their edges, so their snapping is invisible
    col_c = xp.astype(xp.floor(stop_gradient((xc - grid.x0) / h) + 0.5), xp.int64)
    row_c = xp.astype(xp.floor(stop_gradient((yc - grid.y0) / h) + 0.5), xp.int64)
    half, size = config.mid_block // 2, config.mid_block

    def centres(start: Array, origin: float, count: int = size) -> Array:
        return origin + h * xp.astype(start + xp.arange(count, dtype=start.dtype, device=dev), dtype)

    mx, my = centres(col_c - half, grid.x0), centres(row_c - half, grid.y0)
    base_block = uses_base_block(config, (rows, cols))

    # the nodes of every rule first, so that the brightness is called twice (see the module's docstring)
    # base rule everywhere; the samples within half a pixel of the centre are dropped (only pixels
    # whose weight below is exactly 1 use them), so no cusp-sized sample is added and taken off again
    if config.base_order > 0:
        bxn, bxw = _gauss_nodes(xcen, h, config.base_order)
        byn, byw = _gauss_nodes(ycen, h, config.base_order)
        points = [_tensor_points(bxn, byn)]
    elif base_block:
        # centre samples everywhere (padded by a pixel for the outer Laplacian), and the corrected
        # midpoint's padded samples on the block
        xs, ys = (_padded(xcen, h, 1), _padded(ycen, h, 1)) if config.outer_order else (xcen, ycen)
        points = [(xs[None, :], ys[:, None])]
        half_base = config.base_block // 2
        bx = centres(col_c - half_base - 2, grid.x0, config.base_block + 4)
        by = centres(row_c - half_base - 2, grid.y0, config.base_block + 4)
    else:
        xs, ys = _padded(xcen, h), _padded(ycen, h)
        points = [(xs[None, :], ys[:, None])]
    # near field: Gauss–Legendre on the mid block
    xn, xw = _gauss_nodes(mx, h, config.mid_order)
    yn, yw = _gauss_nodes(my, h, config.mid_order)
    points.append(_tensor_points(xn, yn))
    if config.block:
        # cusp: graded rule on the block × block pixels nearest the centre (3: around the pixel
        # holding it; 2: the pixels whose centres bracket it), blended into the near-field rule;
        # pixels outside lie ≥ `reach` pixel from the centre, where the weight has fallen to 0
        if config.block == 3:
            col0, row0 = col_c - 1, row_c - 1
        else:
            col0 = xp.astype(xp.floor(stop_gradient((xc - grid.x0) / h)), xp.int64)
            row0 = xp.astype(xp.floor(stop_gradient((yc - grid.y0) / h)), xp.int64)
        k = config.block
        cx = grid.x0 + h * xp.astype(col0 + xp.arange(k, dtype=col0.dtype, device=dev), dtype)
        cy = grid.y0 + h * xp.astype(row0 + xp.arange(k, dtype=row0.dtype, device=dev), dtype)
        gn, gw = _graded_nodes(xp.stack([cx, cy]), h, xp.stack([xc, yc])[:, None], config)
        (gxn, gyn), (gxw, gyw) = (gn[0], gn[1]), (gw[0], gw[1])
        points.append(_tensor_points(gxn, gyn))
    if base_block:
        points.append((bx[None, :], by[:, None]))
    values = [brightness(*points[0]), *_brightness_at(brightness, points[1:])]

    if config.base_order > 0:
        image = _tensor_sum(values[0], bxw, byw)
    else:
        samples = _without_centre_sample(values[0], xs, ys, (xc, yc), h)
        if base_block:
            outer = _laplacian_midpoint(samples, h) if config.outer_order else samples * (h * h)
            image = _add_base_correction(outer, values[-1], (bx, by), (xc, yc), h, (row_c, col_c),
                                         config.base_block, config.outer_order)
        else:
            image = _corrected_midpoint(samples, h)
    near = _tensor_sum(values[1], xw, yw)
    # weights of the near-field rule: 1 out to NEAR_FULL pixels from the centre (every pixel whose base
    # stencil reaches the centre) or to NEAR_RAMP pixels inside the block's edge if that is further,
    # falling smoothly to 0 half a pixel inside the block's edge: a large block is a large near field
    full = max(_NEAR_FULL, half + 0.5 - _NEAR_RAMP)
    ramp = half + 0.5 - full
    # both axes at once, (2, size): one small fused kernel per step instead of one per axis
    distance = xp.abs(xp.stack([mx, my]) - xp.stack([xc, yc])[:, None]) / h
    steps = [(distance - full) / ramp]
    if config.block:
        # the cusp rule's weights, on the near block's pixels too: its weight is a function of the
        # distance from the centre to the pixel's interval, exactly 0 on every pixel outside the cusp
        # block (≥ `reach` from the centre), so the cusp block needs no cutting out
        reach = 0.5 * (config.block - 1)
        outside = xp.maximum(distance - 0.5, xp.zeros_like(distance))
        steps.append((outside - config.blend * reach) / ((1.0 - config.blend) * reach))
    # (rules, 2, size) per-axis weights, and their (rules, size, size) products: one kernel for
    # every rule and axis, forward and in the gradient
    axis_weights = _smooth_step(xp.stack(steps))
    weights = axis_weights[:, 1, :, None] * axis_weights[:, 0, None, :]
    if config.block:
        graded = _tensor_sum(values[2], gxw, gyw)
        placed = _embed(graded, row0 - (row_c - half), col0 - (col_c - half), size)
        near = near + weights[1] * (placed - near)

    # the block is cut out by flat index (a gather of the block's size) and its correction added back
    index, inside = _block_index(row_c - half, col_c - half, size, (rows, cols))
    taken = xp.take(xp.reshape(image, (-1,)), index)
    base = xp.reshape(xp.where(inside, taken, xp.zeros_like(taken)), (size, size))
    return _add_block(image, weights[0] * (near - base), row_c - half, col_c - half)


def base_block_weight(distance: Array, block: int) -> Array:
    """Weight of the corrected midpoint's correction on a ``block``-pixel base block, per axis.

    ``distance``: |pixel centre − profile centre| along one axis (pixels).  1 up to
    :data:`~bayesphot.render.quadrature.BASE_BLOCK_RAMP` pixels inside the block's outer edge
    (``block``/2 pixels out), falling as a C∞ function to 0 at it.  A pixel's weight is the product
    over the two axes.
    """
    full = block // 2 + 0.5 - BASE_BLOCK_RAMP
    return _smooth_step((distance - full) / BASE_BLOCK_RAMP)


def _add_base_correction(image: Array, samples: Array, nodes: tuple[Array, Array], center: tuple[Array, Array],
                         h: float, nearest: tuple[Array, Array], block: int, outer_order: int) -> Array:
    """``image`` (the outer rule: centre samples × pixel area, or with their Laplacian correction) plus
    the rest of the corrected midpoint's correction on a block.

    ``samples`` are the brightness on the block's centres padded by two pixels (``nodes`` = their
    x, y), ``nearest`` the (row, column) of the pixel nearest ``center``.  The correction's weight is 1
    up to :data:`~bayesphot.render.quadrature.BASE_BLOCK_RAMP` pixels inside the block's edge and falls
    as a C∞ function of the pixel's offset from the centre to 0 at the edge, so the block's snapping
    to the nearest pixel is invisible.
    """
    xp = namespace(image)
    (bx, by), (xc, yc), (row_c, col_c) = nodes, center, nearest
    correction = midpoint_correction(_without_centre_sample(samples, bx, by, center, h), h, outer_order)
    wx = base_block_weight(xp.abs(bx[2:-2] - xc) / h, block)
    wy = base_block_weight(xp.abs(by[2:-2] - yc) / h, block)
    return _add_block(image, (wy[:, None] * wx[None, :]) * correction, row_c - block // 2, col_c - block // 2)


def _plain_base(brightness: Brightness, x: Array, y: Array, h: float, order: int) -> Array:
    """The base rule alone on the pixels centred at ``x`` (cols) × ``y`` (rows)."""
    if order > 0:
        xn, xw = _gauss_nodes(x, h, order)
        yn, yw = _gauss_nodes(y, h, order)
        return _tensor_sum(brightness(*_tensor_points(xn, yn)), xw, yw)
    xs, ys = _padded(x, h), _padded(y, h)
    return _corrected_midpoint(brightness(xs[None, :], ys[:, None]), h)
