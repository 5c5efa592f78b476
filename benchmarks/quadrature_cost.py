"""What the automatic pixel quadrature costs, in brightness evaluations, over a population of Sérsic profiles.

For each profile the rule :func:`bayesphot.render.choose_quadrature` picks for it (every candidate is
checked against the reference rule at three sub-pixel offsets before it is taken) and the evaluations
of one render of a 64² image with that rule, over those of the centre-sampled render (4096): the
machine-independent cost that the chooser's candidate lists decide.  Two populations:

* ``random``: 40 profiles, n 0.5–4, Re 1–5 pixels, q 0.3–0.95, PA uniform, centre within a pixel of
  the image's (seed 1);
* ``compact``: a grid of small, elongated and cuspy profiles, n 0.5–6, Re 0.5–1.2 pixels, q 0.3–1.

It counts the rules that fall back to a Gauss–Legendre base on every pixel (9 evaluations a pixel) or to
the reference rule.  Run it before and after a change to the candidate lists or to the rules.

Usage::

    python benchmarks/quadrature_cost.py            # both populations; results/quadrature_cost.json
    python benchmarks/quadrature_cost.py --out /tmp/q.json

Results: a table on stdout and JSON in ``benchmarks/results/quadrature_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# run the bayesphot of this checkout, not whichever one is installed
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).resolve().parent / "results"
SIZE = 64


def random_profiles(count: int = 40, seed: int = 1) -> list[dict[str, float]]:
    """``count`` Sérsic profiles (pixel units) with parameters drawn as in the module docstring."""
    rng = np.random.default_rng(seed)
    profiles = []
    for _ in range(count):
        values = {"q": rng.uniform(0.3, 0.95), "PA": rng.uniform(0, np.pi), "n": rng.uniform(0.5, 4.0),
                  "Re": rng.uniform(1.0, 5.0)}
        values.update(x=SIZE / 2 - 0.5 + rng.uniform(-1, 1), y=SIZE / 2 - 0.5 + rng.uniform(-1, 1))
        profiles.append(values)
    return profiles


def compact_profiles() -> list[dict[str, float]]:
    """A grid of compact profiles: n 0.5–6, Re 0.5–1.2 pixels, q 0.3–1 (PA 0.4, centre off the pixel grid)."""
    return [{"n": n, "Re": re, "q": q, "PA": 0.4, "x": 31.3, "y": 31.8}
            for n in (0.5, 1.0, 2.0, 4.0, 6.0) for re in (0.5, 0.8, 1.2) for q in (0.3, 0.7, 1.0)]


def rule_cost(values: dict[str, float]) -> dict[str, Any]:
    """The chosen rule for one profile, its evaluations over the centre-sampled render's, and its kind."""
    from dataclasses import asdict

    import bayesphot as bp
    from bayesphot.render import quadrature_evaluations
    from bayesphot.render.choose import REFERENCE_QUADRATURE

    target = bp.TargetImage(np.zeros((SIZE, SIZE)))
    model = bp.Model("g", "sersic galaxy model", target=target, Ie=1.0, **values)
    rule = model.quadrature
    return {"profile": {k: float(v) for k, v in values.items()}, "rule": asdict(rule),
            "evaluations_over_centre": quadrature_evaluations(rule, (SIZE, SIZE)) / SIZE**2,
            "gauss_base": bool(rule.base_order), "reference": rule == REFERENCE_QUADRATURE}


def describe(rule: dict[str, Any]) -> str:
    """A rule in a few characters: base order / near block / near order, cusp block, levels × order."""
    cusp = f"cusp {rule['block']}² L{rule['levels']}×{rule['order']}" if rule["block"] else "no cusp"
    return f"base {rule['base_order']}, near {rule['mid_block']}² GL{rule['mid_order']}, {cusp}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=RESULTS / "quadrature_cost.json")
    args = parser.parse_args()
    t0 = time.perf_counter()
    populations = {"random": random_profiles(), "compact": compact_profiles()}
    results = {name: [rule_cost(values) for values in profiles] for name, profiles in populations.items()}
    summary = {}
    for name, rows in results.items():
        costs = np.array([row["evaluations_over_centre"] for row in rows])
        summary[name] = {"profiles": len(rows), "mean_evaluations_over_centre": float(np.mean(costs)),
                         "max_evaluations_over_centre": float(np.max(costs)),
                         "gauss_bases": int(sum(row["gauss_base"] for row in rows)),
                         "reference_rules": int(sum(row["reference"] for row in rows))}
    print(f"evaluations of a {SIZE}² render with each profile's chosen rule, over the centre-sampled render's")
    print(f"{'population':>10} | {'profiles':>8} | {'mean':>6} | {'max':>6} | Gauss bases | reference rules")
    for name, s in summary.items():
        print(f"{name:>10} | {s['profiles']:>8} | {s['mean_evaluations_over_centre']:6.2f} | "
              f"{s['max_evaluations_over_centre']:6.2f} | {s['gauss_bases']:>11} | {s['reference_rules']:>15}")
    worst = sorted((row for rows in results.values() for row in rows),
                   key=lambda row: -row["evaluations_over_centre"])[:5]
    print("costliest:")
    for row in worst:
        p = row["profile"]
        print(f"  n = {p['n']:.2f}, Re = {p['Re']:.2f} px, q = {p['q']:.2f}: {row['evaluations_over_centre']:.1f}× "
              f"({describe(row['rule'])})")
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).resolve().parent, check=False).stdout.strip()
    except OSError:
        commit = ""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"benchmark": "quadrature_cost", "python": platform.python_version(),
                                    "commit": commit, "size": SIZE, "seconds": time.perf_counter() - t0,
                                    "created": time.strftime("%Y-%m-%d %H:%M:%S"), "summary": summary,
                                    "results": results}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
