"""``bayesphot example``: the whole workflow on the bundled image of IC 3478, on a 96×96 stamp."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ._workflow import Workflow, add_sampling_arguments, say

NAME = "example"
#: The default stamp: 96×96 pixels around the galaxy's centre (x, y ≈ 128, 129).
STAMP = [[80, 176], [81, 177]]
#: The larger window of the whole galaxy (``--full``): 180×180 pixels.
FULL = [[40, 220], [40, 220]]

DESCRIPTION = """\
Fit the bundled SDSS r-band image of the dwarf elliptical IC 3478 (from
Imfit's examples) with a PSF-convolved Sérsic model, then sample its
posterior: initialise -> Levenberg-Marquardt MAP with Laplace uncertainties
-> NUTS started at the MAP. Each stage prints its results and writes a
figure; the model (YAML), the posterior (NetCDF) and a summary table (ECSV)
go to the output folder.

By default a 96x96-pixel stamp around the galaxy's centre is fitted, with
2 chains x (100 warm-up + 400 draws): about a minute on two cores
with an empty JAX cache, compilation included. --full fits the 180x180 window of the whole galaxy (several
times as long)."""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(NAME, help="fit and sample the bundled IC 3478 image end to end (about a minute)",
                                   description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="bayesphot_example", help="output folder (default: %(default)s)")
    parser.add_argument("--full", action="store_true",
                        help="fit the whole galaxy (180x180 pixels) instead of the 96x96 stamp")
    parser.add_argument("--no-psf", action="store_true", help="fit without PSF convolution (faster)")
    parser.add_argument("--no-sample", action="store_true", help="stop after the MAP fit")
    parser.add_argument("--no-figures", action="store_true", help="write no PNG figures")
    parser.add_argument("--pointwise", action="store_true",
                        help="store the per-pixel log-likelihood of every draw in the posterior (for LOO/WAIC; "
                             "slower); by default only its sum per draw")
    parser.add_argument("--zeropoint", type=float, default=None,
                        help="magnitude zero-point (mag of 1 ADU) to report magnitudes; none is known "
                             "for this cutout, so fluxes are in ADU by default")
    add_sampling_arguments(parser, chains=2, warmup=100, draws=400)
    return parser


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    say("bayesphot example: IC 3478, SDSS r band (Imfit's example image), PSF-convolved Sérsic")
    import bayesphot as bp
    from bayesphot.data import IC3478_PIXELSCALE, ic3478_target

    target = ic3478_target(psf=not args.no_psf, zeropoint=args.zeropoint, pixelscale=IC3478_PIXELSCALE)
    window = FULL if args.full else STAMP
    galaxy = bp.Model("IC3478", "sersic galaxy model", target=target, window=window)
    flow = Workflow(galaxy, Path(args.out), "ic3478", figures=not args.no_figures)
    flow.describe_target("SDSS, set explicitly; windows are in pixels, sizes in arcsec")
    flow.initialize()
    flow.map_fit()
    if not args.no_sample:
        flow.sample(args.chains, args.warmup, args.draws, args.seed, args.backend, pointwise=args.pointwise,
                    progress=not args.no_progress)
    flow.close(started)
    return 0
