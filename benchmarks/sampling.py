"""Sampling efficiency: ESS per second for a 128 × 128 Sérsic + PSF + sky.

One simulated image (Sérsic n = 2, Re = 12 px, q = 0.6 through a Gaussian PSF, flat
sky, Gaussian noise) is sampled by

* ``numpyro-laplace``: ``bp.infer.NUTS`` on numpyro, dense Laplace inverse mass matrix
  kept fixed (warm-up tunes the step size only) — bayesphot's default;
* ``numpyro-diagonal``: the same program and start, numpyro's default diagonal
  mass-matrix adaptation from the identity (the in-house baseline);
* ``pyro-laplace``: ``bp.infer.NUTS(backend="pyro")`` (torch, eager), Laplace mass matrix;
* ``pysersic``: pysersic's ``FitSingle.sample`` (numpyro NUTS, its own priors from
  ``autoprior`` and its default adaptation), when pysersic is installed.

For each: the minimum bulk ESS over the model parameters divided by the sampler's
wall time *including compilation and warm-up* (the MAP fit, shared by the bayesphot
runs, is reported separately), mean tree depth, divergences, and the ratio of
ESS/s to the baseline and to pysersic.  All bayesphot runs use the same default priors.

Usage::

    python benchmarks/sampling.py                          # CPU, 128 x 128
    python benchmarks/sampling.py --device cuda --size 512
    python benchmarks/sampling.py --skip pyro pysersic --draws 1000

Results: a table on stdout and JSON in ``benchmarks/results/sampling.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

TRUTH = {"q": 0.6, "PA": 1.0, "n": 2.0, "Re": 12.0, "Ie": 20.0}
SKY, NOISE = 5.0, 2.0


def simulate(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    import bayesphot as bp

    psf = gaussian_psf()
    blank = bp.TargetImage(np.zeros((size, size)), psf=bp.PSFImage(psf))
    c = (size - 1) / 2.0
    image = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, x=c + 0.3, y=c - 0.2, **TRUTH).render())
    rng = np.random.default_rng(seed)
    return image + SKY + rng.normal(0.0, NOISE, image.shape), psf


def gaussian_psf(size: int = 15, sigma: float = 1.5) -> np.ndarray:
    half = size // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def build(data: np.ndarray, psf: np.ndarray) -> Any:
    import bayesphot as bp

    target = bp.TargetImage(data, variance=np.full(data.shape, NOISE**2), psf=bp.PSFImage(psf))
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "sersic galaxy model", target=target)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group.initialize()
    return group


def run_bayesphot(name: str, data: np.ndarray, psf: np.ndarray, fitted: dict, args: argparse.Namespace) -> dict:
    import arviz as az

    import bayesphot as bp

    group = build(data, psf)
    priors = bp.models.default_priors(group)  # from the initialisation, as NUTS would
    for key, state in fitted.items():        # start every run at the same MAP
        group[key].value = state[0]
        group[key].uncertainty = state[1]
    backend = "pyro" if name.startswith("pyro") else "numpyro"
    diagonal = name.endswith("diagonal")
    warmup, draws = (args.pyro_warmup, args.pyro_draws) if backend == "pyro" else (args.warmup, args.draws)
    sampler = bp.infer.NUTS(group, backend=backend, chains=args.chains, warmup=warmup, draws=draws, seed=args.seed,
                            device=args.device, dense_mass=not diagonal, adapt_mass_matrix=diagonal, priors=priors,
                            fit=False, progress=args.progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = sampler.run(mass_matrix="identity" if diagonal else "laplace")
    names = post.names
    ess = az.ess(post.idata, var_names=names, method="bulk")
    min_ess = min(float(np.min(ess[n].values)) for n in names)
    wall = float(post.attrs["sampling_seconds"])
    stats = post.idata.sample_stats
    return {
        "config": name, "backend": backend, "chains": args.chains, "warmup": warmup, "draws": draws,
        "wall_s": wall, "start_s": float(post.attrs["map_seconds"]), "min_bulk_ess": min_ess,
        "ess_per_s": min_ess / wall, "worst": min(names, key=lambda n: float(np.min(ess[n].values))),
        "mean_tree_depth": float(stats["tree_depth"].mean()), "divergences": int(stats["diverging"].sum()),
        "step_size": float(np.median(stats["step_size"].values)),
        "means": {n: float(post.mean(n)) for n in names}, "sds": {n: float(post.sd(n)) for n in names},
        "issues": post.issues,
    }


def run_pysersic(data: np.ndarray, psf: np.ndarray, args: argparse.Namespace) -> dict | None:
    try:
        import jax
        from pysersic import FitSingle
        from pysersic.priors import autoprior
    except ImportError:
        return None
    import arviz as az

    prior = autoprior(image=data - 0.0, profile_type="sersic", sky_type="flat")
    fitter = FitSingle(data=data, rms=np.full(data.shape, NOISE), psf=psf, prior=prior)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fitter.sample(rkey=jax.random.PRNGKey(args.seed), num_samples=args.draws, num_warmup=args.warmup,
                               num_chains=args.chains, return_model=False,
                               mcmc_kwargs={"chain_method": "vectorized", "progress_bar": args.progress})
    wall = time.perf_counter() - t0
    idata = result.idata
    names = [n for n in idata.posterior.data_vars if idata.posterior[n].ndim == 2]
    ess = az.ess(idata, var_names=names, method="bulk")
    min_ess = min(float(ess[n].values) for n in names)
    stats = idata.sample_stats
    depth = float(stats["tree_depth"].mean()) if "tree_depth" in stats else float("nan")
    return {
        "config": "pysersic", "backend": "numpyro (pysersic)", "chains": args.chains, "warmup": args.warmup,
        "draws": args.draws, "wall_s": wall, "start_s": 0.0, "min_bulk_ess": min_ess, "ess_per_s": min_ess / wall,
        "worst": min(names, key=lambda n: float(ess[n].values)), "mean_tree_depth": depth,
        "divergences": int(stats["diverging"].sum()) if "diverging" in stats else -1,
        "means": {n: float(idata.posterior[n].mean()) for n in names}, "issues": [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--chains", type=int, default=1)
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--pyro-warmup", type=int, default=20)
    parser.add_argument("--pyro-draws", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--skip", nargs="*", default=[], help="configs to skip: pyro, pysersic, diagonal")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sampling.json"))
    args = parser.parse_args()
    if args.device == "auto":
        args.device = None

    import bayesphot as bp

    data, psf = simulate(args.size, args.seed)
    group = build(data, psf)
    t0 = time.perf_counter()
    fit = bp.fit.LM(group).fit()
    map_seconds = time.perf_counter() - t0
    fitted = {k: (np.asarray(p.value), np.asarray(p.uncertainty)) for k, p in group.parameters.items()}
    print(f"MAP: {fit.message} in {map_seconds:.1f} s")

    results = []
    configs = ["numpyro-laplace", "numpyro-diagonal", "pyro-laplace"]
    for name in configs:
        if any(s in name for s in args.skip):
            continue
        print(f"running {name} ...", flush=True)
        results.append(run_bayesphot(name, data, psf, fitted, args))
        print(f"  {results[-1]['wall_s']:.1f} s, min ESS {results[-1]['min_bulk_ess']:.0f}", flush=True)
    if "pysersic" not in args.skip:
        print("running pysersic ...", flush=True)
        ps = run_pysersic(data, psf, args)
        if ps is None:
            print("  pysersic is not installed: skipped")
        else:
            results.append(ps)
    by = {r["config"]: r for r in results}
    for r in results:
        if "numpyro-diagonal" in by:
            r["ratio_vs_diagonal"] = r["ess_per_s"] / by["numpyro-diagonal"]["ess_per_s"]
        if "pysersic" in by:
            r["ratio_vs_pysersic"] = r["ess_per_s"] / by["pysersic"]["ess_per_s"]
    print(f"\n{args.size}x{args.size} Sérsic + PSF + sky on {args.device or 'default device'}; "
          f"MAP {map_seconds:.1f} s (not in the wall times)")
    head = (f"{'config':18s} {'chains':>6s} {'warm+draws':>10s} {'wall s':>8s} {'min ESS':>8s} {'ESS/s':>8s} "
            f"{'depth':>6s} {'div':>4s} {'vs diag':>8s} {'vs pysersic':>11s}")
    print(head)
    for r in results:
        print(f"{r['config']:18s} {r['chains']:6d} {str(r['warmup']) + '+' + str(r['draws']):>10s} "
              f"{r['wall_s']:8.1f} {r['min_bulk_ess']:8.0f} {r['ess_per_s']:8.3f} {r['mean_tree_depth']:6.2f} "
              f"{r['divergences']:4d} {r.get('ratio_vs_diagonal', float('nan')):8.2f} "
              f"{r.get('ratio_vs_pysersic', float('nan')):11.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": args.size, "device": args.device or "auto", "machine": platform.platform(),
                               "map_seconds": map_seconds, "truth": TRUTH, "results": results}, indent=1,
                              default=float))
    print(f"written {out}")


if __name__ == "__main__":
    main()
