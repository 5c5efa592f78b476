"""Laplace σ (LM's Gauss–Newton, and the exact Hessian at the mode) against NUTS sd on IC 3478.

Usage::

    python benchmarks/laplace_vs_nuts.py          # the 96 × 96 stamp of the example
    python benchmarks/laplace_vs_nuts.py --full   # the 180 × 180 window of the whole galaxy

Prints, per parameter (unconstrained coordinates), σ_GN / sd_NUTS, σ_Hessian / sd_NUTS, the bulk
ESS and the skewness of the draws, and writes ``benchmarks/results/laplace_vs_nuts.json``
(docs/inference.md, "Laplace σ or NUTS?").
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

STAMP = [[80, 176], [81, 177]]
FULL = [[40, 220], [40, 220]]


def compare(window: list[list[int]], chains: int, warmup: int, draws: int, seed: int) -> dict:
    import arviz as az
    from scipy.stats import skew

    import bayesphot as bp
    from bayesphot.data import IC3478_PIXELSCALE, ic3478_target
    from bayesphot.infer.mode import refine_mode
    from bayesphot.infer.start import interval_coordinates
    from bayesphot.models import default_priors
    from bayesphot.program import Program

    target = ic3478_target(psf=True, pixelscale=IC3478_PIXELSCALE)
    galaxy = bp.Model("IC3478", "sersic galaxy model", target=target, window=window)
    galaxy.initialize()
    fit = bp.fit.LM(galaxy).fit()
    program = Program(galaxy, priors=default_priors(galaxy))
    u = program.free.unconstrained()
    with bp.backend.using("jax"):
        mode = refine_mode(program.lower("log_density"), u, interval_coordinates(program))
    sigma_gn = np.sqrt(np.diag(fit.covariance_unconstrained))
    sigma_hessian = np.sqrt(np.diag(np.linalg.inv(mode.hessian)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bp.infer.NUTS(galaxy, chains=chains, warmup=warmup, draws=draws, progress=False, seed=seed,
                             write_back=False).run()
    names = program.free.names
    coords = np.stack([np.ravel(program.free.transforms[i].inverse(np.asarray(post.draws(n))))
                       for i, n in enumerate(names)], axis=1)
    sd = coords.std(axis=0, ddof=1)
    ess = az.ess(post.idata, var_names=names, method="bulk")
    rows = {n: {"gn_over_nuts": float(sigma_gn[i] / sd[i]), "hessian_over_nuts": float(sigma_hessian[i] / sd[i]),
                "ess_bulk": float(ess[n].values), "skewness": float(skew(coords[:, i]))}
            for i, n in enumerate(names)}
    return {"window": window, "chi2_ndf": float(post.attrs["ppc_chi2_ndf"]), "sampler_ok": post.ok,
            "chains": chains, "warmup": warmup, "draws": draws, "parameters": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the whole galaxy (180 × 180) instead of the stamp")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "laplace_vs_nuts.json"))
    args = parser.parse_args()
    key = "full" if args.full else "stamp"
    result = compare(FULL if args.full else STAMP, args.chains, args.warmup, args.draws, args.seed)
    print(f"IC 3478 {key}: chi2/ndf {result['chi2_ndf']:.3f}, sampler diagnostics ok: {result['sampler_ok']}")
    print(f"{'param':8s} {'GN/NUTS':>8s} {'Hess/NUTS':>9s} {'ESS':>6s} {'skew':>6s}")
    for name, row in result["parameters"].items():
        print(f"{name.split(':')[-1]:8s} {row['gn_over_nuts']:8.3f} {row['hessian_over_nuts']:9.3f} "
              f"{row['ess_bulk']:6.0f} {row['skewness']:6.2f}")
    out = Path(args.out)
    stored = json.loads(out.read_text()) if out.exists() else {}
    stored[key] = result
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(stored, indent=1))


if __name__ == "__main__":
    main()
