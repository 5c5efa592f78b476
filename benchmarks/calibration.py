"""Calibration of bayesphot's posteriors: coverage and simulation-based calibration (SBC).

For each of ``--n`` simulated galaxies the truth is drawn from the priors, an image
is rendered (Sérsic + Gaussian PSF + flat sky, Gaussian noise of known σ), and the
full pipeline runs: ``bp.fit.LM`` (MAP) → ``bp.infer.NUTS`` (Laplace mass matrix,
the same priors).  Per parameter it reports

* the coverage of the central 68 % and 95 % credible intervals (fraction of
  galaxies whose truth lies inside), with its binomial standard error;
* SBC rank statistics (Talts et al. 2018, arXiv:1804.06788): the rank of the truth
  among ``L`` thinned posterior draws, binned into 10 bins, and the χ² p-value of
  uniformity.  For the cyclic PA the rank is taken after unwrapping the draws
  and the truth about the circular mean.

Coverage is also given over the runs whose diagnostics raised nothing ("ok").
If the posteriors are right, coverage is nominal within binomial error and ranks
are uniform.  Results go to ``benchmarks/results/calibration.json`` (rewritten
after every galaxy, so an interrupted run keeps what finished).

Usage::

    python benchmarks/calibration.py                     # 100 galaxies, 16x16 pixels
    python benchmarks/calibration.py --n 200 --size 24 --max-minutes 60
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from pathlib import Path

import numpy as np

import bayesphot as bp
from bayesphot.render import QuadratureConfig

PRIORS = {
    "sky:I": bp.priors.Normal(5.0, 1.0),
    "gal:x": None,  # Normal about the image centre, set per size
    "gal:y": None,
    "gal:q": bp.priors.Uniform(0.3, 1.0),
    "gal:PA": bp.priors.VonMises(0.0, 0.0, math.pi),
    "gal:n": bp.priors.Uniform(0.5, 4.0),
    "gal:Re": bp.priors.LogNormal(math.log(3.0), 0.3),
    "gal:Ie": bp.priors.LogNormal(math.log(20.0), 0.3),
}
LIMITS = {"gal:q": (0.3, 1.0), "gal:n": (0.5, 4.0)}
NOISE = 1.0


def draw_truth(rng: np.random.Generator, priors: dict) -> dict[str, float]:
    """One draw from the priors (closed forms, numpy)."""
    out = {}
    for name, prior in priors.items():
        kind = type(prior).__name__
        if kind == "Normal":
            out[name] = rng.normal(prior.loc, prior.scale)
        elif kind == "Uniform":
            out[name] = rng.uniform(prior.low, prior.high)
        elif kind == "LogNormal":
            out[name] = math.exp(rng.normal(prior.loc, prior.scale))
        elif kind == "VonMises":
            out[name] = rng.uniform(0.0, prior.period)
    return out


def psf_image(size: int = 7, sigma: float = 1.0) -> bp.PSFImage:
    half = size // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return bp.PSFImage(kernel / kernel.sum())


def build(data: np.ndarray | None, size: int, psf: bp.PSFImage, priors: dict, values: dict | None = None) -> bp.Model:
    quadrature = QuadratureConfig(block=0, mid_block=7, mid_order=4)
    img = np.zeros((size, size)) if data is None else data
    target = bp.TargetImage(img, variance=np.full((size, size), NOISE**2), psf=psf)
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=quadrature)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    for name, limits in LIMITS.items():
        group[name].limits = limits
    for name, prior in priors.items():
        group[name].prior = prior
    if values:
        for name, value in values.items():
            group[name].value = value
    return group


def unwrap(v: np.ndarray | float, center: float, period: float = math.pi) -> np.ndarray:
    """Signed distance from ``center`` on the circle of ``period``, in [−P/2, P/2)."""
    return (np.asarray(v) - center + period / 2) % period - period / 2


def rank_of(truth: float, draws: np.ndarray) -> int:
    return int(np.sum(draws < truth))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--size", type=int, default=16)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--draws", type=int, default=400)
    parser.add_argument("--ranks", type=int, default=99, help="thinned draws L for SBC ranks (L + 1 rank values)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--max-minutes", type=float, default=1e9)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "calibration.json"))
    parser.add_argument("--report", action="store_true", help="only recompute and print the summary of --out")
    parser.add_argument("--append", action="store_true",
                        help="keep the galaxies already in --out and add --n more (use another --seed)")
    args = parser.parse_args()

    if args.report:
        payload = json.loads(Path(args.out).read_text())
        payload["summary"] = summarise(payload["galaxies"], list(PRIORS), payload["config"]["ranks"])
        Path(args.out).write_text(json.dumps(payload, indent=1, default=float))
        print_table(payload["summary"], len(payload["galaxies"]))
        return
    priors = dict(PRIORS)
    c = (args.size - 1) / 2.0
    priors["gal:x"] = bp.priors.Normal(c, 0.5)
    priors["gal:y"] = bp.priors.Normal(c, 0.5)
    names = list(priors)
    psf = psf_image()
    rng = np.random.default_rng(args.seed)
    records: list[dict] = []
    t_start = time.perf_counter()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seeds = [args.seed]
    if args.append and out.exists():
        previous = json.loads(out.read_text())
        records = previous["galaxies"]
        seeds = [*previous["config"].get("seeds", [previous["config"]["seed"]]), args.seed]
        print(f"appending to {len(records)} galaxies from {out}")
    for i in range(args.n):
        if (time.perf_counter() - t_start) / 60.0 > args.max_minutes:
            print(f"time budget reached after {i} galaxies")
            break
        truth = draw_truth(rng, priors)
        clean = np.asarray(build(None, args.size, psf, priors, truth).render())
        data = clean + rng.normal(0.0, NOISE, clean.shape)
        group = build(data, args.size, psf, priors)
        group.initialize()
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            post = bp.infer.NUTS(group, chains=args.chains, warmup=args.warmup, draws=args.draws,
                                 seed=int(rng.integers(2**31)), progress=False, priors=None).run()
        seconds = time.perf_counter() - t0
        rec = {"truth": truth, "seconds": seconds, "ok": post.ok, "issues": post.issues,
               "warnings": sorted({str(w.message)[:120] for w in caught})}
        for name in names:
            draws = post.draws(name)
            t = truth[name]
            if name == "gal:PA":
                m = float(post.mean(name))
                draws, t = unwrap(draws, m), float(unwrap(t, m))
            q = np.quantile(draws, [0.025, 0.16, 0.84, 0.975])
            thin = draws[np.linspace(0, draws.size - 1, args.ranks).astype(int)]
            rec[name] = {"in68": bool(q[1] <= t <= q[2]), "in95": bool(q[0] <= t <= q[3]),
                         "rank": rank_of(t, thin), "z": float((np.mean(draws) - t) / np.std(draws))}
        records.append(rec)
        summary = summarise(records, names, args.ranks)
        payload = {"config": vars(args) | {"seeds": seeds, "priors": {k: p.to_dict() for k, p in priors.items()},
                                           "noise": NOISE, "psf": "Gaussian sigma=1 px, 7x7"},
                   "machine": platform.platform(), "n_done": len(records), "summary": summary,
                   "galaxies": records}
        out.write_text(json.dumps(payload, indent=1, default=float))
        print(f"[{i + 1}/{args.n}] {seconds:5.1f}s ok={post.ok} "
              + " ".join(f"{n.split(':')[1]}:{rec[n]['rank']}" for n in names), flush=True)
    print_table(summarise(records, names, args.ranks), len(records))


def summarise(records: list[dict], names: list[str], ranks: int) -> dict:
    from scipy import stats

    n = len(records)
    out = {}
    for name in names:
        in68 = np.mean([r[name]["in68"] for r in records])
        in95 = np.mean([r[name]["in95"] for r in records])
        rank = np.array([r[name]["rank"] for r in records])
        counts = np.histogram(rank, bins=10, range=(0, ranks + 1))[0]
        p_uniform = float(stats.chisquare(counts).pvalue) if n >= 10 else float("nan")
        clean = [r for r in records if r["ok"]]
        out[name] = {
            "coverage68_ok_runs": float(np.mean([r[name]["in68"] for r in clean])) if clean else float("nan"),
            "coverage95_ok_runs": float(np.mean([r[name]["in95"] for r in clean])) if clean else float("nan"),
            "coverage68": float(in68), "coverage68_se": math.sqrt(0.68 * 0.32 / max(n, 1)),
            "coverage95": float(in95), "coverage95_se": math.sqrt(0.95 * 0.05 / max(n, 1)),
            "rank_hist10": counts.tolist(), "rank_uniform_p": p_uniform,
            "mean_z": float(np.mean([r[name]["z"] for r in records])),
        }
    out["_all"] = {"n": n, "ok_fraction": float(np.mean([r["ok"] for r in records])) if n else float("nan"),
                   "median_seconds": float(np.median([r["seconds"] for r in records])) if n else float("nan")}
    return out


def print_table(summary: dict, n: int) -> None:
    print(f"\nCalibration over {n} simulated galaxies (binomial se: 68% ±{math.sqrt(.68 * .32 / max(n, 1)):.3f}, "
          f"95% ±{math.sqrt(.95 * .05 / max(n, 1)):.3f})")
    print(f"{'parameter':10s} {'cov68':>7s} {'cov95':>7s} {'ok:cov68':>9s} {'ok:cov95':>9s} {'rank χ² p':>10s}  "
          "rank histogram (10 bins)")
    for name, s in summary.items():
        if name.startswith("_"):
            continue
        print(f"{name:10s} {s['coverage68']:7.3f} {s['coverage95']:7.3f} {s.get('coverage68_ok_runs', np.nan):9.3f} "
              f"{s.get('coverage95_ok_runs', np.nan):9.3f} {s['rank_uniform_p']:10.3f}  {s['rank_hist10']}")
    print(f"runs without diagnostic issues: {summary['_all']['ok_fraction']:.2f}; "
          f"median seconds per galaxy: {summary['_all']['median_seconds']:.1f}")


if __name__ == "__main__":
    main()
