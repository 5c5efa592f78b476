"""Batched NUTS on 64² stamps: what the per-pixel log-likelihood and the warm-up length cost.

Ten stamps of ``benchmarks/sampling.py`` (Sérsic + sky, 4 chains × 500 draws), sampled by
``bp.infer.NUTS([...])`` in one process after a compiling run on two other stamps:

* per-pixel log-likelihoods kept (``pointwise_limit`` huge: the behaviour before the limit
  counted all objects of a list) against totals per draw (the default now), twice each,
  interleaved;
* warm-ups of 200, 100 and 50 iterations (Laplace mass matrix, step size tuned only).

Usage::

    python benchmarks/stamp_variants.py

Results: lines on stdout and ``benchmarks/results/stamp_variants.json``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = (("per-pixel log-likelihood, warm-up 200", 200, {"pointwise_limit": 10**12}),
            ("total log-likelihood, warm-up 200", 200, {}),
            ("per-pixel log-likelihood, warm-up 200, again", 200, {"pointwise_limit": 10**12}),
            ("total log-likelihood, warm-up 200, again", 200, {}),
            ("total log-likelihood, warm-up 100", 100, {}),
            ("total log-likelihood, warm-up 50", 50, {}))


def run(count: int, first_seed: int, warmup: int = 200, **options: Any) -> dict:
    """``count`` stamps sampled as one list; wall time, objects per hour and diagnostics."""
    from sampling import stamp, worst_rhat_ess

    import bayesphot as bp

    groups = [stamp(first_seed + i) for i in range(count)]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posts = bp.infer.NUTS(groups, chains=4, warmup=warmup, draws=500, seed=0, progress=False, **options).run()
    wall = time.perf_counter() - t0
    rhat, ess = worst_rhat_ess(posts)
    return {"wall_s": wall, "objects_per_hour": 3600 * count / wall, "rhat_ok": float(np.mean(np.array(rhat) <= 1.01)),
            "max_rhat": max(rhat), "median_min_ess": float(np.median(ess)),
            "mean_steps": float(np.mean([p.idata.sample_stats["n_steps"].mean() for p in posts])),
            "loglik": list(posts[0].idata.log_likelihood.data_vars)}


def main() -> None:
    run(2, 900)  # compiles
    out = {}
    for label, warmup, options in VARIANTS:
        out[label] = run(10, 1000, warmup, **options)
        print(f"{label}: {out[label]['wall_s']:.1f} s, {out[label]['objects_per_hour']:.0f} objects/h, "
              f"r̂ ≤ 1.01: {out[label]['rhat_ok']:.0%}, median min ESS {out[label]['median_min_ess']:.0f}", flush=True)
    path = Path(__file__).resolve().parent / "results" / "stamp_variants.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
