"""Integrate a surface-brightness function over pixels, smoothly in the profile's parameters.

A rendered pixel holds the integral of the surface brightness f (flux/arcsec²)
over its area (arcsec²): flux per pixel.  Three rules are blended:

* **base**: every pixel, one sample at its centre corrected to sixth order by
  finite differences of its neighbours (or a Gauss–Legendre rule);
* **near field**: the pixels of a block around the profile centre c, a
  Gauss–Legendre rule per pixel; its weight is 1 for pixels within 2.5 pixels
  of c on both axes (every pixel whose base stencil reaches the samples next to
  the cusp) and falls to 0, as a C∞ function of the pixel's offset from c,
  half a pixel inside the block's edge;
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
scatter-add (:func:`~bayesphot.backend.add_at`), the small cusp block out of the
near-field block by one-hot matrices; all work under JAX tracing and torch alike.

The brightness is called once per render on the nodes of all three rules
together, up to :data:`SEPARATE_BASE_NODES` base nodes: each call site is a
copy of the profile (and of its derivative) in the compiled program, and with
three of them XLA spent three times as long compiling a Sérsic's gradient (5 s
instead of 2 on two CPU cores, 64²).  On larger grids the base rule gets a call
of its own, on its separable (rows, 1) × (1, cols) grid, which XLA evaluates
in fewer passes than the same nodes flattened: a 256² gradient took 1.9 ms
instead of 2.4 (two CPU cores), for 1.5 s more compilation.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..backend import Array, add_at, correlate_valid, device_of, namespace, stop_gradient
from .coordinates import PixelGrid
from .quadrature import DEFAULT_QUADRATURE, QuadratureConfig, gauss_legendre_unit, graded_rule

Brightness = Callable[[Array, Array], Array]

#: pixels whose centre lies within this many pixels of the profile centre (on both axes) take the
#: near-field rule alone: the base rule's stencil (± 2 pixels) reaches samples near the centre
_NEAR_FULL = 2.5
#: width (pixels) over which the graded rule's split point leaves a pixel edge smoothly
_CLAMP_SOFTNESS = 1e-3
#: from this many base-rule nodes on, the base rule's brightness is a call of its own (see above)
SEPARATE_BASE_NODES = 128 * 128


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
    """``brightness`` at several sets of broadcastable (x, y), in one call on their concatenation.

    One call keeps one copy of the profile in the compiled program whatever the
    number of rules; the values are the same as from separate calls.
    """
    xp = namespace(points[0][0])
    grids = [xp.broadcast_arrays(x, y) for x, y in points]
    shapes = [tuple(gx.shape) for gx, _ in grids]
    sizes = [math.prod(shape) for shape in shapes]
    flat = brightness(xp.concat([xp.reshape(gx, (-1,)) for gx, _ in grids]),
                      xp.concat([xp.reshape(gy, (-1,)) for _, gy in grids]))
    out, first = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        out.append(xp.reshape(flat[first:first + size], shape))
        first += size
    return out


def _gauss_nodes(centers: Array, step: float, order: int) -> tuple[Array, Array]:
    """Per-pixel Gauss–Legendre nodes and weights (pixels centred at ``centers``, side ``step``)."""
    xp = namespace(centers)
    t, w = gauss_legendre_unit(order)
    nodes = centers[:, None] + step * _const(t, centers)[None, :]
    weights = xp.broadcast_to(step * _const(w, centers)[None, :], nodes.shape)
    return nodes, weights


def _midpoint_stencil() -> np.ndarray:
    """The 5 × 5 weights of :func:`_corrected_midpoint` (numpy, symmetric)."""
    centre = np.array([0.0, 0.0, 1.0, 0.0, 0.0])
    second = np.array([0.0, 1.0, -2.0, 1.0, 0.0])  # δ²
    fourth = np.array([1.0, -4.0, 6.0, -4.0, 1.0])  # δ⁴
    return (np.outer(centre, centre) + (np.outer(centre, second) + np.outer(second, centre)) / 24.0
            - 17.0 * (np.outer(centre, fourth) + np.outer(fourth, centre)) / 5760.0
            + np.outer(second, second) / 576.0)


_MIDPOINT_STENCIL = _midpoint_stencil()


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


def _padded(centers: Array, h: float) -> Array:
    """Pixel centres extended by two pixels on each side (the corrected midpoint's stencil)."""
    xp = namespace(centers)
    steps = xp.asarray([1.0, 2.0], dtype=centers.dtype, device=device_of(centers)) * h
    return xp.concat([centers[:1] - xp.flip(steps), centers, centers[-1:] + steps])


def _one_hot(start: Array, count: int, length: int, dtype) -> Array:
    """(count, length) matrix selecting indices start … start+count-1 of an axis."""
    xp = namespace(start)
    dev = device_of(start)
    idx = start + xp.arange(count, dtype=start.dtype, device=dev)
    return xp.astype(idx[:, None] == xp.arange(length, dtype=start.dtype, device=dev)[None, :], dtype)


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
    """Per-pixel nodes/weights (cols, 2·order) split at the point of each pixel nearest ``cusp``.

    Each side gets the geometrically graded rule crowding towards the split point, so
    the rule resolves the cusp whether it lies inside the pixel or just
    outside it; nodes and weights are continuous in ``cusp``.
    """
    xp = namespace(centers)
    t_np, w_np = graded_rule(config.levels, config.order, config.ratio)
    t, w = _const(t_np, centers)[None, :], _const(w_np, centers)[None, :]
    lo = centers[:, None] - 0.5 * step
    hi = centers[:, None] + 0.5 * step
    # the split point: the cusp clamped into the pixel, by a C∞ clamp (within 5e-4 pixel of the hard
    # one, far inside the innermost graded interval), so that nodes are C¹ in the cusp's position
    # and the gradient has no kink when the cusp crosses a pixel edge
    delta2 = (_CLAMP_SOFTNESS * step) ** 2

    def soft_max0(u: Array) -> Array:
        return 0.5 * (u + xp.sqrt(u * u + delta2))

    c = lo + soft_max0(cusp - lo) - soft_max0(cusp - hi)
    left, right = c - lo, hi - c
    nodes = xp.concat([c - t * left, c + t * right], axis=1)
    weights = xp.concat([w * left, w * right], axis=1)
    return nodes, weights


def _edge_distance(centers: Array, cusp: Array, step: float) -> Array:
    """Distance (pixels) from ``cusp`` to each pixel's interval along one axis (0 inside)."""
    xp = namespace(centers)
    return xp.maximum(xp.abs(centers - cusp) / step - 0.5, xp.zeros_like(centers))


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

    def centres(start: Array, origin: float) -> Array:
        return origin + h * xp.astype(start + xp.arange(size, dtype=start.dtype, device=dev), dtype)

    mx, my = centres(col_c - half, grid.x0), centres(row_c - half, grid.y0)

    # the nodes of every rule first, so that the brightness is called once (see the module's docstring)
    # base rule everywhere; the samples within half a pixel of the centre are dropped (only pixels
    # whose weight below is exactly 1 use them), so no cusp-sized sample is added and taken off again
    if config.base_order > 0:
        bxn, bxw = _gauss_nodes(xcen, h, config.base_order)
        byn, byw = _gauss_nodes(ycen, h, config.base_order)
        points = [_tensor_points(bxn, byn)]
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
        gxn, gxw = _graded_nodes(cx, h, xc, config)
        gyn, gyw = _graded_nodes(cy, h, yc, config)
        points.append(_tensor_points(gxn, gyn))
    if points[0][0].shape[-1] * points[0][1].shape[0] >= SEPARATE_BASE_NODES:
        values = [brightness(*points[0]), *_brightness_at(brightness, points[1:])]
    else:
        values = _brightness_at(brightness, points)

    if config.base_order > 0:
        image = _tensor_sum(values[0], bxw, byw)
    else:
        near_x = xp.abs(xs - xc) <= 0.5 * h
        near_y = xp.abs(ys - yc) <= 0.5 * h
        samples = xp.where(near_y[:, None] & near_x[None, :], xp.zeros_like(values[0]), values[0])
        image = _corrected_midpoint(samples, h)
    near = _tensor_sum(values[1], xw, yw)
    if config.block:
        reach = 0.5 * (config.block - 1)
        graded = _tensor_sum(values[2], gxw, gyw)
        wx = _smooth_step((_edge_distance(cx, xc, h) - config.blend * reach) / ((1.0 - config.blend) * reach))
        wy = _smooth_step((_edge_distance(cy, yc, h) - config.blend * reach) / ((1.0 - config.blend) * reach))
        in_rows = _one_hot(row0 - (row_c - half), k, size, dtype)
        in_cols = _one_hot(col0 - (col_c - half), k, size, dtype)
        inner = in_rows @ near @ in_cols.T
        near = near + in_rows.T @ (wy[:, None] * wx[None, :] * (graded - inner)) @ in_cols

    # weights of the near-field rule: 1 out to NEAR_FULL pixels from the centre (every pixel
    # whose base stencil reaches the centre), falling smoothly to 0 half a pixel inside the block's edge
    ramp = half + 0.5 - _NEAR_FULL
    wx = _smooth_step((xp.abs(mx - xc) / h - _NEAR_FULL) / ramp)
    wy = _smooth_step((xp.abs(my - yc) / h - _NEAR_FULL) / ramp)
    # the block is cut out and its correction added back by flat index (a gather and a scatter-add,
    # both of the block's size: one-hot matrices cost rows × cols × block, 1 ms a gradient at 256²)
    index, inside = _block_index(row_c - half, col_c - half, size, (rows, cols))
    flat = xp.reshape(image, (-1,))
    zero = xp.zeros_like(index, dtype=dtype)
    base = xp.reshape(xp.where(inside, xp.take(flat, index), zero), (size, size))
    correction = xp.reshape((wy[:, None] * wx[None, :]) * (near - base), (-1,))
    return xp.reshape(add_at(flat, index, xp.where(inside, correction, zero)), (rows, cols))


def _plain_base(brightness: Brightness, x: Array, y: Array, h: float, order: int) -> Array:
    """The base rule alone on the pixels centred at ``x`` (cols) × ``y`` (rows)."""
    if order > 0:
        xn, xw = _gauss_nodes(x, h, order)
        yn, yw = _gauss_nodes(y, h, order)
        return _tensor_sum(brightness(*_tensor_points(xn, yn)), xw, yw)
    xs, ys = _padded(x, h), _padded(y, h)
    return _corrected_midpoint(brightness(xs[None, :], ys[:, None]), h)
