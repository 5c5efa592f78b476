"""Imfit reference for the bulge + disk fit with a shared centre (run by hand; needs pyimfit).

Imfit (Erwin 2015, ApJ 799, 226) through pyimfit fits a Sérsic bulge and an
exponential disk in one function block, i.e. with one shared centre (X0, Y0),
to a cutout of the SDSS r-band image of IC 3478 (``/work/shared/data/ic3478``,
from Imfit's own examples) with Imfit's data-based CCD errors (gain 4.725
e⁻/ADU, read noise 4.3 e⁻, original sky 130.14 ADU), the mask, and no PSF.
The best fit and Imfit's 1σ errors are written to ``imfit_bulge_disk.json``
next to this script::

    python tests/reference/make_imfit_bulge_disk.py [data folder]

Imfit's conventions: 1-based pixel centres, PA in degrees CCW from +y,
ell = 1 − q, Sérsic I_e and r_e (pixels), exponential I_0 and h (pixels).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from astropy.io import fits

HERE = Path(__file__).parent
OUTPUT = HERE / "imfit_bulge_disk.json"
DATA = Path("/work/shared/data/ic3478")
CUTOUT = {"rows": [78, 180], "cols": [78, 180]}
NOISE = {"gain": 4.725, "read_noise": 4.3, "original_sky": 130.14}
# start values (Imfit conventions), also used as bayesphot's start
START = {"X0": 51.0, "Y0": 51.0, "bulge": {"PA": 20.0, "ell": 0.2, "n": 2.0, "I_e": 100.0, "r_e": 5.0},
         "disk": {"PA": 20.0, "ell": 0.2, "I_0": 200.0, "h": 20.0}}


def cutout(data: Path) -> tuple[np.ndarray, np.ndarray]:
    (r0, r1), (c0, c1) = CUTOUT["rows"], CUTOUT["cols"]
    image = fits.getdata(data / "ic3478rss_256.fits").astype(np.float64)[r0:r1, c0:c1]
    mask = fits.getdata(data / "ic3478rss_256_mask.fits")[r0:r1, c0:c1]
    return image, mask


def main(data: Path = DATA, output: Path | None = OUTPUT) -> dict:
    """Fit with Imfit; write the JSON to ``output`` (None: do not write) and return it."""
    import pyimfit

    image, mask = cutout(data)
    desc = pyimfit.SimpleModelDescription()
    desc.x0.setValue(START["X0"], [START["X0"] - 10, START["X0"] + 10])
    desc.y0.setValue(START["Y0"], [START["Y0"] - 10, START["Y0"] + 10])
    bulge = pyimfit.make_imfit_function("Sersic", label="bulge")
    s = START["bulge"]
    bulge.PA.setValue(s["PA"], [-90, 200])
    bulge.ell.setValue(s["ell"], [0, 0.9])
    bulge.n.setValue(s["n"], [0.4, 8])
    bulge.I_e.setValue(s["I_e"], [0.01, 1e5])
    bulge.r_e.setValue(s["r_e"], [0.3, 300])
    disk = pyimfit.make_imfit_function("Exponential", label="disk")
    s = START["disk"]
    disk.PA.setValue(s["PA"], [-90, 200])
    disk.ell.setValue(s["ell"], [0, 0.9])
    disk.I_0.setValue(s["I_0"], [0.01, 1e5])
    disk.h.setValue(s["h"], [0.5, 300])
    desc.addFunction(bulge)
    desc.addFunction(disk)
    fitter = pyimfit.Imfit(desc)
    fitter.fit(image, mask=mask, solver="LM", ftol=1e-10, **NOISE)
    if not fitter.fitConverged:
        raise SystemExit("Imfit did not converge")
    names = ["X0", "Y0", "bulge_PA", "bulge_ell", "bulge_n", "bulge_I_e", "bulge_r_e",
             "disk_PA", "disk_ell", "disk_I_0", "disk_h"]
    result = {
        "source": "pyimfit " + pyimfit.__version__ + ", Imfit LM, ftol 1e-10, one function block (shared centre)",
        "data": "ic3478rss_256.fits + ic3478rss_256_mask.fits (Imfit examples), no PSF",
        "cutout": CUTOUT, "noise": NOISE, "start": START,
        "values": dict(zip(names, map(float, fitter.getRawParameters()), strict=True)),
        "errors": dict(zip(names, map(float, fitter.getParameterErrors()), strict=True)),
        "chi2": float(fitter.fitStatistic), "reduced_chi2": float(fitter.reducedFitStatistic),
        "n_valid_pixels": int(fitter.nValidPixels),
    }
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA), indent=2))
