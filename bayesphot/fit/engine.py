"""Model images and their Jacobians with respect to the unconstrained vector.

An engine evaluates a model's image on its window, and the Jacobian of that
image with respect to the model's free parameters in the unconstrained space
(the vector of :class:`~bayesphot.program.FreeParameters`), as numpy arrays.

* A component model gets a :class:`LeafEngine`: the image function and its
  forward-mode Jacobian (``backend.jacfwd``) are JIT-compiled once (on JAX)
  and take every parameter as an argument, so fixed values may change between
  fits without recompiling.  When the Jacobian would need more than
  ``max_memory`` bytes, it is computed in column chunks (directional
  derivatives along a few parameter directions at a time, one compiled
  function for all chunks).
* A group gets a :class:`GroupEngine`: each child's image and Jacobian are
  computed on the child's own window and placed into the group's window in
  numpy.  The Jacobian of a child's parameters is zero outside its window,
  so this costs Σ_child k_child renders of the child instead of k renders of
  the whole group, and each child's compiled functions are shared by
  :class:`~bayesphot.fit.Iter` (which fits one child at a time) and
  :class:`~bayesphot.fit.LM` on the whole group.

Compiled functions are cached per model object (weakly), keyed by everything
that is baked into the compiled graph (backend, window, PSF use, quadrature,
which parameters are free and their transforms).

Galaxy models (whose image depends on the window only through the pixel
grid, and whose centre is ``x``, ``y``) share compiled functions: each is
rendered on a *canonical* square window at the origin, of a side rounded up
to one of a few sizes (:func:`canonical_side`), with its centre shifted by the
window's offset, and the result is cropped to the window in numpy.  A crowded
field of many galaxies then compiles a handful of functions instead of one
per galaxy (compilation dominates the cost of small fits on JAX).
"""

from __future__ import annotations

import copy
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backend
from ..image.window import Window
from ..models.base import Model
from ..models.galaxy import GalaxyModel
from ..models.group import GroupModel
from ..program import FreeParameters

#: rough number of float64 intermediates per window pixel and tangent direction
#: in a forward-mode pass through the renderer (pixel quadrature, PSF padding)
BYTES_PER_PIXEL_COLUMN = 8 * 40
DEFAULT_MAX_MEMORY = 2 * 1024**3

_CACHE: weakref.WeakKeyDictionary[Model, dict[Any, Any]] = weakref.WeakKeyDictionary()
_SHARED: OrderedDict[Any, Any] = OrderedDict()
_SHARED_MAX = 64
_SIDES = (16, 32, 48, 64, 96, 128, 192, 256)


def canonical_side(rows: int, cols: int) -> int:
    """Side (pixels) of the shared square window a ``rows × cols`` galaxy window is rendered on."""
    n = max(rows, cols)
    for side in _SIDES:
        if side >= n:
            return side
    return 64 * -(-n // 64)


def shareable(model: Model) -> bool:
    """Whether a model's compiled functions can be shared between windows (translation covariant)."""
    return isinstance(model, GalaxyModel) and not model.extra_state() and "x" in model.parameters \
        and "y" in model.parameters


def _structure_key(model: Model, shared: bool, free: FreeParameters) -> tuple:
    be = backend.current()
    params = (tuple((name, p.shape, p.fixed) for name, p in model.parameters.items()), free.structure())
    target = model.target
    if shared:
        rows, cols = model.window.shape
        return (type(model), be.name, be.device, be.dtype, canonical_side(rows, cols), model.psf_convolve,
                model.quadrature, target.pixelscale, id(target.psf) if model.psf_convolve else None, params)
    extra = repr(sorted((k, np.asarray(v).tobytes() if isinstance(v, np.ndarray) else repr(v))
                        for k, v in model.extra_state().items()))
    return (be.name, be.device, be.dtype, tuple(map(tuple, model.window.as_list())), model.psf_convolve,
            model.quadrature, id(target), id(target.psf), params, extra)


class LeafEngine:
    """Image and Jacobian of one component model on its own window.

    Parameters
    ----------
    model : Model
        A component (non-group) model with a target.
    max_memory : int
        Bytes the forward-mode Jacobian may use before it is chunked by columns.
    chunk_size : int, optional
        Force this many Jacobian columns per pass (testing, memory control).
    share : bool
        Share compiled functions between galaxy models of similar window size
        (see the module docstring); False compiles for this model's own window.
    """

    def __init__(self, model: Model, max_memory: int = DEFAULT_MAX_MEMORY, chunk_size: int | None = None,
                 share: bool = True) -> None:
        self.model = model
        self.window = model.window
        self.shared = bool(share) and shareable(model)
        rows, cols = self.window.shape
        self.render_shape = (canonical_side(rows, cols),) * 2 if self.shared else (rows, cols)
        # ties to parameters of other sub-models enter as extra (input) elements at the end
        self.free = FreeParameters(model, inputs=True)
        self.size = self.free.size
        self.fixed_names = [name for name, p in model.parameters.items() if p.fixed]
        npix = self._render_pixels()
        if chunk_size is None:
            per_column = max(npix * BYTES_PER_PIXEL_COLUMN, 1)
            chunk_size = max(1, int(max_memory // per_column))
        self.chunk_size = int(min(max(chunk_size, 1), max(self.size, 1)))
        key = (_structure_key(model, self.shared, self.free), self.chunk_size)
        if backend.current().name == "jax":
            # traced per object (cheap), compiled once per structure (bayesphot.structure)
            self._value_fn, self._jac_fn = self._compile()
        elif self.shared:
            if key not in _SHARED:
                _SHARED[key] = self._compile()
                while len(_SHARED) > _SHARED_MAX:
                    _SHARED.popitem(last=False)
            _SHARED.move_to_end(key)
            self._value_fn, self._jac_fn = _SHARED[key]
        else:
            store = _CACHE.setdefault(model, {})
            if key not in store:
                store.clear()  # the model changed structure: older compilations are stale
                store[key] = self._compile()
            self._value_fn, self._jac_fn = store[key]
        self._shift = self._shift_value()

    def _render_pixels(self) -> int:
        rows, cols = self.render_shape
        psf = self.model.target.psf if self.model.psf_convolve else None
        if psf is None:
            return rows * cols
        pr, pc = psf.half_size_pixels
        s = psf.oversampling
        return (rows + 2 * pr) * (cols + 2 * pc) * s * s

    def _compile(self) -> tuple[Callable, Callable | None]:
        be = backend.current()
        model, free, shared = self.model, self.free, self.shared
        if shared:
            # a copy of the model on a square window at the origin; every parameter is
            # passed in, so the stored values of the model it was copied from are never read
            model = copy.copy(model)
            side = self.render_shape[0]
            model._window_spec = Window(0, side, 0, side)
            model._mask_spec = None

        def image(u: Any, fixed: dict[str, Any], shift: Any) -> Any:
            values = dict(fixed)
            values.update(free.values(u, fixed))
            if shared:
                values["x"] = values["x"] - shift[0]
                values["y"] = values["y"] - shift[1]
            return model.sample_image(values)

        def directional(c: Any, u: Any, basis: Any, fixed: dict[str, Any], shift: Any) -> Any:
            return image(u + basis @ c, fixed, shift)

        if be.name == "jax":
            return self._lowered(image, directional)
        value_fn = be.jit(image)
        if free.size == 0:
            return value_fn, None
        if self.chunk_size >= self.size:
            jac = be.jacfwd(image)
            return value_fn, be.jit(jac)
        jac_c = be.jacfwd(directional)
        return value_fn, be.jit(jac_c)

    def _lowered(self, image: Callable, directional: Callable) -> tuple[Callable, Callable | None]:
        """JAX: the image and Jacobian functions lowered by structure (numbers as arguments)."""
        from .. import structure

        be = backend.current()
        u0 = be.asarray(self.free.unconstrained() if self.size else np.zeros(0))
        fixed, shift = self._fixed(), be.asarray(self._shift_value())
        lowered = structure.lower(image, u0, fixed, shift)
        value = structure.compiled(lowered, "value")
        value_fn = lambda *args: value(lowered.params, *args)
        if self.size == 0:
            return value_fn, None
        if self.chunk_size >= self.size:
            jac = structure.compiled(lowered, "jacfwd")
            return value_fn, lambda *args: jac(lowered.params, *args)
        c0 = be.asarray(np.zeros(self.chunk_size))
        basis = be.asarray(np.zeros((self.size, self.chunk_size)))
        lowered_c = structure.lower(directional, c0, u0, basis, fixed, shift)
        jac_c = structure.compiled(lowered_c, "jacfwd")
        return value_fn, lambda *args: jac_c(lowered_c.params, *args)

    def _shift_value(self) -> np.ndarray:
        s = self.model.target.pixelscale
        return np.array([self.window.xmin * s, self.window.ymin * s]) if self.shared else np.zeros(2)

    def _fixed(self) -> dict[str, Any]:
        be = backend.current()
        return {name: be.asarray(self.model.parameters[name].value) for name in self.fixed_names}

    def _crop(self, image: np.ndarray) -> np.ndarray:
        rows, cols = self.window.shape
        return image[:rows, :cols] if self.shared else image

    def value(self, u: np.ndarray) -> np.ndarray:
        """The model's image on its window (numpy, flux per pixel)."""
        be = backend.current()
        uu = be.asarray(np.zeros(0) if u is None or self.size == 0 else u)
        return self._crop(backend.to_numpy(self._value_fn(uu, self._fixed(), be.asarray(self._shift))))

    def jacobian(self, u: np.ndarray) -> np.ndarray:
        """d image / d u as a (rows·cols, k) numpy array."""
        be = backend.current()
        rows, cols = self.window.shape
        if self.size == 0:
            return np.zeros((rows * cols, 0))
        uu = be.asarray(u)
        fixed = self._fixed()
        shift = be.asarray(self._shift)
        if self.chunk_size >= self.size:
            jac = self._crop(backend.to_numpy(self._jac_fn(uu, fixed, shift)))
            return np.reshape(jac, (rows * cols, self.size))
        out = np.empty((rows * cols, self.size))
        c0 = be.asarray(np.zeros(self.chunk_size))
        for start in range(0, self.size, self.chunk_size):
            stop = min(start + self.chunk_size, self.size)
            basis = np.zeros((self.size, self.chunk_size))
            basis[np.arange(start, stop), np.arange(stop - start)] = 1.0
            block = self._crop(backend.to_numpy(self._jac_fn(c0, uu, be.asarray(basis), fixed, shift)))
            out[:, start:stop] = np.reshape(block, (rows * cols, self.chunk_size))[:, : stop - start]
        return out


class GroupEngine:
    """Image and Jacobian of a group, assembled from its children's engines.

    The group's vector is that of ``FreeParameters(group, inputs=True)``: the
    free parameters of every sub-model in order, then the values of ties to
    parameters outside the group (when it is itself a sub-model).  A
    sub-model's tied parameters whose sources lie in another sub-model are
    inputs of that sub-model's engine; the group computes them from its
    vector and adds their Jacobian by the chain rule (d image / d tied ×
    d tied / d u).

    Parameters
    ----------
    model : GroupModel
    max_memory, chunk_size
        Passed to each child's engine.
    """

    def __init__(self, model: GroupModel, max_memory: int = DEFAULT_MAX_MEMORY,
                 chunk_size: int | None = None) -> None:
        self.model = model
        self.window = model.window
        self.free = FreeParameters(model, inputs=True)
        self.size = self.free.size
        self.children = [make_engine(child, max_memory, chunk_size) for child in model.models.values()]
        starts = dict(zip(self.free.names, self.free.offsets[:-1].tolist(), strict=True))
        # per child: group indices of its own elements, and the group names of its inputs
        self._own_index: list[np.ndarray] = []
        self._inputs: list[list[str]] = []
        for child_name, engine in zip(model.models, self.children, strict=True):
            index: list[int] = []
            inputs: list[str] = []
            for (name, _), shape in zip(engine.free.entries, engine.free.shapes, strict=True):
                full = f"{child_name}:{name}"
                if name in engine.free.inputs:
                    inputs.append(full)
                else:
                    size = int(np.prod(shape)) if shape else 1
                    index += list(range(starts[full], starts[full] + size))
            self._own_index.append(np.asarray(index, dtype=int))
            self._inputs.append(inputs)
        self._needed = sorted({name for names in self._inputs for name in names})
        self._tied_jac: Any = None
        self._places = []
        for child in self.children:
            overlap = child.window & self.window
            if overlap.is_empty:
                self._places.append(None)
            else:
                self._places.append((overlap.relative_to(child.window), overlap.relative_to(self.window)))

    def _input_values(self, u: np.ndarray) -> dict[str, np.ndarray]:
        if not self._needed:
            return {}
        values = self.free.values(np.asarray(u, dtype=np.float64))
        return {name: np.ravel(np.asarray(values[name], dtype=np.float64)) for name in self._needed}

    def _input_jacobian(self, u: np.ndarray) -> dict[str, np.ndarray]:
        """d (tied value) / d u for every child input (rows: the value's elements)."""
        if not self._needed:
            return {}
        be = backend.current()
        if self._tied_jac is None:
            free, needed = self.free, self._needed

            def tied(uu: Any) -> Any:
                xp = backend.namespace(uu)
                values = free.values(uu)
                return xp.concat([xp.reshape(values[name] + 0.0 * uu[0], (-1,)) for name in needed])

            self._tied_jac = be.jit(be.jacfwd(tied))
        jac = np.reshape(backend.to_numpy(self._tied_jac(be.asarray(np.asarray(u, dtype=np.float64)))),
                         (-1, self.size))
        out, row = {}, 0
        for name, value in self._input_values(u).items():
            out[name] = jac[row: row + value.size]
            row += value.size
        return out

    def child_vector(self, index: int, u: np.ndarray, inputs: dict[str, np.ndarray] | None = None) -> np.ndarray:
        """The vector of child ``index``'s engine for the group vector ``u``."""
        u = np.asarray(u, dtype=np.float64)
        parts = [u[self._own_index[index]]]
        if self._inputs[index]:
            inputs = self._input_values(u) if inputs is None else inputs
            parts += [inputs[name] for name in self._inputs[index]]
        return np.concatenate(parts)

    def child_values(self, u: np.ndarray) -> list[np.ndarray]:
        inputs = self._input_values(u)
        return [child.value(self.child_vector(i, u, inputs)) for i, child in enumerate(self.children)]

    def place(self, index: int, image: np.ndarray, out: np.ndarray) -> None:
        """Add child ``index``'s window-shaped image into the group-shaped ``out``."""
        place = self._places[index]
        if place is not None:
            src, dst = place
            out[dst] += image[src]

    def value(self, u: np.ndarray) -> np.ndarray:
        out = np.zeros(self.window.shape)
        for i, image in enumerate(self.child_values(u)):
            self.place(i, image, out)
        return out

    def jacobian(self, u: np.ndarray) -> np.ndarray:
        rows, cols = self.window.shape
        out = np.zeros((rows, cols, self.size))
        inputs = self._input_values(u)
        tied_jac = self._input_jacobian(u)
        for i, child in enumerate(self.children):
            if child.size == 0 or self._places[i] is None:
                continue
            crow, ccol = child.window.shape
            jac = np.reshape(child.jacobian(self.child_vector(i, u, inputs)), (crow, ccol, child.size))
            src, dst = self._places[i]
            block = jac[src[0], src[1]]
            own = self._own_index[i]
            if own.size:
                out[dst[0], dst[1], own] += block[..., : own.size]
            col = own.size
            for name in self._inputs[i]:
                t = tied_jac[name]
                out[dst[0], dst[1], :] += block[..., col: col + t.shape[0]] @ t
                col += t.shape[0]
        return np.reshape(out, (rows * cols, self.size))


def make_engine(model: Model, max_memory: int = DEFAULT_MAX_MEMORY,
                chunk_size: int | None = None) -> LeafEngine | GroupEngine:
    """The engine for a model: per-child blocks for groups, a compiled leaf otherwise."""
    if isinstance(model, GroupModel):
        return GroupEngine(model, max_memory, chunk_size)
    return LeafEngine(model, max_memory, chunk_size)


def jacobian_bytes(n_pixels: int, n_columns: int) -> int:
    """Bytes of a dense float64 Jacobian (for reporting)."""
    return int(8 * n_pixels * n_columns)


__all__ = ["GroupEngine", "LeafEngine", "jacobian_bytes", "make_engine"]
