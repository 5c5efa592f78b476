"""``bayesphot fit IMAGE.fits``: fit (and optionally sample) one object in a user's own image."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ._workflow import PSF_KIND_HELP, Workflow, add_sampling_arguments, say

NAME = "fit"

#: Short names accepted by --model, and the model type each stands for.
MODELS = {
    "sersic": "sersic galaxy model",
    "exponential": "exponential galaxy model",
    "gaussian": "gaussian galaxy model",
    "moffat": "moffat galaxy model",
    "spline": "spline galaxy model",
    "point": "point source",
}
SKIES = {"flat": "flat sky model", "plane": "plane sky model", "none": None}

DESCRIPTION = """\
Fit one object in a FITS image: a galaxy model (Sersic by default) plus a
flat sky, found by Levenberg-Marquardt (MAP, with Laplace uncertainties), and
with --sample its posterior by NUTS. Writes, into --out: the fitted model
(NAME_map.yaml, and NAME_posterior.yaml after sampling), the posterior
(NAME_posterior.nc, ArviZ NetCDF), a summary table with units
(NAME_summary.ecsv) and one PNG figure per stage.

Noise: give one of --variance, --rms or --weight (FITS images of the same
shape as the data, or a single number), or --gain [--read-noise --sky-level]
for a CCD noise model computed from the data. Coordinates of --window are
0-based pixels, xmin xmax ymin ymax, the max excluded. The pixel scale
comes from --pixelscale, else the PIXSCALE keyword, else the WCS, else 1
(pixel units); the one used is printed. Model sizes are in arcsec at that
scale."""

EPILOG = """\
examples:
  bayesphot fit galaxy.fits --rms rms.fits --mask mask.fits --psf psf.fits
  bayesphot fit galaxy.fits --gain 4.7 --read-noise 4.3 --window 40 220 40 220 --sample
  bayesphot fit galaxy.fits --variance var.fits --model exponential --sky plane --out myfit"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(NAME, help="fit a model to your own FITS image (MAP, optionally NUTS)",
                                   description=DESCRIPTION, epilog=EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", help="FITS image (sky-subtracted or not: a sky model is fitted)")
    parser.add_argument("--hdu", default="0", help="HDU of the image: index or name (default: %(default)s)")
    noise = parser.add_argument_group("noise (at most one of --variance, --rms, --weight, --gain)")
    which = noise.add_mutually_exclusive_group()
    which.add_argument("--variance", metavar="F", help="variance image σ² (FITS) or one number")
    which.add_argument("--rms", metavar="F", help="noise image σ (FITS) or one number")
    which.add_argument("--weight", metavar="F", help="weight image 1/σ² (FITS) or one number; 0 = ignore")
    which.add_argument("--gain", type=float, metavar="G",
                       help="CCD gain in e-/ADU: variance from the data, (data + sky)/gain + (read noise/gain)²")
    noise.add_argument("--read-noise", type=float, default=0.0, metavar="E", help="read noise in e- (with --gain)")
    noise.add_argument("--sky-level", type=float, default=0.0, metavar="ADU",
                       help="sky already subtracted from the image, in ADU (with --gain)")
    parser.add_argument("--mask", metavar="F", help="mask image (FITS): non-zero marks a bad pixel")
    parser.add_argument("--psf", metavar="F", help="PSF image (FITS, odd size, centred); convolved with the model")
    parser.add_argument("--psf-oversampling", type=int, default=None, metavar="N",
                        help="PSF pixels per image pixel (default: the OVERSAMP keyword, else 1)")
    parser.add_argument("--psf-kind", choices=("sampled", "effective"), default=None,
                        help=PSF_KIND_HELP)
    parser.add_argument("--pixelscale", type=float, default=None, metavar="ARCSEC",
                        help="arcsec per pixel (default: PIXSCALE keyword, else the WCS, else 1)")
    parser.add_argument("--zeropoint", type=float, default=None, metavar="MAG",
                        help="magnitude zero-point, for magnitudes (default: the ZEROPT keyword, if any)")
    parser.add_argument("--model", default="sersic", metavar="TYPE",
                        help=f"galaxy model: {', '.join(MODELS)} or a full model type (default: %(default)s)")
    parser.add_argument("--sky", choices=tuple(SKIES), default="flat",
                        help="sky model fitted with the object (default: %(default)s)")
    parser.add_argument("--window", type=int, nargs=4, metavar=("XMIN", "XMAX", "YMIN", "YMAX"),
                        help="pixels to fit (0-based, max excluded; default: the whole image)")
    parser.add_argument("--name", default="galaxy", help="name of the object's model (default: %(default)s)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: IMAGE's name without .fits, plus _bayesphot)")
    parser.add_argument("--sample", action="store_true", help="sample the posterior with NUTS after the MAP fit")
    parser.add_argument("--no-figures", action="store_true", help="write no PNG figures")
    add_sampling_arguments(parser, chains=2, warmup=200, draws=300)
    return parser


def _number_or_path(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        path = Path(value)
        if not path.exists():
            from bayesphot.errors import ImageError

            raise ImageError(f"no such file: {value}") from None
        return path


def _pixelscale_source(args: argparse.Namespace, header: Any, has_wcs: bool) -> str:
    if args.pixelscale is not None:
        return "from --pixelscale"
    if "PIXSCALE" in header:
        return "from the PIXSCALE keyword"
    if has_wcs:
        return "from the WCS"
    return "none found: pixel units"


def model_type(name: str) -> str:
    """The registered model type of a --model value (short or full name)."""
    from bayesphot.errors import ModelError
    from bayesphot.models.registry import MODEL_TYPES

    full = MODELS.get(name.lower(), name)
    if full not in MODEL_TYPES:
        raise ModelError(f"unknown --model {name!r}: use one of {', '.join(MODELS)} or a model type "
                         f"({', '.join(sorted(MODEL_TYPES))})")
    return full


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    from astropy.io import fits

    import bayesphot as bp
    from bayesphot.errors import ImageError

    image = Path(args.image)
    if not image.exists():
        raise ImageError(f"no such file: {image}")
    hdu: int | str = int(args.hdu) if str(args.hdu).isdigit() else args.hdu
    psf = None
    if args.psf:
        psf = bp.PSFImage.from_fits(args.psf, oversampling=args.psf_oversampling, kind=args.psf_kind)
    options: dict[str, Any] = {}
    if args.gain is not None:
        options.update(gain=args.gain, read_noise=args.read_noise, sky_level=args.sky_level)
    if args.zeropoint is not None:
        options["zeropoint"] = args.zeropoint
    target = bp.TargetImage.from_fits(image, hdu=hdu, mask=_number_or_path(args.mask) if args.mask else None,
                                      variance=_number_or_path(args.variance), rms=_number_or_path(args.rms),
                                      weight=_number_or_path(args.weight), psf=psf, pixelscale=args.pixelscale,
                                      **options)
    with fits.open(image) as hdul:
        header = hdul[hdu].header
        extensions = {h.name for h in hdul}
    source = _pixelscale_source(args, header, target.wcs is not None)
    if target.noise_model is None and args.variance is None and args.rms is None and args.weight is None \
            and "VARIANCE" not in extensions:
        say("warning: no noise given (--variance, --rms, --weight or --gain): every pixel has variance 1, "
            "so χ² and the uncertainties are not meaningful")
    window = None if args.window is None else [[args.window[0], args.window[1]], [args.window[2], args.window[3]]]
    galaxy = bp.Model(args.name, model_type(args.model), target=target, window=window)
    model = galaxy
    if SKIES[args.sky] is not None:
        sky = bp.Model("sky", SKIES[args.sky], target=target, window=galaxy.window)
        model = bp.Model("field", "group", models=[sky, galaxy], target=target)
    out = Path(args.out) if args.out else Path(image.name.removesuffix(".gz").removesuffix(".fits") + "_bayesphot")
    say(f"bayesphot fit: {image} with a {galaxy.model_type}"
        + (f" and a {SKIES[args.sky]}" if SKIES[args.sky] else ""))
    flow = Workflow(model, out, args.name, figures=not args.no_figures)
    flow.describe_target(source)
    flow.initialize()
    flow.map_fit()
    if args.sample:
        flow.sample(args.chains, args.warmup, args.draws, args.seed, args.backend, progress=not args.no_progress)
    else:
        say("\n(no --sample: the uncertainties above are the Laplace approximation at the MAP)")
    flow.close(started)
    return 0
