"""Bundled example data (IC 3478, from Imfit's examples; see README.md here)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

IC3478_NOISE = {"gain": 4.725, "read_noise": 4.3, "sky_level": 130.14}


def path(name: str) -> Path:
    """Filesystem path of a bundled file, e.g. ``path("ic3478rss_256.fits")``."""
    return Path(str(resources.files(__name__).joinpath(name)))


#: SDSS pixel scale, arcsec per pixel (the image's WCS gives the same).
IC3478_PIXELSCALE = 0.396


def ic3478_target(psf: bool = False, zeropoint: float | None = None, pixelscale: float = 1.0):
    """The IC 3478 target with its mask and Imfit's CCD noise model.

    Parameters
    ----------
    psf : bool
        Attach the bundled 51×51 Moffat PSF.
    zeropoint : float, optional
        Magnitude zero-point (mag of 1 ADU); none is known for this cutout.
    pixelscale : float
        arcsec per pixel.  The default 1 works in pixels, as Imfit's published
        fit does; :data:`IC3478_PIXELSCALE` (0.396) gives arcsec.
    """
    from ..image import PSFImage, TargetImage

    return TargetImage.from_fits(
        path("ic3478rss_256.fits"),
        mask=path("ic3478rss_256_mask.fits"),
        psf=PSFImage.from_fits(path("psf_moffat_51.fits"), kind="sampled") if psf else None,
        pixelscale=pixelscale,
        zeropoint=zeropoint,
        **IC3478_NOISE,
    )
