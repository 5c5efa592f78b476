"""MAP fit wall time: bayesphot LM vs Imfit (pyimfit) on IC 3478, and Iter vs LM on a crowded field.

Run ``python benchmarks/map_fit.py``; prints a table and writes
``benchmarks/results/map_fit.json``.

IC 3478 (SDSS r, 256², mask, Imfit's CCD noise model; pixelscale 1): each
model is fitted by bayesphot's LM from its ``initialize()`` start, and by
pyimfit's LM (``doFit(solver="LM")``, default ftol 1e-8) from the *same* start,
in the same process.  bayesphot's time is given cold (JIT compilation
included, a fresh process's first fit) and warm (a fresh model object from the same
start: the compiled functions are reused by structure; the median of ``REPEATS`` fits, alternating
with as many Imfit fits, whose median is the Imfit time);
the ratio is bayesphot / Imfit (below 1 = bayesphot faster).  Each row also
gives the reduced χ² both reached (Imfit's ndf = N_unmasked − N_free, as ours).

Crowded field: :func:`bayesphot.utils.synthetic.sersic_field` with 25 Sérsic
galaxies + flat sky on 128², windows from a photutils segmentation map;
``Iter`` then ``LM`` versus ``LM`` alone from the same start.
"""

from __future__ import annotations

import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

import bayesphot as bp
from bayesphot import structure
from bayesphot.data import IC3478_NOISE, ic3478_target, path

B1 = 1.678346990
#: warm bayesphot fits and Imfit fits per case (alternating); medians are reported
REPEATS = 5
RESULTS = Path(__file__).parent / "results" / "map_fit.json"


def bayesphot_fit(model_type: str, psf: bool) -> tuple[dict, dict]:
    target = ic3478_target(psf=psf)
    gal = bp.Model("gal", model_type, target=target)
    gal.initialize()
    start = {k: float(p.value) for k, p in gal.parameters.items()}
    t0 = time.perf_counter()
    res = bp.fit.LM(gal).fit()
    cold = time.perf_counter() - t0
    fitted = {k: float(p.value) for k, p in gal.parameters.items()}
    sigma = {k: float(p.uncertainty) for k, p in gal.parameters.items()}
    return start, {
        "cold_s": cold, "chi2": res.chi2, "chi2_ndf": res.chi2_ndf, "ndf": res.ndf,
        "iterations": res.iterations, "message": res.message, "params": fitted, "sigma": sigma,
    }


def bayesphot_warm(model_type: str, psf: bool, start: dict) -> tuple[float, float]:
    """(wall s, χ²) of LM on a *fresh* model object from ``start``, as a user's next galaxy of the
    same structure would be (the compiled functions are found by structure, not by object);
    the wall time includes building the fit (its programs are traced for this object)."""
    fresh = bp.Model("gal", model_type, target=ic3478_target(psf=psf), **start)
    t0 = time.perf_counter()
    res = bp.fit.LM(fresh).fit()
    return time.perf_counter() - t0, res.chi2


def imfit_fit(model_type: str, psf: bool, start: dict) -> dict | None:
    try:
        import pyimfit
    except ImportError:
        return None
    from astropy.io import fits

    image = fits.getdata(path("ic3478rss_256.fits")).astype(np.float64)
    mask = fits.getdata(path("ic3478rss_256_mask.fits")).astype(np.float64)
    desc = pyimfit.SimpleModelDescription()
    desc.x0.setValue(start["x"] + 1, [start["x"] - 20, start["x"] + 20])
    desc.y0.setValue(start["y"] + 1, [start["y"] - 20, start["y"] + 20])
    pa_deg = math.degrees(start["PA"])
    ell = 1.0 - start["q"]
    if model_type == "exponential galaxy model":
        func = pyimfit.make_imfit_function("Exponential")
        func.PA.setValue(pa_deg, [pa_deg - 90, pa_deg + 90])
        func.ell.setValue(ell, [0.0, 0.99])
        func.I_0.setValue(start["Ie"] * math.exp(B1), [0.0, 1e5])
        func.h.setValue(start["Re"] / B1, [0.5, 500.0])
    else:
        func = pyimfit.make_imfit_function("Sersic")
        func.PA.setValue(pa_deg, [pa_deg - 90, pa_deg + 90])
        func.ell.setValue(ell, [0.0, 0.99])
        func.n.setValue(start["n"], [0.36, 10.0])
        func.I_e.setValue(start["Ie"], [0.0, 1e5])
        func.r_e.setValue(start["Re"], [0.5, 500.0])
    desc.addFunction(func)
    psf_image = fits.getdata(path("psf_moffat_51.fits")).astype(np.float64) if psf else None
    fitter = pyimfit.Imfit(desc, psf=psf_image)
    fitter.loadData(image, mask=mask, gain=IC3478_NOISE["gain"], read_noise=IC3478_NOISE["read_noise"],
                    original_sky=IC3478_NOISE["sky_level"])
    t0 = time.perf_counter()
    result = fitter.doFit(solver="LM")
    wall = time.perf_counter() - t0
    names = fitter.numberedParameterNames
    return {"time_s": wall, "chi2": float(result.fitStat), "chi2_ndf": float(result.fitStatReduced),
            "params": dict(zip(names, [float(v) for v in result.params], strict=True)),
            "converged": bool(result.fitConverged)}


def crowded(n_galaxies: int = 25, size: int = 128) -> dict:
    from photutils.segmentation import detect_sources

    from bayesphot.utils.synthetic import sersic_field

    init = bp.utils.initialize
    field = sersic_field(n_galaxies, (size, size), seed=1)

    def build():
        seg = detect_sources(field.target.data - field.sky, threshold=3.0, n_pixels=5)
        wins = init.scale_windows(init.filter_windows(init.windows_from_segmentation_map(seg), min_size=3),
                                  image_shape=(size, size), expand_scale=2.0, expand_border=3)
        sky = bp.Model("sky", "flat sky model", target=field.target)
        gals = [bp.Model(f"g{lab}", "sersic galaxy model", target=field.target, window=w) for lab, w in wins.items()]
        group = bp.Model("field", "group", models=[sky, *gals], target=field.target)
        group.initialize()
        return group

    out = {"n_galaxies": n_galaxies, "shape": [size, size]}
    group = build()
    t0 = time.perf_counter()
    r_iter = bp.fit.Iter(group, progress=False).fit()
    t_iter = time.perf_counter() - t0
    t0 = time.perf_counter()
    r_lm = bp.fit.LM(group).fit()
    t_after = time.perf_counter() - t0
    out["iter_then_lm"] = {"iter_s": t_iter, "lm_s": t_after, "total_s": t_iter + t_after,
                           "iter_chi2": r_iter.chi2, "chi2": r_lm.chi2, "chi2_ndf": r_lm.chi2_ndf,
                           "cycles": r_iter.iterations, "lm_iterations": r_lm.iterations,
                           "message": r_lm.message, "n_free": len(r_lm.labels)}
    group = build()  # same start; compiled functions are shared from the run above
    t0 = time.perf_counter()
    r = bp.fit.LM(group).fit()
    out["lm_only"] = {"total_s": time.perf_counter() - t0, "chi2": r.chi2, "chi2_ndf": r.chi2_ndf,
                      "iterations": r.iterations, "message": r.message,
                      "note": "compiled functions already cached by the Iter run"}
    return out


def main() -> None:
    rows = []
    cache = structure.cache_directory()
    # "cold" means cold only when JAX's persistent cache starts empty (BAYESPHOT_CACHE_DIR=<new folder>)
    cached_files = len(list(cache.iterdir())) if cache is not None and cache.is_dir() else 0
    record = {"python": sys.version.split()[0], "machine": platform.machine(), "processor": platform.processor(),
              "backend": bp.backend.current().name, "persistent_cache": None if cache is None else str(cache),
              "persistent_cache_files_at_start": cached_files, "cases": {}}
    for label, model_type, psf in (("Exponential", "exponential galaxy model", False),
                                   ("Sersic", "sersic galaxy model", False),
                                   ("Sersic + PSF", "sersic galaxy model", True)):
        start, ours = bayesphot_fit(model_type, psf)
        # warm bayesphot and Imfit alternate, REPEATS times each; the medians are compared
        warm, imfits = [], []
        for _ in range(REPEATS):
            warm.append(bayesphot_warm(model_type, psf, start))
            imfits.append(imfit_fit(model_type, psf, start))
        ours.update(warm_s=float(np.median([w[0] for w in warm])), warm_all_s=[w[0] for w in warm],
                    warm_chi2=warm[0][1])
        theirs = None
        if imfits[0] is not None:
            theirs = imfits[0]
            theirs.update(time_s=float(np.median([f["time_s"] for f in imfits])),
                          time_all_s=[f["time_s"] for f in imfits])
        record["cases"][label] = {"bayesphot": ours, "imfit": theirs, "start": start}
        rows.append((label, ours, theirs))
    record["crowded"] = crowded()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=2))

    print(f"{'IC 3478':14s} {'ours cold s':>11s} {'ours warm s':>11s} {'imfit s':>8s} {'ratio cold':>10s} "
          f"{'ratio warm':>10s} {'chi2/ndf ours':>14s} {'chi2/ndf imfit':>14s}")
    for label, ours, theirs in rows:
        if theirs is None:
            print(f"{label:14s} {ours['cold_s']:11.2f} {ours['warm_s']:11.2f} {'-':>8s} {'-':>10s} {'-':>10s} "
                  f"{ours['chi2_ndf']:14.6f} {'-':>14s}")
            continue
        print(f"{label:14s} {ours['cold_s']:11.2f} {ours['warm_s']:11.2f} {theirs['time_s']:8.2f} "
              f"{ours['cold_s'] / theirs['time_s']:10.2f} {ours['warm_s'] / theirs['time_s']:10.2f} "
              f"{ours['chi2_ndf']:14.6f} {theirs['chi2_ndf']:14.6f}")
    c = record["crowded"]
    print(f"\ncrowded field: {c['n_galaxies']} Sersic + sky on {c['shape'][0]}x{c['shape'][1]}, "
          f"{c['iter_then_lm']['n_free']} free parameters")
    it = c["iter_then_lm"]
    print(f"  Iter then LM: {it['total_s']:.1f} s (Iter {it['iter_s']:.1f} s, {it['cycles']} cycles; "
          f"LM {it['lm_s']:.1f} s), chi2/ndf {it['chi2_ndf']:.6f}, {it['message']}")
    lm = c["lm_only"]
    print(f"  LM alone:     {lm['total_s']:.1f} s, {lm['iterations']} iterations, chi2/ndf {lm['chi2_ndf']:.6f}, "
          f"{lm['message']}")
    print(f"\nwritten {RESULTS}")


if __name__ == "__main__":
    main()
