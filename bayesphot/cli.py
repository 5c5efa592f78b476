"""Command line: ``bayesphot example`` runs the whole workflow on bundled data.

The example fits IC 3478 (SDSS r, bundled from Imfit's examples) with a
PSF-convolved Sérsic: initialise → Levenberg–Marquardt MAP with Laplace
uncertainties → NUTS started at the MAP with the Laplace covariance as its
mass matrix → a parameter table, the saved model (YAML), the posterior
(netCDF) and a figure, all written to ``--out``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path


def _example(args: argparse.Namespace) -> int:
    import bayesphot as bp
    from bayesphot.data import ic3478_target

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    target = ic3478_target(psf=not args.no_psf)
    galaxy = bp.Model("IC3478", "sersic galaxy model", target=target, window=[[40, 220], [40, 220]])
    galaxy.initialize()
    print("initial values (moments and median profile):")
    print(galaxy)

    start = time.perf_counter()
    result = bp.fit.LM(galaxy, verbose=1).fit()
    print(f"\nLM: {result.message} in {time.perf_counter() - start:.1f} s, chi²/ndf = {result.chi2_ndf:.5f}")
    print(galaxy)
    galaxy.save(out / "ic3478_map.yaml")

    if not args.no_sample:
        start = time.perf_counter()
        try:
            posterior = bp.infer.NUTS(galaxy, chains=args.chains, warmup=args.warmup, draws=args.draws,
                                      seed=args.seed, backend=args.backend).run()
        except KeyboardInterrupt:
            print("\ninterrupted: the MAP fit is saved in", out / "ic3478_map.yaml")
            return 130
        print(f"\nNUTS ({args.backend}): {time.perf_counter() - start:.1f} s")
        print(posterior.summary().to_string())
        print(galaxy)
        posterior.to_netcdf(out / "ic3478_posterior.nc")
        galaxy.save(out / "ic3478_posterior.yaml")

    _figure(galaxy, out / "ic3478.png")
    print(f"\nwrote {', '.join(sorted(p.name for p in out.iterdir()))} to {out}/")
    return 0


def _figure(model, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import bayesphot as bp

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.5))
    bp.plots.target_image(fig, axes[0], model.target)
    bp.plots.model_image(fig, axes[1], model)
    bp.plots.residual_image(fig, axes[2], model)
    bp.plots.galaxy_light_profile(fig, axes[3], model)
    bp.plots.radial_median_profile(fig, axes[3], model)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bayesphot", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ex = sub.add_parser("example", help="fit and sample the bundled IC 3478 image end to end")
    ex.add_argument("--out", default="bayesphot_example", help="output folder (default: %(default)s)")
    ex.add_argument("--chains", type=int, default=2)
    ex.add_argument("--warmup", type=int, default=100, help="step-size tuning iterations per chain")
    ex.add_argument("--draws", type=int, default=250, help="posterior draws per chain")
    ex.add_argument("--seed", type=int, default=0)
    ex.add_argument("--backend", choices=("numpyro", "pyro"), default="numpyro")
    ex.add_argument("--no-psf", action="store_true", help="fit without PSF convolution (faster)")
    ex.add_argument("--no-sample", action="store_true", help="stop after the MAP fit")
    ex.set_defaults(handler=_example)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``bayesphot`` command."""
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
