"""Batched NUTS on 64² stamps: what the target acceptance probability does to trajectories and ESS.

With the Laplace mass matrix the posterior of a stamp (Sérsic + sky, 7 parameters) is close to a
standard normal in the metric's coordinates. There a leapfrog trajectory U-turns after a time of about
π, so a tree of depth 2 (3 steps) suffices once the step size exceeds about π/3 ≈ 1.05, and depth 3
(7 steps) is needed below it: lowering the target acceptance lengthens the step and can halve the
gradients per draw. This script measures it, side by side in one process, on the stamps of
``benchmarks/sampling.py`` (4 chains × (200 + 500), one list per setting, the same stamps and seeds),
after a compiling run on two other stamps:

* gradients (leapfrog steps) per object, bulk ESS (smallest over the parameters) per object and per
  gradient;
* the fraction of objects with r̂ ≤ 1.01, with divergences, and flagged by ``diagnose``;
* the wall time and objects per hour (CPU timings vary by ±25 % here: read them as indications);
* the lockstep statistics of ``sampling.py`` (what a vectorised program on an accelerator would pay).

Usage::

    python benchmarks/target_accept.py [--stamps 20] [--targets 0.8 0.65 0.6 0.5]

Results: a table on stdout and ``benchmarks/results/target_accept.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def run(count: int, first_seed: int, target: float) -> dict:
    """``count`` stamps sampled as one list at target acceptance ``target``."""
    from sampling import lockstep, per_object, stamp, worst_rhat_ess

    import bayesphot as bp

    groups = [stamp(first_seed + i) for i in range(count)]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posts = bp.infer.NUTS(groups, chains=4, warmup=200, draws=500, seed=0, progress=False,
                              target_accept=target).run()
    wall = time.perf_counter() - t0
    rhat, ess = worst_rhat_ess(posts)
    steps = np.array([float(p.idata.sample_stats["n_steps"].sum()) for p in posts])  # draws only
    divergent = np.array([int(np.sum(p.idata.sample_stats["diverging"].values)) for p in posts])
    step_size = np.array([float(np.mean(p.idata.sample_stats["step_size"].values)) for p in posts])
    return {"target_accept": target, "stamps": count, "wall_s": wall, "objects_per_hour": 3600 * count / wall,
            "mean_steps_per_draw": float(np.mean(steps) / 2000), "median_min_ess": float(np.median(ess)),
            "median_ess_per_1000_steps": float(np.median(1000 * ess / steps)),
            "fraction_rhat_ok": float(np.mean(rhat <= 1.01)), "max_rhat": float(np.max(rhat)),
            "fraction_divergent": float(np.mean(divergent > 0)), "divergences": int(divergent.sum()),
            "fraction_flagged": float(np.mean([bool(p.issues) for p in posts])),
            "median_step_size": float(np.median(step_size)), **lockstep(posts, 10),
            "objects": [per_object(p, first_seed + i, r, e) for i, (p, r, e) in enumerate(zip(posts, rhat, ess,
                                                                                               strict=True))]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stamps", type=int, default=20)
    parser.add_argument("--targets", type=float, nargs="+", default=[0.8, 0.65, 0.6, 0.5])
    parser.add_argument("--first-seed", type=int, default=1000, help="the stamps' seeds start here")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "target_accept.json"))
    args = parser.parse_args()
    run(2, 900, 0.8)  # compiles
    rows = []
    header = (f"{'target':>6} {'steps/draw':>10} {'ESS':>6} {'ESS/1000 steps':>14} {'r̂ ok':>6} {'divergent':>9} "
              f"{'flagged':>7} {'step':>5} {'obj/h':>6} {'lockstep':>8}")
    print(header, flush=True)
    for target in args.targets:
        r = run(args.stamps, args.first_seed, target)
        rows.append(r)
        print(f"{target:>6.2f} {r['mean_steps_per_draw']:>10.2f} {r['median_min_ess']:>6.0f} "
              f"{r['median_ess_per_1000_steps']:>14.0f} {r['fraction_rhat_ok']:>6.0%} {r['fraction_divergent']:>9.0%} "
              f"{r['fraction_flagged']:>7.0%} {r['median_step_size']:>5.2f} {r['objects_per_hour']:>6.0f} "
              f"{r['lockstep_factor_draws']:>8.2f}", flush=True)
    Path(args.out).write_text(json.dumps({"benchmark": "target_accept", "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
