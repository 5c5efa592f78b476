"""Where a pixel rule's time goes: the render + gradient with its tiers switched on one by one.

On a GPU the default rule costs 1.35–1.81× the centre-sampled gradient (H200, 256²–2048²) although it adds
only 0–8 % of the brightness evaluations: there the time is kernels, not arithmetic.  This script times
JAX's compiled value and gradient of one Sérsic render (``benchmarks/render.py``'s profile) for a ladder of
rules, each adding one tier to the one before:

* ``centre``: one sample at each pixel centre;
* ``corrected midpoint``: the sixth-order finite-difference correction on every pixel;
* ``+near``: a 9² near-field block of 3 × 3 Gauss–Legendre nodes a pixel;
* ``+cusp 3`` / ``+cusp 2``: the graded cusp rule on 3 × 3 / 2 × 2 pixels (3 levels of 3 points);
* ``+base block``: the correction on a 25² block only; ``+laplacian``: the five-point Laplacian outside;

and counts the kernels of each compiled program (XLA's fusions, dots, gathers, scatters, copies … in the
optimised HLO: on a GPU each is a launch).  Times are medians over interleaved rounds (every rule once a
round), each call synchronised, so a drifting machine affects every rule alike.

Usage::

    python benchmarks/quadrature_ablation.py [--sizes 64 256] [--device cpu|cuda] [--rounds 40]

Results: a table on stdout and ``benchmarks/results/quadrature_ablation.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: the HLO instructions of a compiled program's entry computation that run as kernels of their own
KERNEL_OPS = ("fusion", "dot", "convolution", "custom-call", "copy", "dynamic-slice", "dynamic-update-slice",
              "gather", "scatter", "reduce", "pad", "concatenate", "slice", "transpose", "sort")


def ladder() -> dict[str, Any]:
    """The rules, each one tier more than the one before."""
    from bayesphot.render import QuadratureConfig as Q

    near = {"base_order": 0, "mid_block": 9, "mid_order": 3}
    cusp = {**near, "block": 3, "levels": 3, "order": 3}
    return {
        "centre": Q(base_order=1, mid_block=0, block=0),
        "corrected midpoint": Q(base_order=0, mid_block=0, block=0),
        "+near": Q(**near, block=0),
        "+cusp 3": Q(**cusp),
        "+cusp 2": Q(**{**cusp, "block": 2}),
        "+base block": Q(**cusp, base_block=25),
        "+laplacian": Q(**cusp, base_block=25, outer_order=2),
    }


def kernels(compiled: Any) -> int:
    """Kernels of a compiled program: the entry computation's instructions that launch one."""
    text = compiled.as_text()
    entry = text[text.index("ENTRY"):]
    pattern = re.compile(r" (" + "|".join(re.escape(op) for op in KERNEL_OPS) + r")\(")
    return sum(1 for line in entry.splitlines() if pattern.search(line))


def measure(size: int, device: str, rounds: int) -> list[dict[str, Any]]:
    """Kernels and median value-and-gradient time of every rule of the ladder at ``size``²."""
    import jax
    import jax.numpy as jnp
    from render import PARAMS, base_block_used, build_model

    import bayesphot as bp
    from bayesphot.render import quadrature_evaluations

    calls, rows = {}, []
    with bp.backend.using("jax", device=device) as be:
        w = be.asarray(np.random.default_rng(0).uniform(0.5, 1.5, (size, size)))
        for label, rule in ladder().items():
            model, theta = build_model(size, False, rule)
            if rule.base_block and not base_block_used(rule, model, False):
                continue  # too small an image for a base block: the same program as the rung before
            vec = be.asarray(theta)

            def loss(v: Any, model: Any = model) -> Any:
                return jnp.sum(model.sample_image({k: v[i] for i, k in enumerate(PARAMS)}) * w)

            fn = jax.jit(jax.value_and_grad(loss))
            compiled = fn.lower(vec).compile()
            jax.block_until_ready(fn(vec))
            calls[label] = (fn, vec)
            rows.append({"size": size, "rule": label, "kernels": kernels(compiled),
                         "evaluations": quadrature_evaluations(rule, (size, size)), "times": []})
    for _ in range(rounds):
        for row in rows:
            fn, vec = calls[row["rule"]]
            t0 = time.perf_counter()
            jax.block_until_ready(fn(vec))
            row["times"].append(time.perf_counter() - t0)
    centre = statistics.median(rows[0]["times"])
    for row in rows:
        row["median_s"] = statistics.median(row.pop("times"))
        row["ratio_to_centre"] = row["median_s"] / centre
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--device", default="cpu", help="'cpu' or 'cuda'")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "quadrature_ablation.json")
    args = parser.parse_args()

    import jax

    rows = []
    for size in args.sizes:
        rows += measure(size, args.device, args.rounds)
    print(f"{'size':>6} {'rule':20s} {'kernels':>8} {'evals':>9} {'ms':>8} {'ratio':>6}")
    for r in rows:
        print(f"{r['size']:>5}² {r['rule']:20s} {r['kernels']:8d} {r['evaluations']:9d} "
              f"{1e3 * r['median_s']:8.3f} {r['ratio_to_centre']:6.2f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "quadrature_ablation", "device": args.device,
                                    "jax_device": str(jax.devices(None if args.device == "cpu" else "gpu")[0]),
                                    "machine": platform.platform(), "rounds": args.rounds,
                                    "created": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, indent=1))
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
