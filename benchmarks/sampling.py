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

* ``bayesphot``: what a user runs on a *fresh* model object — ``bp.fit.LM`` then
  ``bp.infer.NUTS`` with its defaults — timed end to end (fit, compilation, start,
  warm-up, sampling);
* ``handwritten-numpyro``: the model a user would write by hand in numpyro
  (centre-sampled pixels, numpyro's default diagonal adaptation; ``benchmarks/handwritten.py``).

numpyro and ArviZ are imported before anything is timed (``library_import_s`` in the JSON):
both workflows need them, and the first run would otherwise pay the process's imports.

``--stamps 1 100 1000`` adds the catalog engine: that many independent 64 × 64 Sérsic + sky
stamps sampled by ``bp.infer.NUTS([...])`` as one vectorised program (4 chains × 500 draws by
default), reported as objects per hour with the fraction whose r̂ ≤ 1.01.

For each: the minimum bulk ESS over the model parameters divided by the sampler's
wall time *including compilation and warm-up* (the MAP fit, shared by the bayesphot
runs, is reported separately), mean tree depth, divergences, and the ratio of
ESS/s to the baseline and to pysersic.  All bayesphot runs use the same default priors.

Usage::

    python benchmarks/sampling.py                          # CPU, 128 x 128
    python benchmarks/sampling.py --device cuda --size 512
    python benchmarks/sampling.py --skip pyro-laplace pysersic --draws 1000
    python benchmarks/sampling.py --size 64 --no-psf --warmup 500 --draws 500 --only bayesphot handwritten-numpyro
    python benchmarks/sampling.py --only none --stamps 1 100 1000

Results: a table on stdout and JSON in ``benchmarks/results/sampling.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

CONFIGS = ("bayesphot", "handwritten-numpyro", "numpyro-laplace", "numpyro-diagonal", "pyro-laplace", "pysersic")
TRUTH = {"q": 0.6, "PA": 1.0, "n": 2.0, "Re": 12.0, "Ie": 20.0}
SKY, NOISE = 5.0, 2.0


def simulate(size: int, seed: int = 0, use_psf: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    import bayesphot as bp

    psf = gaussian_psf() if use_psf else None
    blank = bp.TargetImage(np.zeros((size, size)), psf=None if psf is None else bp.PSFImage(psf))
    c = (size - 1) / 2.0
    image = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, x=c + 0.3, y=c - 0.2, **TRUTH).render())
    rng = np.random.default_rng(seed)
    return image + SKY + rng.normal(0.0, NOISE, image.shape), psf


def gaussian_psf(size: int = 15, sigma: float = 1.5) -> np.ndarray:
    half = size // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = np.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    return kernel / kernel.sum()


def build(data: np.ndarray, psf: np.ndarray | None) -> Any:
    import bayesphot as bp

    target = bp.TargetImage(data, variance=np.full(data.shape, NOISE**2),
                            psf=None if psf is None else bp.PSFImage(psf))
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


def gradient_seconds(program: Any, repeats: int = 20) -> float:
    """Median wall time of one compiled value-and-gradient of the program's log-density."""
    import jax

    from bayesphot import structure

    lowered = program.lower("log_density")
    fn = structure.compiled(lowered, "value_and_grad")
    u = jax.numpy.asarray(program.free.unconstrained())
    jax.block_until_ready(fn(lowered.params, u))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(lowered.params, u))
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def run_fresh(data: np.ndarray, psf: np.ndarray | None, args: argparse.Namespace) -> dict:
    """LM then NUTS with defaults on a fresh model object, timed end to end."""
    import bayesphot as bp

    t0 = time.perf_counter()
    group = build(data, psf)
    bp.fit.LM(group).fit()
    t_lm = time.perf_counter() - t0
    sampler = bp.infer.NUTS(group, chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
                            device=args.device, progress=args.progress)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = sampler.run()
    wall = time.perf_counter() - t0
    grad_s = gradient_seconds(sampler.program)  # one compiled gradient alone; the same program for the rerun
    row = _fresh_row(post, grad_s, wall, t_lm, args)
    if args.rerun:  # the same sampler again: every program compiled, so sampling time is arithmetic and loop
        t1 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            again = sampler.run()
        warm = _fresh_row(again, grad_s, time.perf_counter() - t1, 0.0, args)
        row["warm_rerun"] = {k: warm[k] for k in ("wall_s", "sampling_s", "gradient_evaluations",
                                                 "sampling_over_gradients", "min_bulk_ess", "ess_per_s")}
    return row


def _fresh_row(post: Any, grad_s: float, wall: float, t_lm: float, args: argparse.Namespace) -> dict:
    import arviz as az

    names = post.names
    ess = az.ess(post.idata, var_names=names, method="bulk")
    min_ess = min(float(np.min(ess[n].values)) for n in names)
    stats = post.idata.sample_stats
    evaluations = int(post.attrs.get("gradient_evaluations", -1))
    sampling = float(post.attrs["sampling_seconds"])
    return {
        "config": "bayesphot", "backend": "numpyro (bayesphot, fresh object, LM + NUTS)", "chains": args.chains,
        "warmup": args.warmup, "draws": args.draws, "wall_s": wall, "start_s": t_lm + float(post.attrs["map_seconds"]),
        "min_bulk_ess": min_ess, "ess_per_s": min_ess / wall,
        "worst": min(names, key=lambda n: float(np.min(ess[n].values))),
        "mean_tree_depth": float(stats["tree_depth"].mean()), "mean_steps": float(stats["n_steps"].mean()),
        "divergences": int(stats["diverging"].sum()), "gradient_seconds": grad_s,
        "gradient_evaluations": evaluations, "sampling_s": sampling,
        "sampling_over_gradients": sampling / max(evaluations * grad_s, 1e-12),
        "means": {n: float(post.mean(n)) for n in names}, "sds": {n: float(post.sd(n)) for n in names},
        "issues": post.issues,
    }


def stamp(seed: int, size: int = 64) -> Any:
    """One simulated 64² Sérsic + sky stamp (truth drawn per seed) and its initialised group."""
    import bayesphot as bp
    from bayesphot.render import QuadratureConfig

    rng = np.random.default_rng(seed)
    truth = {"q": rng.uniform(0.4, 0.95), "PA": rng.uniform(0, np.pi), "n": rng.uniform(0.8, 3.0),
             "Re": rng.uniform(2.5, 5.0), "Ie": rng.uniform(5.0, 15.0)}
    c = (size - 1) / 2.0
    blank = bp.TargetImage(np.zeros((size, size)))
    # the truth through one fixed fine rule (QuadratureConfig()), so that every stamp's simulation shares one
    # compiled render; with the automatic rule each truth chose its own and compiled it (0.3–0.9 s a stamp)
    image = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, x=c + rng.uniform(-1, 1),
                                y=c + rng.uniform(-1, 1), quadrature=QuadratureConfig(), **truth).render())
    data = image + SKY + rng.normal(0.0, NOISE, image.shape)
    return build(data, None)


def run_stamps(count: int, args: argparse.Namespace) -> dict:
    """``count`` stamps sampled as one vectorised program; objects per hour."""

    import bayesphot as bp

    groups = [stamp(1000 + i) for i in range(count)]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        posts = bp.infer.NUTS(groups, chains=args.stamp_chains, warmup=args.stamp_warmup, draws=args.stamp_draws,
                              seed=args.seed, device=args.device, progress=args.progress,
                              max_tree_depth=args.stamp_max_tree_depth,
                              target_accept=args.stamp_target_accept).run()
    wall = time.perf_counter() - t0
    # where the wall time went: start search and sampling (summed over objects), the rest is per-object Python
    start_s = float(sum(p.attrs["map_seconds"] for p in posts))
    sampling_s = float(sum(p.attrs["sampling_seconds"] for p in posts))
    rhat, ess = worst_rhat_ess(posts)
    loop_steps = sum(steps for _, steps in lane_programs(posts))
    return {"stamps": count, "chains": args.stamp_chains, "warmup": args.stamp_warmup, "draws": args.stamp_draws,
            "wall_s": wall, "objects_per_hour": 3600.0 * count / wall,
            "fraction_rhat_ok": float(np.mean(rhat <= 1.01)), "median_min_ess": float(np.median(ess)),
            "fraction_flagged": float(np.mean([bool(p.issues) for p in posts])),
            "start_search_s": start_s, "sampling_s": sampling_s, "other_s": wall - start_s - sampling_s,
            "batched_objects": int(posts[0].attrs.get("batched_objects", 1)),
            "gradient_evaluations_per_object": float(np.mean([p.attrs["gradient_evaluations"] for p in posts])),
            # lanes stepping independently: the loop steps of all programs, and sampling seconds per loop step
            # (compilation included)
            "program_steps": loop_steps,
            "seconds_per_program_step": sampling_s / loop_steps if loop_steps else float("nan"),
            "max_tree_depth": args.stamp_max_tree_depth, "target_accept": args.stamp_target_accept,
            **lockstep(posts, args.stamp_max_tree_depth),
            **device_memory(),
            "objects": [per_object(p, 1000 + i, r, e)
                        for i, (p, r, e) in enumerate(zip(posts, rhat, ess, strict=True))]}


def lane_programs(posts: list) -> dict[tuple[str, int], list[int]]:
    """The programs whose lanes stepped independently, each known by its ``program`` attribute and its loop
    steps (``program_steps``), with the indices of its posteriors."""
    programs: dict[tuple[str, int], list[int]] = {}
    for i, p in enumerate(posts):
        if "program_steps" in p.attrs:
            programs.setdefault((str(p.attrs["program"]), int(p.attrs["program_steps"])), []).append(i)
    return programs


def run_stamps_with(engine: str, count: int, args: argparse.Namespace) -> dict:
    """:func:`run_stamps` with the vectorised NUTS engine ``engine``: ``"lanes"`` (lanes step independently,
    the default) or ``"lockstep"`` (numpyro's kernel under ``vmap``, every lane waiting for the longest tree)."""
    import bayesphot as bp
    from bayesphot.infer import _numpyro

    with bp.backend.using("jax", device=args.device):
        vectorised = _numpyro.vectorise_objects()
    chosen = _numpyro.lanes_apart
    if engine == "lockstep":
        _numpyro.lanes_apart = lambda settings: False
    try:
        # on a CPU neither engine runs: every (object, chain) is a single-chain program in a thread
        return {"engine": engine if vectorised else "threads", **run_stamps(count, args)}
    finally:
        _numpyro.lanes_apart = chosen


def worst_rhat_ess(posts: list) -> tuple[np.ndarray, np.ndarray]:
    """Per posterior, the largest r̂ and the smallest bulk ESS over its parameters (ArviZ, once per posterior)."""
    import arviz as az

    rhat, ess = [], []
    for p in posts:
        r = az.rhat(p.idata, var_names=p.names)
        e = az.ess(p.idata, var_names=p.names, method="bulk")
        rhat.append(max(float(np.max(r[n].values)) for n in p.names))
        ess.append(min(float(np.min(e[n].values)) for n in p.names))
    return np.array(rhat), np.array(ess)


def per_object(post: Any, seed: int, rhat: float, ess: float) -> dict[str, Any]:
    """One stamp's sampler record: which object has long trees, divergences or issues."""
    stats = post.idata.sample_stats
    steps = np.asarray(stats["n_steps"].values)
    return {"seed": seed, "mean_steps": float(steps.mean()), "max_steps": int(steps.max()),
            "step_size": float(np.mean(stats["step_size"].values)), "max_rhat": float(rhat), "min_ess": float(ess),
            "divergences": int(np.sum(stats["diverging"].values)), "issues": list(post.issues),
            "mass_matrix": str(post.attrs.get("mass_matrix", ""))}


def lockstep(posts: list, max_tree_depth: int, pixels: int = 64 * 64) -> dict[str, float | int]:
    """What the draws' lockstep cost: the lanes (objects × chains) of one vectorised program step together, so
    each draw lasts as long as the longest trajectory among them.  Over the draws (warm-up is not recorded):
    Σ longest / Σ mean trajectory, per program, averaged; the share of lane-draws at the maximum depth; and
    the number of adaptive objects (their start curvature was not trusted: they sample with an adapted mass
    matrix in a program of their own, on a GPU about as long as the main program, whatever its size).

    The programs are rebuilt as the sampler made them (the posteriors' ``program`` attribute: objects set
    apart for their pixel rule, or adapting their mass matrix, ran in programs of their own; older
    posteriors without it: adaptive or not), each in the padded slices of
    :func:`bayesphot.infer._numpyro.nuts_batch_size`.  ``lockstep_factor_main`` is the factor of the
    program with the most objects alone.
    """
    from bayesphot.infer._numpyro import nuts_batch_size
    from bayesphot.infer.slices import padded_slices

    steps = np.stack([np.asarray(p.idata.sample_stats["n_steps"].values) for p in posts])  # objects, chains, draws
    adapted = np.array(["+adapted" in str(p.attrs.get("mass_matrix", "")) for p in posts])
    # the sampler's programs: by the posteriors' "program" attribute (objects set apart for their pixel rule
    # ran in programs of their own), else adaptive or not
    programs = [str(p.attrs.get("program", "+adapted" if a else "main")) for p, a in zip(posts, adapted, strict=True)]
    factors: dict[str, list[float]] = {}
    for name in dict.fromkeys(programs):
        members = np.flatnonzero(np.array(programs) == name)
        for index, real in padded_slices(len(members), nuts_batch_size(pixels, steps.shape[1])):
            lanes = steps[members[index[:real]]].reshape(-1, steps.shape[-1])  # lanes, draws
            factors.setdefault(name, []).append(float(lanes.max(axis=0).sum() / lanes.mean(axis=0).sum()))
    largest = max(dict.fromkeys(programs), key=programs.count)
    main = steps[np.array(programs) == largest]  # the main program: the one with the most objects
    # the programs whose lanes stepped independently record their loop's steps: what all lanes paid
    independent = [loop * steps.shape[1] * len(members) / sum(int(posts[i].attrs["gradient_evaluations"])
                                                               for i in members)
                   for (_, loop), members in lane_programs(posts).items()]
    return {"lockstep_factor_draws": float(np.mean([f for fs in factors.values() for f in fs])),
            # the factor actually paid where lanes stepped independently (loop steps × lanes / their steps)
            "lanes_factor": float(np.mean(independent)) if independent else float("nan"),
            "lockstep_factor_main": float(np.mean(factors[largest])), "programs": len(factors),
            "mean_steps_per_draw": float(steps.mean()),
            "longest_steps_per_draw_main": float(np.mean(main.reshape(-1, steps.shape[-1]).max(axis=0))),
            "mean_steps_per_draw_adaptive": float(steps[adapted].mean()) if np.any(adapted) else float("nan"),
            "fraction_at_max_depth": float(np.mean(steps >= 2 ** max_tree_depth - 1)),
            "adaptive_objects": int(adapted.sum())}


def device_memory() -> dict[str, float]:
    """Peak and limit of the JAX device's memory (GB) where the device reports them (GPUs do; CPUs may not)."""
    try:
        import jax

        stats = jax.devices()[0].memory_stats() or {}
    except Exception:  # a backend without memory statistics
        return {}
    return {f"device_{k}_gb": stats[k] / 1e9 for k in ("peak_bytes_in_use", "bytes_limit") if k in stats}


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
    parser.add_argument("--skip", nargs="*", default=[], help=f"configs to skip (exact names): {', '.join(CONFIGS)}")
    parser.add_argument("--only", nargs="*", default=None, help="run only these configs ('none': no single-image run)")
    parser.add_argument("--no-psf", action="store_true", help="no PSF (the hand-written baseline's simplest case)")
    parser.add_argument("--stamps", nargs="*", type=int, default=[], help="numbers of 64² stamps for objects/hour")
    parser.add_argument("--stamp-chains", type=int, default=4)
    parser.add_argument("--stamp-warmup", type=int, default=200)
    parser.add_argument("--stamp-draws", type=int, default=500)
    parser.add_argument("--stamp-max-tree-depth", type=int, default=10)
    parser.add_argument("--stamp-target-accept", type=float, default=0.8,
                        help="NUTS target acceptance for the stamps (benchmarks/target_accept.py: 0.6 halves the "
                             "steps per draw on these stamps, 0.5 diverges)")
    parser.add_argument("--stamp-engine", nargs="+", choices=("lanes", "lockstep"), default=["lanes"],
                        help="on an accelerator: NUTS whose lanes step independently (the default), numpyro's "
                             "kernel in lockstep (as before), or both in turn, same stamps")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--rerun", action="store_true", help="run bayesphot's NUTS a second time, compiled (warm)")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "sampling.json"))
    args = parser.parse_args()
    if args.device == "auto":
        args.device = None

    import bayesphot as bp

    # the libraries both workflows need (numpyro to sample, ArviZ for ESS and summaries) are imported
    # before either is timed: whichever ran first would otherwise pay the whole process's imports
    t_import = time.perf_counter()
    import arviz  # noqa: F401
    import numpyro.infer  # noqa: F401
    args.library_import_s = time.perf_counter() - t_import
    print(f"numpyro and ArviZ imported in {args.library_import_s:.1f} s (not in any wall time below)", flush=True)

    unknown = sorted(set(args.skip) | set(args.only or []) - set(CONFIGS) - {"none"})
    if unknown:
        parser.error(f"unknown configs {unknown}; choose from {', '.join(CONFIGS)}")
    wanted = [c for c in CONFIGS if c not in args.skip and (args.only is None or c in args.only)]
    data, psf = simulate(args.size, args.seed, use_psf=not args.no_psf)
    results = []
    map_seconds = float("nan")
    if "bayesphot" in wanted:
        print("running bayesphot (fresh object: LM + NUTS) ...", flush=True)
        results.append(run_fresh(data, psf, args))
        print(f"  {results[-1]['wall_s']:.1f} s, min ESS {results[-1]['min_bulk_ess']:.0f}", flush=True)
        save(args, map_seconds, results, [])
    if "handwritten-numpyro" in wanted:
        import handwritten

        print("running handwritten-numpyro ...", flush=True)
        start = build(data, psf)   # the hand-written model starts where bayesphot's LM starts
        init = {("sky" if k == "sky:I" else k.split(":")[1]): float(np.asarray(p.value))
                for k, p in start.parameters.items()}
        results.append(handwritten.run(data, NOISE, psf, args.warmup, args.draws, args.chains, args.seed, init))
        print(f"  {results[-1]['wall_s']:.1f} s, min ESS {results[-1]['min_bulk_ess']:.0f}", flush=True)
        save(args, map_seconds, results, [])
    shared = [c for c in ("numpyro-laplace", "numpyro-diagonal", "pyro-laplace") if c in wanted]
    if shared:
        group = build(data, psf)
        t0 = time.perf_counter()
        fit = bp.fit.LM(group).fit()
        map_seconds = time.perf_counter() - t0
        fitted = {k: (np.asarray(p.value), np.asarray(p.uncertainty)) for k, p in group.parameters.items()}
        print(f"MAP: {fit.message} in {map_seconds:.1f} s")
    for name in shared:
        print(f"running {name} ...", flush=True)
        results.append(run_bayesphot(name, data, psf, fitted, args))
        print(f"  {results[-1]['wall_s']:.1f} s, min ESS {results[-1]['min_bulk_ess']:.0f}", flush=True)
        save(args, map_seconds, results, [])
    if "pysersic" in wanted:
        print("running pysersic ...", flush=True)
        ps = run_pysersic(data, psf, args)
        if ps is None:
            print("  pysersic is not installed: skipped")
        else:
            results.append(ps)
    stamps: list[dict] = []
    for count, engine in itertools.product(args.stamps, args.stamp_engine):
        print(f"running {count} stamps ({engine}) ...", flush=True)
        stamps.append(run_stamps_with(engine, count, args))
        st = stamps[-1]
        print(f"  {st['wall_s']:.1f} s: {st['objects_per_hour']:.0f} objects/hour (start {st['start_search_s']:.1f} s, "
              f"sampling {st['sampling_s']:.1f} s, other {st['other_s']:.1f} s; {st['batched_objects']} a program; "
              f"lockstep {st['lockstep_factor_draws']:.2f}, lanes {st['lanes_factor']:.2f}, "
              f"steps/draw {st['mean_steps_per_draw']:.1f}, "
              f"at max depth {st['fraction_at_max_depth']:.4f}; {st['adaptive_objects']} adaptive)", flush=True)
        save(args, map_seconds, results, stamps)
    by = {r["config"]: r for r in results}
    for r in results:
        if "numpyro-diagonal" in by:
            r["ratio_vs_diagonal"] = r["ess_per_s"] / by["numpyro-diagonal"]["ess_per_s"]
        if "pysersic" in by:
            r["ratio_vs_pysersic"] = r["ess_per_s"] / by["pysersic"]["ess_per_s"]
    for r in results:
        if "handwritten-numpyro" in by:
            r["ratio_vs_handwritten"] = r["ess_per_s"] / by["handwritten-numpyro"]["ess_per_s"]
    print(f"\n{args.size}x{args.size} Sérsic + {'' if args.no_psf else 'PSF + '}sky on "
          f"{args.device or 'default device'}; shared MAP {map_seconds:.1f} s (not in those wall times; "
          "'bayesphot' includes its own LM)")
    head = (f"{'config':18s} {'chains':>6s} {'warm+draws':>10s} {'wall s':>8s} {'min ESS':>8s} {'ESS/s':>8s} "
            f"{'depth':>6s} {'div':>4s} {'vs diag':>8s} {'vs hand':>8s} {'vs pysersic':>11s}")
    print(head)
    for r in results:
        print(f"{r['config']:18s} {r['chains']:6d} {str(r['warmup']) + '+' + str(r['draws']):>10s} "
              f"{r['wall_s']:8.1f} {r['min_bulk_ess']:8.0f} {r['ess_per_s']:8.3f} {r['mean_tree_depth']:6.2f} "
              f"{r['divergences']:4d} {r.get('ratio_vs_diagonal', float('nan')):8.2f} "
              f"{r.get('ratio_vs_handwritten', float('nan')):8.2f} "
              f"{r.get('ratio_vs_pysersic', float('nan')):11.2f}")
    for r in results:
        if "sampling_over_gradients" in r:
            print(f"{r['config']}: sampling {r['sampling_s']:.2f} s for {r['gradient_evaluations']} gradients of "
                  f"{1e3 * r['gradient_seconds']:.3f} ms: {r['sampling_over_gradients']:.2f}× their product")
        if "warm_rerun" in r:
            w = r["warm_rerun"]
            print(f"{r['config']} again (compiled): sampling {w['sampling_s']:.2f} s for {w['gradient_evaluations']} "
                  f"gradients: {w['sampling_over_gradients']:.2f}× their product; {w['ess_per_s']:.1f} ESS/s")
    if stamps:
        print(f"\n{'stamps':>6s} {'chains':>6s} {'warm+draws':>10s} {'wall s':>8s} {'objects/h':>10s} "
              f"{'r̂≤1.01':>7s} {'med ESS':>8s} {'flagged':>7s}")
        for st in stamps:
            print(f"{st['stamps']:6d} {st['chains']:6d} {str(st['warmup']) + '+' + str(st['draws']):>10s} "
                  f"{st['wall_s']:8.1f} {st['objects_per_hour']:10.0f} {st['fraction_rhat_ok']:7.2f} "
                  f"{st['median_min_ess']:8.0f} {st['fraction_flagged']:7.2f}")
    print(f"written {save(args, map_seconds, results, stamps)}")


def save(args: argparse.Namespace, map_seconds: float, results: list[dict], stamps: list[dict]) -> Path:
    """Write what has been measured so far (after every run, so a run cut short keeps the finished ones)."""
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"size": args.size, "device": args.device or "auto", "machine": platform.platform(),
                               "accelerator": accelerator(), "map_seconds": map_seconds, "truth": TRUTH,
                               "psf": not args.no_psf,
                               "library_import_s": getattr(args, "library_import_s", None),
                               "results": results, "stamps": stamps}, indent=1,
                              default=float))
    return out


def accelerator() -> str:
    """The JAX default device, e.g. 'cuda:0 NVIDIA H100 80GB HBM3', or 'cpu'."""
    import jax

    device = jax.devices()[0]
    return f"{device.platform}:{device.id} {getattr(device, 'device_kind', '')}".strip()


if __name__ == "__main__":
    main()
