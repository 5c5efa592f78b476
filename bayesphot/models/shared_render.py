"""One traced pixel render per (model class, rule, grid shape, pixel size), shared by every object.

Tracing a Sérsic render for JAX binds about 600 primitives and takes 60–80 ms on
a CPU, and every object of a catalog, every fresh model of a fit and every
stamp of a batch used to pay it again: the numbers of an object (its parameter
values, where its grid starts) were closed over, so nothing could be reused.

Here the render is a ``jax.jit`` function of exactly those numbers — the
parameter values ``p`` and the grid origin ``(x0, y0)`` — with everything that
shapes the computation fixed when it is built: the model class, its quadrature
rule, the grid's shape and pixel size.  JAX traces it once per such key and
reuses the trace; ``inline=True`` copies the cached equations into the
enclosing program (about 10 ms instead of 60–80 ms of tracing), so the programs
XLA compiles are the same as before.  (Left as nested calls, they made the first
LM of a 25-galaxy group compile 20 % longer.)

Where many objects of one structure are lowered and each structure is compiled
once — a batch of stamps (:mod:`bayesphot.infer.batch`) — tracing is the cost
that scales with the number of objects, so within :func:`bayesphot.tracing.nested_calls`
each render stays a nested call: the enclosing program then holds one equation
for it, and its structure key digests the cached render once
(:func:`bayesphot.structure.structure_text`).

Only classes that declare ``render_is_pure = True`` *in their own body* take
this path: their ``prepare``, ``brightness`` and ``profile_center`` read
nothing but ``p``.  The function is built on an instance created without
``__init__``, so a method that did read instance state would fail loudly
(``AttributeError`` while tracing) instead of sharing one object's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from ..backend import Array
from ..render import PixelGrid, QuadratureConfig, integrate_pixels
from ..tracing import inline


def shares_render(cls: type) -> bool:
    """True when ``cls`` itself declares that its render reads nothing but the parameter values."""
    return bool(cls.__dict__.get("render_is_pure", False))


@lru_cache(maxsize=256)
def _shared(cls: type, quadrature: QuadratureConfig, shape: tuple[int, int], step: float,
            inline: bool = True) -> Callable[..., Array]:
    import jax

    stateless = object.__new__(cls)

    def render(p: Mapping[str, Array], x0: Array, y0: Array) -> Array:
        q = cls.prepare(stateless, p)
        grid = PixelGrid(x0, y0, step, shape)
        return integrate_pixels(lambda x, y: cls.brightness(stateless, q, x, y), grid,
                                cls.profile_center(stateless, q), quadrature)

    return jax.jit(render, inline=inline)


def shared_render(model: Any, p: Mapping[str, Array], grid: PixelGrid) -> Array:
    """Flux per pixel of ``model`` with values ``p`` on ``grid`` (JAX), through the shared traced render.

    Parameters
    ----------
    model : Model
        An instance of a class for which :func:`shares_render` is true.
    p : mapping
        Parameter name → JAX array (parameter units).
    grid : PixelGrid
        Pixel centres (arcsec); its origin is an argument, its shape and step are part of the key.

    Returns
    -------
    JAX array of ``grid.shape`` (flux per pixel).
    """
    fn = _shared(type(model), model.quadrature, tuple(grid.shape), float(grid.step), inline())
    return fn(dict(p), grid.x0, grid.y0)


__all__ = ["shared_render", "shares_render"]
