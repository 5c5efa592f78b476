"""How many 64² stamps an hour NUTS can give on this CPU, from the cost of one gradient and their count.

Objects per hour with full NUTS posteriors (4 chains × (200 + 500), Laplace mass matrix) is at most

    3600 s / (gradients per object × seconds per gradient / speed-up of the chain threads)

whatever happens around the sampler. This script measures each factor on ``benchmarks/sampling.py``'s
first stamp, side by side in one process:

* **seconds per gradient**, inside a compiled loop (no dispatch: what NUTS pays per leapfrog step, less
  its own bookkeeping), for
  - ``minimal``: a hand-written centre-sampled Sérsic + sky (the cheapest model of this image),
  - ``centre``: bayesphot's log-density with pixels sampled at their centres,
  - ``bayesphot``: bayesphot's log-density with the quadrature its rule chooser picks (the default);
* **gradients per object** and **sampling seconds**, one stamp sampled with the chains on one thread
  and on one thread per core (compiled beforehand, so neither includes compilation).

Usage::

    python benchmarks/cpu_bound.py [--repeats 5]

Results: a table on stdout and ``benchmarks/results/cpu_bound.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = Path(__file__).resolve().parent / "results"
LOOP = 500  # gradients per timed compiled loop


def minimal_model(data: np.ndarray, sigma: float) -> tuple[Any, Any]:
    """A hand-written centre-sampled Sérsic + sky log-likelihood of ``data`` and a start (JAX)."""
    import jax.numpy as jnp

    rows, cols = data.shape
    yy, xx = jnp.meshgrid(jnp.arange(rows, dtype=float), jnp.arange(cols, dtype=float), indexing="ij")
    d = jnp.asarray(data)

    def log_likelihood(p: Any) -> Any:
        x, y, q, pa, n, re, ie, sky = p
        c, s = jnp.cos(pa), jnp.sin(pa)
        dx, dy = xx - x, yy - y
        u = dx * c + dy * s
        v = (dy * c - dx * s) / q
        r = jnp.sqrt(u * u + v * v + 1e-12)
        b = 2.0 * n - 1.0 / 3.0 + 4.0 / (405.0 * n)
        model = ie * jnp.exp(-b * (jnp.exp(jnp.log(r / re) / n) - 1.0)) + sky
        z = (d - model) / sigma
        return -0.5 * jnp.sum(z * z)

    start = jnp.asarray([(cols - 1) / 2, (rows - 1) / 2, 0.7, 1.0, 2.0, 4.0, 10.0, 5.0])
    return log_likelihood, start


def gradient_loop(fn: Any, start: Any, *extra: Any) -> Any:
    """A compiled loop of LOOP value-and-gradient calls of ``fn(*extra, u)`` (returns the final point)."""
    import jax

    value_and_grad = jax.value_and_grad(lambda u: fn(*extra, u))

    @jax.jit
    def loop(u: Any) -> Any:
        def body(_: int, point: Any) -> Any:
            _, grad = value_and_grad(point)
            return point + 1e-12 * grad  # a dependent chain: nothing can be hoisted out of the loop
        return jax.lax.fori_loop(0, LOOP, body, u)

    jax.block_until_ready(loop(start))
    return lambda: jax.block_until_ready(loop(start))


def bayesphot_loop(quadrature: Any | None) -> tuple[Any, dict]:
    """The loop for the stamp's log-density (``quadrature`` None: the chosen rule)."""
    import jax.numpy as jnp
    from sampling import stamp

    from bayesphot.models import default_priors
    from bayesphot.program import Program

    group = stamp(1000)
    if quadrature is not None:
        group["gal"].quadrature = quadrature
    program = Program(group, priors=default_priors(group))
    lowered = program.lower("log_density")
    rule = group["gal"].quadrature
    call = gradient_loop(lowered.evaluator(), jnp.asarray(program.free.unconstrained()), lowered.params)
    return call, {"rule": {k: getattr(rule, k) for k in rule.__dataclass_fields__}}


def gradient_seconds(repeats: int) -> dict[str, Any]:
    """Seconds per gradient in a compiled loop for the three models, interleaved (median of ``repeats``)."""
    from sampling import NOISE, stamp

    from bayesphot.render import QuadratureConfig

    data = stamp(1000)["gal"].target.data
    minimal, start = minimal_model(np.asarray(data), NOISE)
    loops = {"minimal": (gradient_loop(minimal, start), {})}
    loops["centre"] = bayesphot_loop(QuadratureConfig(base_order=1, mid_block=0, block=0))
    loops["bayesphot"] = bayesphot_loop(None)
    times: dict[str, list[float]] = {name: [] for name in loops}
    for _ in range(repeats):
        for name, (call, _) in loops.items():
            t0 = time.perf_counter()
            call()
            times[name].append((time.perf_counter() - t0) / LOOP)
    return {name: {"seconds": float(np.median(times[name])), "all": times[name], **loops[name][1]}
            for name in loops}


def sampling_seconds(threads: int) -> dict[str, Any]:
    """One stamp, 4 chains × (200 + 500), the chains on ``threads`` threads (compiled beforehand)."""
    from sampling import stamp

    import bayesphot as bp
    import bayesphot.infer._numpyro as engine

    original = engine.cpu_threads
    engine.cpu_threads = lambda tasks: max(1, min(tasks, threads))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            post = bp.infer.NUTS(stamp(1000), chains=4, warmup=200, draws=500, seed=0, progress=False).run()
    finally:
        engine.cpu_threads = original
    return {"threads": threads, "sampling_s": float(post.attrs["sampling_seconds"]),
            "gradients": int(post.attrs["gradient_evaluations"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS / "cpu_bound.json"))
    args = parser.parse_args()

    import jax

    jax.config.update("jax_enable_x64", True)
    grads = gradient_seconds(args.repeats)
    with warnings.catch_warnings():  # compile the sampler first: the timed runs below compile nothing
        warnings.simplefilter("ignore")
        sampling_seconds(1)
    cores = os.cpu_count() or 1
    runs = [sampling_seconds(1), sampling_seconds(cores)]
    one, many = runs
    speedup = (one["sampling_s"] / one["gradients"]) / (many["sampling_s"] / many["gradients"])
    per_object = float(np.mean([r["gradients"] for r in runs]))
    bounds = {name: 3600.0 / (per_object * g["seconds"] / speedup) for name, g in grads.items()}
    measured = 3600.0 / many["sampling_s"]
    out = {"benchmark": "cpu_bound", "machine": platform.platform(), "cores": cores,
           "python": platform.python_version(), "jax": jax.__version__,
           "created": time.strftime("%Y-%m-%d %H:%M:%S"), "loop": LOOP,
           "gradient_seconds": grads, "sampling": runs, "thread_speedup": speedup,
           "gradients_per_object": per_object, "objects_per_hour_bound": bounds,
           "objects_per_hour_sampling_only": measured}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))

    print(f"{'model':>10} | {'ms per gradient':>15} | {'× minimal':>9} | {'objects/h at most':>17}")
    for name, g in grads.items():
        print(f"{name:>10} | {1e3 * g['seconds']:15.3f} | {g['seconds'] / grads['minimal']['seconds']:9.2f} | "
              f"{bounds[name]:17.0f}")
    print(f"NUTS, one stamp: {per_object:.0f} gradients per object; chains on {cores} threads "
          f"{speedup:.2f}× as fast per gradient as on one; bayesphot's sampling alone: {measured:.0f} objects/h")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
