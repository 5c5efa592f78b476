"""Calibration of bayesphot's posteriors by simulation: coverage and SBC, NUTS and Laplace.

Sets of simulated images, each truth drawn from exactly the priors (and limits) the
inference uses:

* ``single-low``, ``single-medium``, ``single-high``: one Sérsic + flat sky through a
  Gaussian PSF (16 × 16 px, σ_noise = 1), the three differing only in the prior of the
  surface brightness ``Ie`` (median 4, 12, 40 flux/px²: low, medium, high S/N);
* ``pairs``: two Sérsics 5 px apart on a 24 × 16 stamp, fitted together as one group
  (blended: their windows overlap).

Every image is sampled by ``bp.infer.NUTS`` over the whole set at once (one vectorised
program per structure; 4 chains started dispersed about the mode of the sampled
density).  Per parameter the script reports, over **all** runs (a diagnostic flag is
information, not a filter; the flagged fraction is reported beside):

* coverage of the central 68 % and 95 % credible intervals, with binomial errors;
* SBC (Talts et al. 2018, arXiv:1804.06788): the rank of the truth among the draws thinned
  by the bulk ESS (so the draws are roughly independent), normalised to [0, 1], in 10
  bins, and the χ² p-value of uniformity;
* the same coverage for the **Laplace** interval: a Gaussian in the unconstrained space at
  the mode of the sampled density with the inverse Hessian there (what the sampler starts
  from), mapped through the parameter transforms.

Results go to ``benchmarks/results/calibration.json``, rewritten after every set: a re-run
skips the sets already complete (``--fresh`` to start again).  ``--quick`` runs a handful of
galaxies with short chains: the smoke test CI runs (of the machinery, not of coverage).

Usage::

    python benchmarks/calibration.py --device cuda          # 200 per set, 100 pairs
    python benchmarks/calibration.py --quick --out /tmp/calibration.json
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = {"single-low": 4.0, "single-medium": 12.0, "single-high": 40.0}
NOISE = 1.0
SKY = 5.0
#: one fixed pixel rule for the inference of every image (one structure, one compiled program): a 2 × 2
#: graded cusp block (4 levels × 4 points) in an 11 × 11 Gauss block.  Against the reference rule on these
#: 16² stamps with the PSF it errs by ≤ 0.053 σ_noise per pixel (worst: n = 4, Re = 1.6 px, q = 0.31,
#: Ie = 60), where the default rule errs by 0.014 σ at 7× the evaluations; the truths are rendered with
#: the fine default ``QuadratureConfig()``, so the fit never uses the simulation's own rule.
INFERENCE_QUADRATURE = dict(block=2, levels=4, order=4, mid_block=11, mid_order=4)


def priors_for(kind: str, size: tuple[int, int]) -> dict[str, Any]:
    """The priors of one set (the simulation draws truths from exactly these)."""
    import bayesphot as bp

    rows, cols = size
    cy = (rows - 1) / 2.0
    out: dict[str, Any] = {"sky:I": bp.priors.Normal(SKY, 1.0)}
    if kind == "pairs":
        centres = {"a": (cols / 2.0 - 3.0, cy), "b": (cols / 2.0 + 2.0, cy)}
        level, re = 15.0, 2.5
    else:
        centres = {"gal": ((cols - 1) / 2.0, cy)}
        level, re = LEVELS[kind], 3.0
    for name, (x, y) in centres.items():
        out.update({
            f"{name}:x": bp.priors.Normal(x, 0.5), f"{name}:y": bp.priors.Normal(y, 0.5),
            f"{name}:q": bp.priors.Uniform(0.3, 1.0), f"{name}:PA": bp.priors.VonMises(0.0, 0.0, math.pi),
            f"{name}:n": bp.priors.Uniform(0.5, 4.0), f"{name}:Re": bp.priors.LogNormal(math.log(re), 0.3),
            f"{name}:Ie": bp.priors.LogNormal(math.log(level), 0.3),
        })
    return out


def draw_truth(rng: np.random.Generator, priors: dict[str, Any]) -> dict[str, float]:
    """One draw from the priors (closed forms, numpy)."""
    out = {}
    for name, prior in priors.items():
        kind = type(prior).__name__
        if kind == "Normal":
            out[name] = float(rng.normal(prior.loc, prior.scale))
        elif kind == "Uniform":
            out[name] = float(rng.uniform(prior.low, prior.high))
        elif kind == "LogNormal":
            out[name] = float(math.exp(rng.normal(prior.loc, prior.scale)))
        elif kind == "VonMises":  # concentration 0: uniform on the circle
            out[name] = float(rng.uniform(0.0, prior.period))
        else:  # pragma: no cover
            raise ValueError(kind)
    return out


def psf_image() -> Any:
    import bayesphot as bp

    yy, xx = np.mgrid[-3:4, -3:4]
    kernel = np.exp(-(xx**2 + yy**2) / 2.0)
    return bp.PSFImage(kernel / kernel.sum())


def build(data: np.ndarray, priors: dict[str, Any], values: dict[str, float] | None = None,
          quadrature: Any = None) -> Any:
    """The group a set fits: sky plus one or two Sérsics, limits and priors as in ``priors``."""
    import bayesphot as bp

    target = bp.TargetImage(data, variance=np.full(data.shape, NOISE**2), psf=psf_image())
    names = sorted({key.split(":")[0] for key in priors} - {"sky"})
    models = [bp.Model("sky", "flat sky model", target=target)]
    extra = {} if quadrature is None else {"quadrature": quadrature}
    models += [bp.Model(name, "sersic galaxy model", target=target, **extra) for name in names]
    group = bp.Model("g", "group", models=models, target=target)
    for name in names:
        group[f"{name}:q"].limits = (0.3, 1.0)
        group[f"{name}:n"].limits = (0.5, 4.0)
    for key, prior in priors.items():
        group[key].prior = prior
    for key, value in (values or {}).items():
        group[key].value = value
    return group


def simulate(kind: str, count: int, seed: int) -> list[tuple[dict[str, float], Any]]:
    """``count`` (truth, initialised group) pairs of one set; the truth rendered with a fine fixed rule."""
    from bayesphot.render import QuadratureConfig

    size = (16, 24) if kind == "pairs" else (16, 16)
    priors = priors_for(kind, size)
    rng = np.random.default_rng(seed)
    fine = QuadratureConfig()
    out = []
    for _ in range(count):
        truth = draw_truth(rng, priors)
        clean = np.asarray(build(np.zeros(size), priors, truth, quadrature=fine).render())
        data = clean + rng.normal(0.0, NOISE, clean.shape)
        # one fixed rule for every image of a set: one structure, so the set is one compiled program
        # (the per-object "auto" choice differs with the parameter values and would split it)
        group = build(data, priors, quadrature=QuadratureConfig(**INFERENCE_QUADRATURE))
        group.initialize()
        out.append((truth, group))
    return out


def unwrap(v: Any, center: float, period: float = math.pi) -> Any:
    """Signed distance from ``center`` on the circle of ``period``, in [−P/2, P/2)."""
    return (np.asarray(v) - center + period / 2) % period - period / 2


def laplace_draws(post: Any, group: Any, count: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draws of the Gaussian in u at the sampler's start (the mode), mapped to parameters."""
    from bayesphot.program import Program

    program = Program(group, priors=None)
    u0 = np.asarray(json.loads(post.attrs["map_u"]))
    cov = np.asarray(json.loads(post.attrs["start_inverse_mass"]))
    u = rng.multivariate_normal(u0, cov, size=count, method="eigh")
    out = {}
    free = program.free
    for (name, _), tr, a, b in zip(free.entries, free.transforms, free.offsets[:-1], free.offsets[1:], strict=True):
        out[name] = np.asarray(tr.forward(u[:, int(a):int(b)]), dtype=np.float64).ravel()
    return out


def score(post: Any, truth: dict[str, float], laplace: dict[str, np.ndarray]) -> dict[str, Any]:
    import arviz as az

    rec: dict[str, Any] = {"flagged": bool(post.issues), "issues": post.issues}
    ess = az.ess(post.idata, var_names=post.names, method="bulk")
    for name in post.names:
        draws = np.asarray(post.draws(name), dtype=np.float64).ravel()
        lap = laplace[name]
        t = truth[name]
        if name.endswith(":PA"):
            m = float(post.mean(name))
            draws, lap, t = unwrap(draws, m), unwrap(lap, m), float(unwrap(t, m))
        q = np.quantile(draws, [0.025, 0.16, 0.84, 0.975])
        ql = np.quantile(lap, [0.025, 0.16, 0.84, 0.975])
        thin = max(1, math.ceil(draws.size / max(float(ess[name].values), 1.0)))
        kept = draws[::thin]
        rec[name] = {
            "in68": bool(q[1] <= t <= q[2]), "in95": bool(q[0] <= t <= q[3]),
            "laplace_in68": bool(ql[1] <= t <= ql[2]), "laplace_in95": bool(ql[0] <= t <= ql[3]),
            "rank": float((np.sum(kept < t) + 0.5) / (kept.size + 1)), "thinned": int(kept.size),
            "z": float((np.mean(draws) - t) / np.std(draws)),
        }
    return rec


def summarise(records: list[dict[str, Any]]) -> dict[str, Any]:
    from scipy import stats

    n = len(records)
    names = [k for k in records[0] if ":" in k] if records else []
    out: dict[str, Any] = {}
    for name in names:
        rows = [r[name] for r in records]
        counts = np.histogram([r["rank"] for r in rows], bins=10, range=(0.0, 1.0))[0]
        out[name] = {
            "coverage68": float(np.mean([r["in68"] for r in rows])),
            "coverage95": float(np.mean([r["in95"] for r in rows])),
            "laplace_coverage68": float(np.mean([r["laplace_in68"] for r in rows])),
            "laplace_coverage95": float(np.mean([r["laplace_in95"] for r in rows])),
            "rank_hist10": counts.tolist(),
            "rank_uniform_p": float(stats.chisquare(counts).pvalue) if n >= 20 else float("nan"),
            "mean_z": float(np.mean([r["z"] for r in rows])),
        }
    out["_all"] = {"n": n, "se68": math.sqrt(0.68 * 0.32 / max(n, 1)), "se95": math.sqrt(0.95 * 0.05 / max(n, 1)),
                   "flagged_fraction": float(np.mean([r["flagged"] for r in records])) if n else float("nan")}
    return out


def print_table(kind: str, summary: dict[str, Any]) -> None:
    a = summary["_all"]
    print(f"\n{kind}: {a['n']} images, flagged {a['flagged_fraction']:.2f}; binomial se 68 % ±{a['se68']:.3f}, "
          f"95 % ±{a['se95']:.3f}")
    print(f"{'parameter':10s} {'NUTS 68':>8s} {'NUTS 95':>8s} {'Lapl 68':>8s} {'Lapl 95':>8s} {'SBC p':>7s} "
          f"{'mean z':>7s}  ranks (10 bins)")
    for name, s in summary.items():
        if name.startswith("_"):
            continue
        print(f"{name:10s} {s['coverage68']:8.3f} {s['coverage95']:8.3f} {s['laplace_coverage68']:8.3f} "
              f"{s['laplace_coverage95']:8.3f} {s['rank_uniform_p']:7.3f} {s['mean_z']:7.2f}  {s['rank_hist10']}")


def run_set(kind: str, count: int, args: argparse.Namespace, seed: int) -> tuple[list[dict[str, Any]], float]:
    import bayesphot as bp

    pairs = simulate(kind, count, seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posts = bp.infer.NUTS([g for _, g in pairs], chains=args.chains, warmup=args.warmup, draws=args.draws,
                              seed=seed, device=args.device, progress=args.progress, priors=None,
                              init_scatter=1.0).run()
    seconds = time.perf_counter() - t0
    rng = np.random.default_rng(seed + 1)
    records = [score(post, truth, laplace_draws(post, group, 4000, rng))
               for (truth, group), post in zip(pairs, posts, strict=True)]
    return records, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200, help="images per single-galaxy set")
    parser.add_argument("--pairs", type=int, default=100, help="blended pairs")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--draws", type=int, default=250)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--device", default=None, help="cpu, cuda or None (auto)")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--fresh", action="store_true", help="ignore what --out already holds")
    parser.add_argument("--quick", action="store_true", help="smoke test: 3 images per set, short chains")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "calibration.json"))
    args = parser.parse_args()
    if args.quick:
        args.n, args.pairs, args.chains, args.warmup, args.draws = 3, 2, 2, 60, 60
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {"sets": {}}
    if out.exists() and not args.fresh:
        payload = json.loads(out.read_text())
    sets = {**{k: args.n for k in LEVELS}, "pairs": args.pairs}
    for index, (kind, count) in enumerate(sets.items()):
        done = payload["sets"].get(kind)
        if done and len(done["records"]) >= count:
            print(f"{kind}: {len(done['records'])} images already in {out}, skipped")
            print_table(kind, done["summary"])
            continue
        if count <= 0:
            continue
        print(f"{kind}: sampling {count} images ...", flush=True)
        records, seconds = run_set(kind, count, args, args.seed + 1000 * index)
        payload["sets"][kind] = {"records": records, "summary": summarise(records), "seconds": seconds}
        payload["config"] = {k: v for k, v in vars(args).items() if k != "out"} | {"noise": NOISE, "sky": SKY}
        payload["machine"] = platform.platform()
        out.write_text(json.dumps(payload, indent=1, default=float))
        print(f"  {seconds:.1f} s", flush=True)
        print_table(kind, payload["sets"][kind]["summary"])


if __name__ == "__main__":
    main()
