"""Samplers for batches of 64² stamps: what a vectorised program's lockstep would cost, and ESS per gradient.

A vectorised NUTS program (an accelerator) steps all its lanes (objects × chains) together, so each
iteration lasts as long as the longest trajectory among them. Chain by chain on the CPU every lane's
trajectory lengths are recorded, so the lockstep cost of one program holding all of them can be
computed without an accelerator: Σ over draws of the longest trajectory among the lanes, against the
mean. Configurations (``bp.infer.NUTS`` / ``bp.infer.HMC`` over a list of ``benchmarks/sampling.py``
stamps, 4 chains × (200 + 500), Laplace mass matrix):

* ``nuts``: the default (maximum tree depth 10);
* ``nutsdepth5``: NUTS with trees of at most 31 leapfrog steps;
* ``hmc``: HMC with bayesphot's default trajectory of length π/2 (a quarter period of a standard
  Gaussian in the whitened coordinates the Laplace mass matrix makes), as many steps as the lane's
  step size needs;
* ``hmc3``, ``hmc6``: HMC with a fixed number of leapfrog steps (every lane the same: no lockstep waste),
  step size tuned in warm-up, so the trajectory's length is whatever that step size makes it.

Usage::

    python benchmarks/lockstep.py [--stamps 24] [--configs nuts hmc3 hmc6 nutsdepth5]

Results: one line per configuration, a table, and ``benchmarks/results/lockstep.json`` (a re-run
replaces the rows of the configurations it runs).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
RESULTS = Path(__file__).resolve().parent / "results"


def run(config: str, count: int) -> dict[str, Any]:
    """Sample ``count`` stamps with ``config``; diagnostics, gradients and lockstep cost."""
    import arviz as az
    from sampling import stamp

    import bayesphot as bp

    groups = [stamp(1000 + i) for i in range(count)]
    settings: dict[str, Any] = {"chains": 4, "warmup": 200, "draws": 500, "seed": 0, "progress": False}
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if config == "nuts":
            posts = bp.infer.NUTS(groups, **settings).run()
        elif config.startswith("nutsdepth"):
            posts = bp.infer.NUTS(groups, max_tree_depth=int(config[len("nutsdepth"):]), **settings).run()
        elif config == "hmc":
            posts = bp.infer.HMC(groups, **settings).run()
        elif config.startswith("hmc"):
            posts = bp.infer.HMC(groups, num_steps=int(config[len("hmc"):]), **settings).run()
        else:
            raise ValueError(f"unknown configuration {config!r}")
    wall = time.perf_counter() - t0
    ess, rhat, grads, steps = [], [], [], []
    for p in posts:
        ess.append(min(float(np.min(az.ess(p.idata, var_names=p.names, method="bulk")[n].values)) for n in p.names))
        rhat.append(max(float(np.max(az.rhat(p.idata, var_names=p.names)[n].values)) for n in p.names))
        grads.append(float(p.attrs["gradient_evaluations"]))
        steps.append(np.asarray(p.idata.sample_stats["n_steps"].values))
    lanes = np.concatenate(steps)  # (objects × chains, draws)
    ess_a, grads_a = np.array(ess), np.array(grads)
    return {"config": config, "stamps": count, "wall_s": wall,
            "rhat_ok": float(np.mean(np.array(rhat) <= 1.01)), "median_min_ess": float(np.median(ess_a)),
            "p10_min_ess": float(np.percentile(ess_a, 10)),
            "flagged": float(np.mean([bool(p.issues) for p in posts])),
            "gradients_per_object": float(grads_a.mean()),
            "min_ess_per_1000_gradients": float(np.median(ess_a / grads_a * 1000.0)),
            "steps_per_draw_mean_lane": float(lanes.mean()),
            "steps_per_draw_lockstep": float(lanes.max(axis=0).mean()),
            "lockstep_factor": float(lanes.max(axis=0).sum() / lanes.mean(axis=0).sum()),
            "max_steps": int(lanes.max())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stamps", type=int, default=24)
    parser.add_argument("--configs", nargs="+", default=["nuts", "hmc", "hmc3", "hmc6", "nutsdepth5"])
    parser.add_argument("--out", type=Path, default=RESULTS / "lockstep.json")
    args = parser.parse_args()
    # a re-run replaces the rows of its configurations and keeps the others
    rows = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    for config in args.configs:
        rows = [r for r in rows if not (r["config"] == config and r["stamps"] == args.stamps)]
        rows.append(run(config, args.stamps))
        print(json.dumps(rows[-1]), flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"benchmark": "lockstep", "machine": platform.platform(),
                                        "processor": platform.processor(), "rows": rows}, indent=1) + "\n")
    print(f"\n{'config':>11s} {'r̂≤1.01':>7s} {'med ESS':>8s} {'p10 ESS':>8s} {'flagged':>7s} {'grads/obj':>9s} "
          f"{'ESS/1k grads':>12s} {'steps':>6s} {'lockstep':>8s} {'factor':>6s}")
    for r in rows:
        print(f"{r['config']:>11s} {r['rhat_ok']:7.2f} {r['median_min_ess']:8.0f} {r['p10_min_ess']:8.0f} "
              f"{r['flagged']:7.2f} {r['gradients_per_object']:9.0f} {r['min_ess_per_1000_gradients']:12.1f} "
              f"{r['steps_per_draw_mean_lane']:6.2f} {r['steps_per_draw_lockstep']:8.2f} {r['lockstep_factor']:6.2f}")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
