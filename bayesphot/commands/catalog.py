"""``bayesphot catalog``: the catalog pipeline from the shell.

``bayesphot catalog IMAGE.fits [--variance|--weight|--rms FILE] [--mask FILE] [--psf FILE] [--segmap FILE]
[--sampler laplace|nuts] [--draws N] [--scheduler ADDRESS] --out FILE``

Registered in :data:`bayesphot.cli.SUBCOMMANDS` (this module imports only argparse at the top);
the parser's handler is :func:`run`.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``catalog`` subcommand to an ``argparse`` subparsers object."""
    from ._workflow import PSF_KIND_HELP

    p = subparsers.add_parser(
        "catalog", help="detect, group, fit, choose models and sample every source of an image into a catalog",
        description="Image → detection → groups → MAP → model choice → posterior → one catalog row per source, "
                    "on Dask; re-running the same command resumes an interrupted run.")
    p.add_argument("image", help="image FITS file")
    noise = p.add_mutually_exclusive_group()
    noise.add_argument("--variance", help="variance map (FITS)")
    noise.add_argument("--weight", help="weight (1/variance) map (FITS)")
    noise.add_argument("--rms", help="noise rms map (FITS)")
    p.add_argument("--mask", help="bad-pixel mask (FITS, non-zero = bad)")
    p.add_argument("--background", help="background map (FITS) subtracted first (each group still fits a sky)")
    p.add_argument("--psf", help="PSF image (FITS); default: an ePSF built from the image's stars")
    p.add_argument("--psf-kind", choices=("sampled", "effective"), default=None,
                   help=PSF_KIND_HELP)
    p.add_argument("--segmap", help="segmentation map (FITS), used as is instead of detection")
    p.add_argument("--sampler", choices=("laplace", "nuts"), default="laplace",
                   help="posterior: Laplace draws at the MAP (default) or NUTS")
    p.add_argument("--draws", type=int, default=1000, help="posterior draws per group (default: %(default)s)")
    p.add_argument("--nuts-seconds", type=float, default=300.0,
                   help="NUTS time limit per group in seconds (start search included): a group whose warm-up "
                        "does not end in time gets Laplace draws, flagged (default: %(default)s)")
    p.add_argument("--criterion", choices=("dchi2", "evidence"), default="dchi2",
                   help="model choice: the Tractor's penalised Δχ² (default) or the Laplace evidence")
    p.add_argument("--types", default="point,exp,dev,sersic", help="candidate types (default: %(default)s)")
    p.add_argument("--zeropoint", type=float, help="magnitude zero-point")
    p.add_argument("--pixelscale", type=float, help="arcsec per pixel (default: header/WCS, else 1)")
    p.add_argument("--nsigma", type=float, default=2.0, help="detection threshold in σ (default: %(default)s)")
    p.add_argument("--npixels", type=int, default=5, help="minimum pixels of a detection (default: %(default)s)")
    p.add_argument("--scheduler", help="address of a running Dask scheduler (default: a local cluster)")
    p.add_argument("--workers", type=int, help="local Dask workers (default: the machine's cores)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--retry-failed", action="store_true", help="re-run groups that failed before")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="catalog file, .fits or .ecsv")
    p.set_defaults(handler=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Run the catalog for parsed arguments; returns the exit status."""
    from ..catalog.run import run as run_catalog
    from ..catalog.settings import CatalogSettings
    from ..image.psf import PSFImage

    psf = args.psf if args.psf is None or args.psf_kind is None else PSFImage.from_fits(args.psf, kind=args.psf_kind)

    types = tuple(t.strip() for t in args.types.split(",") if t.strip())
    settings = CatalogSettings(types=types, criterion=args.criterion, sampler=args.sampler, draws=args.draws,
                               nuts_seconds=args.nuts_seconds, seed=args.seed)
    table = run_catalog(
        args.image, args.out, variance=args.variance, weight=args.weight, rms=args.rms, mask=args.mask,
        psf=psf, segmap=args.segmap, background=args.background, pixelscale=args.pixelscale,
        zeropoint=args.zeropoint, settings=settings, detection={"nsigma": args.nsigma, "npixels": args.npixels},
        scheduler=args.scheduler, n_workers=args.workers, progress=not args.no_progress,
        retry_failed=args.retry_failed)
    failed = int((table["flags"] & 32 != 0).sum()) if len(table) else 0
    print(f"wrote {len(table)} sources to {args.out} ({failed} in failed groups)")
    return 0


__all__ = ["add_parser", "run"]
