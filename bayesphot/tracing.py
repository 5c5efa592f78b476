"""Pure functions that JAX traces once and reuses, inlined or as nested calls.

A function of arrays alone (no captured numbers) can be a ``jax.jit`` function:
JAX traces it once per argument shape and dtype, and every later call inside an
enclosing trace reuses the cached equations.  Whether the enclosing program
copies them (``inline=True``: the program XLA compiles is the same as without
the jit) or keeps one nested call (a few equations to trace and to key, see
:func:`bayesphot.structure.structure_text`) is chosen here:

* by default they are inlined: a fit compiles each structure once or a few
  times, and nested calls made the first LM of a 25-galaxy group compile about
  20 % longer;
* within :func:`nested_calls` (this thread), they stay nested: a batch of many
  objects of one structure traces every object and compiles once, so tracing
  is the cost that scales with the number of objects.

Torch and numpy arrays run the function directly.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from .backend import is_jax_array

_NESTED: ContextVar[bool] = ContextVar("bayesphot_nested_calls", default=False)

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def nested_calls() -> Iterator[None]:
    """Within this block (this thread), shared traces stay nested calls instead of being inlined."""
    token = _NESTED.set(True)
    try:
        yield
    finally:
        _NESTED.reset(token)


def inline() -> bool:
    """Whether shared traces are inlined here (False within :func:`nested_calls`)."""
    return not _NESTED.get()


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def traced_once(fn: F) -> F:
    """Decorator: on a JAX array, ``fn`` runs as a ``jax.jit`` function (inlined unless :func:`nested_calls`).

    The first argument must be a JAX array; the others JAX arrays or Python
    numbers, which JAX traces as arguments too (one trace serves every value;
    inside an enclosing trace they stay literals, which
    :func:`bayesphot.structure.lower` lifts into the program's numbers).
    ``fn`` must be pure in its positional arguments: it may not read numbers
    from anywhere else (they would be frozen into the shared trace).
    """
    jitted: dict[bool, Callable[..., Any]] = {}

    @functools.wraps(fn)
    def wrapper(*args: Any) -> Any:
        if not args or not is_jax_array(args[0]) or not all(is_jax_array(a) or _is_number(a) for a in args[1:]):
            return fn(*args)
        mode = inline()
        if mode not in jitted:
            import jax

            jitted[mode] = jax.jit(fn, inline=mode)
        return jitted[mode](*args)

    return wrapper  # type: ignore[return-value]


__all__ = ["inline", "nested_calls", "traced_once"]
