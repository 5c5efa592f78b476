"""Compile once per structure: JAX functions keyed by what they compute, not by which object.

A model's log-density is a Python closure over its object: data, weights, the
pixel grid of its window, fixed parameter values and limits.  Handing such a
closure to ``jax.jit`` bakes every one of those numbers into the compiled
program, so a second galaxy of the same kind — or the same galaxy in a fresh
model object — compiles everything again.

:func:`lower` traces a function once to a jaxpr (cheap: Python only, no XLA
compilation) and separates *structure* from *numbers*:

* array constants captured by the closure (the jaxpr's consts), and
* scalar literals at the top level of the jaxpr (window offsets, limits,
  pixel scale, fixed values, …)

become explicit arguments (``Lowered.params``).  What is left — the sequence of
primitives, shapes, dtypes, and literals inside nested sub-programs — is the
*structure*, hashed into ``Lowered.key``.  Two objects whose programs differ
only in those numbers share one key and therefore one compiled function
(:func:`compiled`), which takes ``(params, *args)``.  Nothing is guessed: any
difference the lifting does not cover (a literal inside a nested program, a
shape) changes the key and gives a separate compilation, so sharing is always
correct.

JAX's persistent compilation cache (:func:`enable_persistent_cache`) is switched
on the first time a function is lowered, under the user's cache directory
(``$BAYESPHOT_CACHE_DIR`` or ``$XDG_CACHE_HOME/bayesphot/jax``, else
``~/.cache/bayesphot/jax``); set ``BAYESPHOT_JAX_CACHE=0`` to switch it off.
A second process then loads compiled programs instead of compiling them.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

_LOCK = threading.RLock()
_EVALUATORS: OrderedDict[str, Callable[..., Any]] = OrderedDict()
_TRANSFORMED: OrderedDict[tuple, Callable[..., Any]] = OrderedDict()
_MAX_ENTRIES = 256
_PERSISTENT: dict[str, Any] = {"done": False, "path": None}

#: how many structures were lowered for the first time (one XLA compilation each per transform)
STATS = {"lowered": 0, "reused": 0}


def cache_directory() -> Path | None:
    """Where JAX's persistent compilation cache lives, or None when switched off."""
    if os.environ.get("BAYESPHOT_JAX_CACHE", "1").strip().lower() in ("0", "off", "false", "no"):
        return None
    if os.environ.get("BAYESPHOT_CACHE_DIR"):
        return Path(os.environ["BAYESPHOT_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "bayesphot" / "jax"


def enable_persistent_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Switch on JAX's persistent compilation cache (once per process).

    Parameters
    ----------
    path : path, optional
        Directory of the cache; default :func:`cache_directory`.

    Returns
    -------
    The directory used, or None when the cache is switched off or could not be set.
    """
    with _LOCK:
        if _PERSISTENT["done"] and path is None:
            return _PERSISTENT["path"]
        _PERSISTENT["done"] = True
        directory = Path(path) if path is not None else cache_directory()
        if directory is None:
            return None
        import jax

        try:
            directory.mkdir(parents=True, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", str(directory))
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        except Exception:  # read-only home, an old JAX: compile without a persistent cache
            return None
        _PERSISTENT["path"] = directory
        return directory


def _core() -> Any:
    try:
        from jax.extend import core
    except ImportError:  # pragma: no cover - older JAX
        from jax import core
    return core


@dataclass
class Lowered:
    """A traced function split into structure (``key``) and numbers (``params``).

    Attributes
    ----------
    key : str
        Hash of the structure; equal keys evaluate with the same compiled code.
    params : tuple of arrays
        Captured constants and lifted literals, the first argument of the
        evaluator (:func:`compiled`).
    out_tree : pytree definition
        Structure of the function's output.
    """

    key: str
    params: tuple[Any, ...]
    out_tree: Any
    n_args: int

    def evaluator(self) -> Callable[..., Any]:
        """The pure function ``f(params, *args)`` shared by every object of this structure."""
        return _EVALUATORS[self.key]

    def __call__(self, *args: Any) -> Any:
        return self.evaluator()(self.params, *args)


def _lift_literals(jaxpr: Any) -> tuple[Any, list[Any]]:
    """Replace scalar literals among the top-level equations' inputs by new constant variables."""
    core = _core()
    new_vars: list[Any] = []
    values: list[Any] = []
    eqns = []
    for eqn in jaxpr.eqns:
        invars = []
        changed = False
        for var in eqn.invars:
            if isinstance(var, core.Literal) and np.ndim(var.val) == 0:
                new = core.Var(var.aval)
                new_vars.append(new)
                values.append(np.asarray(var.val, dtype=var.aval.dtype))
                invars.append(new)
                changed = True
            else:
                invars.append(var)
        eqns.append(eqn.replace(invars=invars) if changed else eqn)
    lifted = jaxpr.replace(constvars=list(jaxpr.constvars) + new_vars, eqns=eqns)
    return lifted, values


def _param_text(value: Any, memo: dict[int, tuple[Any, str]]) -> str:
    """A parameter of an equation as text; a nested jaxpr as the digest of its own text and constants."""
    core = _core()
    if isinstance(value, core.ClosedJaxpr | core.Jaxpr):
        hit = memo.get(id(value))
        if hit is None:
            if isinstance(value, core.ClosedJaxpr):
                consts = [hashlib.sha256(np.ascontiguousarray(np.asarray(c)).tobytes()).hexdigest()
                          + f"{np.shape(c)}{np.asarray(c).dtype}" for c in value.consts]
                text = _jaxpr_text(value.jaxpr, memo) + "consts:" + ",".join(consts)
            else:
                text = _jaxpr_text(value, memo)
            hit = (value, hashlib.sha256(text.encode()).hexdigest())  # the object is kept: its id stays unique
            memo[id(value)] = hit
        return f"jaxpr:{hit[1]}"
    if isinstance(value, tuple | list):
        return "(" + ",".join(_param_text(v, memo) for v in value) + ")"
    return repr(value)


def _jaxpr_text(jaxpr: Any, memo: dict[int, tuple[Any, str]]) -> str:
    """Everything a jaxpr computes, as text: primitives, parameters, variable wiring, literal values, types."""
    core = _core()
    names: dict[Any, int] = {}

    def var(v: Any) -> str:
        if isinstance(v, core.Literal):
            return f"L{v.val!r}:{v.aval}"
        if v not in names:
            names[v] = len(names)
        return f"v{names[v]}:{v.aval}"

    parts = ["c:" + ",".join(var(v) for v in jaxpr.constvars), "i:" + ",".join(var(v) for v in jaxpr.invars)]
    for eqn in jaxpr.eqns:
        params = ",".join(f"{k}={_param_text(v, memo)}" for k, v in sorted(eqn.params.items()))
        parts.append(f"{eqn.primitive.name}[{params}]({','.join(var(v) for v in eqn.invars)})"
                     f"->{','.join(var(v) for v in eqn.outvars)}")
    parts.append("o:" + ",".join(var(v) for v in jaxpr.outvars))
    return ";".join(parts)


_TEXT_MEMO: dict[int, tuple[Any, str]] = {}


def structure_text(jaxpr: Any) -> str:
    """What ``str(jaxpr)`` says for a key, without pretty-printing a nested jaxpr each time it occurs.

    Primitives, parameters (``repr``), the wiring of variables, literal values and
    types; a nested jaxpr (a shared render kept as a call, a loop body) by the
    digest of its own text and the values of its constants, memoised by object,
    so the render that every stamp of a batch calls is digested once.
    """
    with _LOCK:
        if len(_TEXT_MEMO) > 4096:
            _TEXT_MEMO.clear()
        return _jaxpr_text(jaxpr, _TEXT_MEMO)


def _device_params(values: Sequence[Any]) -> tuple[Any, ...]:
    """numpy values on the default device in one transfer (one call per array took ~0.2 ms each)."""
    import jax

    host = [i for i, v in enumerate(values) if isinstance(v, np.ndarray | np.generic)]
    moved = jax.device_put([np.asarray(values[i]) for i in host])
    out = list(values)
    for i, value in zip(host, moved, strict=True):
        out[i] = value
    return tuple(out)


def lower(fn: Callable[..., Any], *example_args: Any) -> Lowered:
    """Trace ``fn(*example_args)`` (JAX) and split it into structure and numbers.

    Parameters
    ----------
    fn : callable
        A pure JAX function of arrays (e.g. ``Program.log_density``).
    *example_args : arrays
        Arguments of the shapes and dtypes it will be called with.

    Returns
    -------
    Lowered
        Callable as ``lowered(*args)``; ``lowered.key`` names its compiled code.
    """
    import jax

    enable_persistent_cache()
    closed, out_shape = jax.make_jaxpr(fn, return_shape=True)(*example_args)
    out_tree = jax.tree_util.tree_structure(out_shape)
    lifted, literal_values = _lift_literals(closed.jaxpr)
    text = structure_text(lifted)
    flags = (jax.config.jax_enable_x64, jax.default_backend(), str(out_tree))
    key = hashlib.sha256((text + repr(flags)).encode()).hexdigest()
    # the literals travel packed, one vector per dtype (each array put on the device alone cost ~0.1 ms,
    # 250 literals per stamp); the packing follows the literals' dtypes, which the key already fixes
    layout = [str(v.dtype) for v in literal_values]
    dtypes = sorted(set(layout))
    packed = tuple(np.array([v for v, d in zip(literal_values, layout, strict=True) if d == t], dtype=t)
                   for t in dtypes)
    seen = dict.fromkeys(dtypes, 0)
    slots = []
    for d in layout:
        slots.append((dtypes.index(d), seen[d]))
        seen[d] += 1
    n_consts = len(closed.consts)
    params = tuple(closed.consts) + packed
    with _LOCK:
        if key in _EVALUATORS:
            _EVALUATORS.move_to_end(key)
            STATS["reused"] += 1
        else:
            core = _core()
            n_out = len(lifted.outvars)

            def evaluate(params: Sequence[Any], *args: Any, _jaxpr: Any = lifted, _tree: Any = out_tree) -> Any:
                flat_args = jax.tree_util.tree_leaves(args)
                consts = list(params[:n_consts]) + [params[n_consts + j][i] for j, i in slots]
                out = core.jaxpr_as_fun(core.ClosedJaxpr(_jaxpr, consts))(*flat_args)
                return jax.tree_util.tree_unflatten(_tree, list(out)[:n_out])

            _EVALUATORS[key] = evaluate
            STATS["lowered"] += 1
            while len(_EVALUATORS) > _MAX_ENTRIES:
                _EVALUATORS.popitem(last=False)
    return Lowered(key=key, params=_device_params(params), out_tree=out_tree, n_args=len(example_args))


def compiled(lowered: Lowered, transform: str = "value", **options: Any) -> Callable[..., Any]:
    """The jitted ``transform`` of a lowered function, cached by (structure, transform).

    Parameters
    ----------
    lowered : Lowered
    transform : {"value", "value_and_grad", "grad", "hessian", "jacfwd", "vmap_value"}
        What to compile; each returns a function ``g(params, *args)``.
        "vmap_value" maps over a leading axis of the first argument (draws).
    **options
        Hashable extras folded into the cache key (e.g. a batch size).

    Returns
    -------
    callable ``g(params, *args)``
    """
    import jax

    cache_key = (lowered.key, transform, tuple(sorted(options.items())))
    with _LOCK:
        fn = _TRANSFORMED.get(cache_key)
        if fn is not None:
            _TRANSFORMED.move_to_end(cache_key)
            return fn
    evaluate = lowered.evaluator()
    if transform == "value":
        fn = jax.jit(evaluate)
    elif transform == "value_and_grad":
        fn = jax.jit(jax.value_and_grad(evaluate, argnums=1))
    elif transform == "grad":
        fn = jax.jit(jax.grad(evaluate, argnums=1))
    elif transform == "hessian":
        fn = jax.jit(jax.hessian(evaluate, argnums=1))
    elif transform == "jacfwd":
        fn = jax.jit(jax.jacfwd(evaluate, argnums=1))
    elif transform == "vmap_value":
        fn = jax.jit(jax.vmap(evaluate, in_axes=(None, 0)))
    else:
        raise ValueError(f"unknown transform {transform!r}")
    with _LOCK:
        _TRANSFORMED[cache_key] = fn
        while len(_TRANSFORMED) > 4 * _MAX_ENTRIES:
            _TRANSFORMED.popitem(last=False)
    return fn


def on_cpu(params: Any) -> bool:
    """Whether the arrays ``params`` (a pytree; numpy counts as the default device) live on a CPU."""
    import jax

    for leaf in jax.tree_util.tree_leaves(params):
        devices = getattr(leaf, "devices", None)
        if callable(devices):
            return all(d.platform == "cpu" for d in devices())
    return jax.default_backend() == "cpu"


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` through code compiled once per structure (JAX arrays in, JAX arrays out).

    For one-off evaluations (a figure's model image, a plotted profile): run op
    by op, JAX compiles every primitive of a pixel quadrature on first use
    (≈ 15 s for one Sérsic on two cores), while the lowered function compiles
    once and is shared by every model of the same structure.
    """
    lowered = lower(fn, *args)
    return compiled(lowered, "value")(lowered.params, *args)


def clear() -> None:
    """Forget every lowered structure and compiled function (testing, memory)."""
    with _LOCK:
        _EVALUATORS.clear()
        _TRANSFORMED.clear()
        STATS["lowered"] = 0
        STATS["reused"] = 0


__all__ = ["STATS", "Lowered", "cache_directory", "clear", "compiled", "enable_persistent_cache", "lower"]
