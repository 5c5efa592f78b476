"""Which array library runs the kernels, on which device and in which precision.

Kernels are written once against the array-API namespace returned by
:func:`namespace` (``array_api_compat``), so the same code runs under JAX and
torch.  This module adds the few things the standard lacks: autodiff adaptors
(:meth:`Backend.grad`, :meth:`Backend.jacfwd`), JIT, ``stop_gradient`` and the
special functions the profiles need (``gammaln``, ``digamma``).

Examples
--------
>>> import bayesphot as bp
>>> bp.backend.use("torch")                     # for the session
>>> with bp.backend.using("jax"):               # for a block
...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from array_api_compat import array_namespace, is_jax_array, is_torch_array
from array_api_compat import device as _device_of

from .errors import BackendError

Array = Any
BACKENDS = ("jax", "torch")


@dataclass(frozen=True)
class Backend:
    """An array library with a device and a floating dtype.

    Parameters
    ----------
    name : {"jax", "torch"}
    device : str or None
        ``"cpu"``, ``"cuda"`` or None (the library's default: CUDA when found).
    dtype : {"float64", "float32"}
    """

    name: str
    device: str | None = None
    dtype: str = "float64"

    @property
    def lib(self) -> Any:
        """The imported library module (``jax.numpy`` or ``torch``)."""
        if self.name == "jax":
            import jax.numpy as jnp

            return jnp
        import torch

        return torch

    @property
    def xp(self) -> Any:
        """The array-API namespace of this backend."""
        return array_namespace(self.asarray(0.0))

    @property
    def float_dtype(self) -> Any:
        return getattr(self.lib, self.dtype)

    def _torch_device(self) -> Any:
        import torch

        if self.device is None:
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _jax_device(self) -> Any:
        import jax

        if self.device is None:
            return None
        platform = "gpu" if self.device.startswith("cuda") else self.device
        try:
            return jax.devices(platform)[0]
        except RuntimeError as exc:
            raise BackendError(f"JAX has no {self.device!r} device: {exc}") from exc

    def asarray(self, x: Any, dtype: Any = None) -> Array:
        """``x`` as an array of this backend (floating dtype unless given)."""
        dtype = self.float_dtype if dtype is None else dtype
        if self.name == "jax":
            import jax

            arr = self.lib.asarray(np.asarray(x) if not is_jax_array(x) else x, dtype=dtype)
            dev = self._jax_device()
            return jax.device_put(arr, dev) if dev is not None else arr
        import torch

        if is_torch_array(x):
            return x.to(device=self._torch_device(), dtype=dtype)
        return torch.as_tensor(np.asarray(x), dtype=dtype, device=self._torch_device())

    def grad(self, f: Callable[[Array], Array]) -> Callable[[Array], Array]:
        """Gradient of a scalar function of one vector argument."""
        if self.name == "jax":
            import jax

            return jax.grad(f)
        from torch.func import grad

        return grad(f)

    def value_and_grad(self, f: Callable[[Array], Array]) -> Callable[[Array], tuple[Array, Array]]:
        """``(f(x), ∇f(x))`` in one pass."""
        if self.name == "jax":
            import jax

            return jax.value_and_grad(f)
        from torch.func import grad_and_value

        g = grad_and_value(f)
        return lambda x: tuple(reversed(g(x)))

    def jacfwd(self, f: Callable[[Array], Array]) -> Callable[[Array], Array]:
        """Forward-mode Jacobian (cheap for few parameters, many pixels)."""
        if self.name == "jax":
            import jax

            return jax.jacfwd(f)
        from torch.func import jacfwd

        return jacfwd(f)

    def jit(self, f: Callable) -> Callable:
        """JIT-compile ``f`` on JAX; torch runs eagerly (compile is opt-in)."""
        if self.name == "jax":
            import jax

            return jax.jit(f)
        return f


_current = Backend("jax")


def _configure(backend: Backend) -> Backend:
    if backend.name not in BACKENDS:
        raise BackendError(f"unknown backend {backend.name!r}; choose one of {BACKENDS}")
    if backend.dtype not in ("float64", "float32"):
        raise BackendError(f"dtype must be 'float64' or 'float32', not {backend.dtype!r}")
    try:
        if backend.name == "jax":
            import jax

            if backend.dtype == "float64":
                jax.config.update("jax_enable_x64", True)
        else:
            import importlib

            importlib.import_module("torch")
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise BackendError(f"backend {backend.name!r} is not installed: {exc}") from exc
    if backend.name == "torch" and backend.device and backend.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise BackendError("device='cuda' was asked for but torch finds no CUDA device")
    return backend


def use(name: str = "jax", device: str | None = None, dtype: str = "float64") -> Backend:
    """Set the backend for the session and return it."""
    global _current
    _current = _configure(Backend(name, device, dtype))
    return _current


@contextlib.contextmanager
def using(name: str, device: str | None = None, dtype: str = "float64") -> Iterator[Backend]:
    """Use a backend inside a ``with`` block, restoring the previous one after."""
    global _current
    previous = _current
    _current = _configure(Backend(name, device, dtype))
    try:
        yield _current
    finally:
        _current = previous


def current() -> Backend:
    """The backend in force."""
    return _current


def with_dtype(dtype: str) -> Backend:
    """The current backend in another precision (used by float32 checks)."""
    return _configure(replace(_current, dtype=dtype))


def namespace(*arrays: Array) -> Any:
    """Array-API namespace of the given arrays."""
    return array_namespace(*arrays)


__all__ = ["Backend", "current", "device_of", "is_jax_array", "namespace", "to_numpy", "use", "using"]


def device_of(x: Array) -> Any:
    """The device new arrays should be created on to combine with ``x``.

    torch: ``x``'s device (a CPU tensor next to a CUDA one is an error).  JAX:
    None, i.e. the default placement, which JAX moves to a committed operand's
    device outside ``jit`` and which is the computation's device inside it (a
    tracer's device is not a placement to copy).
    """
    if is_jax_array(x):
        return None
    return _device_of(x)


def to_numpy(x: Array) -> np.ndarray:
    """Copy any backend array to a float64 numpy array on the host."""
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def stop_gradient(x: Array) -> Array:
    """Treat ``x`` as a constant for autodiff."""
    if is_torch_array(x):
        return x.detach()
    if is_jax_array(x):
        import jax

        return jax.lax.stop_gradient(x)
    return x


def correlate_valid(image: Array, kernel: np.ndarray) -> Array:
    """2-D cross-correlation of ``image`` (rows, cols) with a small numpy ``kernel``, "valid" part only.

    Out[i, j] = Σ_kl kernel[k, l] · image[i + k, j + l], shape (rows − kh + 1, cols − kw + 1).  One
    library convolution (outside the array-API standard): XLA on a CPU runs a 5 × 5 stencil written as
    25 shifted slices about 2.6× slower than as one convolution, value and gradient together.
    """
    kh, kw = kernel.shape
    if is_torch_array(image):
        import torch

        k = torch.as_tensor(np.ascontiguousarray(kernel), dtype=image.dtype, device=image.device)
        return torch.nn.functional.conv2d(image[None, None], k[None, None])[0, 0]
    if is_jax_array(image):
        import jax
        import jax.numpy as jnp

        k = jnp.asarray(kernel, dtype=image.dtype)
        return jax.lax.conv(image[None, None], k[None, None], (1, 1), "VALID")[0, 0]
    # numpy: a program evaluated on numpy values (tests/test_catalog_sample.py reaches this)
    rows, cols = image.shape
    out = np.zeros((rows - kh + 1, cols - kw + 1), dtype=np.result_type(image, kernel))
    for a in range(kh):
        for b in range(kw):
            out += kernel[a, b] * image[a:a + rows - kh + 1, b:b + cols - kw + 1]
    return out


def add_at(target: Array, index: Array, values: Array) -> Array:
    """A copy of 1-D ``target`` with ``values`` added at integer positions ``index`` (no in-place write).

    Repeated indices accumulate.  Outside the array-API standard: ``Tensor.index_add``
    on torch, ``.at[].add`` on JAX; both are differentiable in ``target`` and ``values``,
    and their cost grows with ``index``'s length, not ``target``'s.
    """
    if is_torch_array(target):
        return target.index_add(0, index, values)
    if is_jax_array(target) or is_jax_array(values):
        import jax.numpy as jnp

        return jnp.asarray(target).at[index].add(values)
    # numpy: a program evaluated on numpy values (tests/test_catalog_sample.py reaches this)
    out = np.array(target, copy=True)
    np.add.at(out, np.asarray(index), np.asarray(values))
    return out


def gammaln(x: Array) -> Array:
    """log Γ(x) (outside the array-API standard)."""
    if is_torch_array(x):
        import torch

        return torch.special.gammaln(x)
    import jax.scipy.special as jsp

    return jsp.gammaln(x)


def digamma(x: Array) -> Array:
    """ψ(x) = d log Γ(x)/dx (outside the array-API standard)."""
    if is_torch_array(x):
        import torch

        return torch.special.digamma(x)
    import jax.scipy.special as jsp

    return jsp.digamma(x)


_configure(_current)
