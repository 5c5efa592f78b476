"""Catalog rows and files: one row per source, every quantity with its posterior summary.

Columns (``Q`` stands for each of x, y, ra, dec, flux, mag, Re, n, q, PA, with
``Q_mean``, ``Q_sd``, ``Q_q16``, ``Q_q50``, ``Q_q84``):

=====================  =====================================================================
``id``, ``group_id``   segment label; group number
``type``               chosen model ("point", "exp", "dev", "sersic") by ``settings.criterion``
``type_dchi2``         choice by the Tractor's penalised Δχ²; ``type_evidence`` by Laplace log Z
``dchi2_<t>``          χ²(no source) − χ²(t) on the source window, per candidate type t
``logz_<t>``           Laplace log evidence (nats) per candidate type t
``x``, ``y``           centre, pixels (0-based, x = column)
``ra``, ``dec``        degrees (NaN without a celestial WCS)
``flux``, ``mag``      total flux (image units; analytic, untruncated); ``zeropoint − 2.5 log10 flux``
``Re``                 half-light semi-major axis, arcsec (NaN for point sources)
``n``, ``q``           Sérsic index (fixed 1 / 4 for exp / dev: sd 0), axis ratio b/a
``PA``                 degrees: east of north with a celestial WCS, else counter-clockwise from
                       the image +y axis; draws are unwrapped about their circular mean, so the
                       quantiles may lie just outside [0, 180)
``corr_flux_Re``       posterior correlation of flux with Re; ``corr_flux_n`` with n
``<Q>_sd_fisher``      the Tractor's σ: 1/√(Fisher diagonal) at the MAP, for x, y, flux, Re, n
``r_hat_max``          largest r̂ of the source's parameters (NaN for Laplace draws)
``ess_bulk_min``       smallest bulk ESS (the number of independent draws for Laplace)
``n_divergent``        divergent transitions in the group (NUTS)
``chi2_ndf``           the group's χ²/ndf at the final MAP; ``group_size`` its sources
``flags``              bit mask (:data:`FLAGS`); ``flag_reasons`` says why, in words
=====================  =====================================================================

FITS (``.fits``, ``.fit``, ``.fits.gz``) or ECSV (``.ecsv``) by the file's
extension, with units; the header records the bayesphot version, the settings,
the detection and the PSF.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BayesphotError

#: flag bits; ``flag_reasons`` holds the words
FLAGS = {
    "FIT": 1,        # the final MAP fit did not converge
    "LIMIT": 2,      # a parameter of the source ended on a limit
    "SINGULAR": 4,   # singular Hessian (pseudo-inverse used)
    "SAMPLER": 8,    # sampler diagnostics (divergences, r̂, ESS, tree depth)
    "EDGE": 16,      # window clipped by the image edge
    "FAILED": 32,    # the group task failed; no measurement
    "WEAK": 64,      # penalised Δχ² below the 5σ detection cut for every type
    "CHI2": 128,     # group χ² a misfit: χ²/ndf above settings.chi2_flag or its p below settings.chi2_p_flag
    "BIG": 256,      # group larger than settings.max_group_size
    "QUADRATURE": 512,  # the source's pixel rule does not resolve its profile: image and parameters uncertain
}

QUANTITIES = ("x", "y", "ra", "dec", "flux", "mag", "Re", "n", "q", "PA")
STATS = ("mean", "sd", "q16", "q50", "q84")
TYPES = ("point", "exp", "dev", "sersic")
FISHER = ("x", "y", "flux", "Re", "n")
UNITS = {"x": "pix", "y": "pix", "ra": "deg", "dec": "deg", "mag": "mag", "Re": "arcsec", "PA": "deg"}


def columns() -> list[str]:
    """Every column name, in catalog order."""
    cols = ["id", "group_id", "type", "type_dchi2", "type_evidence", "n_params"]
    cols += [f"{q}_{s}" for q in QUANTITIES for s in STATS]
    cols += ["corr_flux_Re", "corr_flux_n"]
    cols += [f"{q}_sd_fisher" for q in FISHER]
    cols += [f"dchi2_{t}" for t in TYPES] + [f"logz_{t}" for t in TYPES]
    cols += ["r_hat_max", "ess_bulk_min", "n_divergent", "chi2_ndf", "group_size", "sampler", "n_draws",
             "flags", "flag_reasons"]
    return cols


STRING_COLUMNS = ("type", "type_dchi2", "type_evidence", "sampler", "flag_reasons")
INT_COLUMNS = ("id", "group_id", "n_params", "n_divergent", "group_size", "n_draws", "flags")


def column_unit(name: str) -> str | None:
    """The unit string of a column (None when dimensionless or in image units)."""
    base = name.split("_")[0]
    if name.endswith(("_sd_fisher",)) or any(name == f"{base}_{s}" for s in STATS):
        return UNITS.get(base)
    return None


def summarize(draws: np.ndarray | None) -> dict[str, float]:
    """mean, sd (ddof 1), 16/50/84 % quantiles of 1-D draws (NaN when there are none)."""
    if draws is None:
        return dict.fromkeys(STATS, float("nan"))
    x = np.asarray(draws, dtype=np.float64).ravel()
    if x.size < 2 or not np.all(np.isfinite(x)):
        return dict.fromkeys(STATS, float("nan"))
    q16, q50, q84 = np.percentile(x, [16, 50, 84])
    return {"mean": float(np.mean(x)), "sd": float(np.std(x, ddof=1)), "q16": float(q16), "q50": float(q50),
            "q84": float(q84)}


def _corr(a: np.ndarray | None, b: np.ndarray | None) -> float:
    if a is None or b is None:
        return float("nan")
    a, b = np.ravel(a), np.ravel(b)
    if np.std(a) == 0 or np.std(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _draws(idata: Any, key: str) -> np.ndarray | None:
    if key not in idata.posterior:
        return None
    return np.asarray(idata.posterior[key].values, dtype=np.float64).reshape(-1)


def north_angle(wcs: Any, x: float, y: float) -> tuple[float, float]:
    """(θ_N, parity): angle of north, radians CCW from +y, and +1 when east is CCW from north.

    Measured from the WCS at pixel (x, y) with 1-arcsec steps.
    """
    ra, dec = wcs.all_pix2world([[x, y]], 0)[0]
    step = 1.0 / 3600.0
    pts = wcs.all_world2pix([[ra, dec + step], [ra + step / max(math.cos(math.radians(dec)), 1e-6), dec]], 0)
    (nx, ny), (ex, ey) = pts[0] - (x, y), pts[1] - (x, y)
    theta_n = math.atan2(-nx, ny)
    theta_e = math.atan2(-ex, ey)
    turn = (theta_e - theta_n + math.pi) % (2 * math.pi) - math.pi
    return theta_n, 1.0 if turn > 0 else -1.0


def source_row(*, source: Any, group: Any, name: str, kind: str, idata: Any, sampled: Any, pixelscale: float,
               zeropoint: float | None, fit: Any, fisher: dict[str, float], choice: dict[str, Any],
               reasons: Sequence[tuple[int, str]], n_params: int, sampler: str, wcs: Any = None) -> dict[str, Any]:
    """One catalog row from a group's posterior draws (see the module docstring for the columns)."""
    x0, y0 = group.window.xmin, group.window.ymin
    px = _draws(idata, f"{name}:x")
    py = _draws(idata, f"{name}:y")
    x = px / pixelscale + x0
    y = py / pixelscale + y0
    flux = _draws(idata, f"{name}:flux")
    mag = None
    if zeropoint is not None and flux is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            mag = zeropoint - 2.5 * np.log10(np.where(flux > 0, flux, np.nan))
    re = _draws(idata, f"{name}:Re")
    n = _draws(idata, f"{name}:n")
    q = _draws(idata, f"{name}:q")
    pa = _draws(idata, f"{name}:PA")
    model_n = None
    if kind in ("exp", "dev"):
        model_n = np.full_like(x, 1.0 if kind == "exp" else 4.0)
    ra = dec = None
    if pa is not None:
        pa = np.degrees(pa)
    if wcs is not None:
        world = wcs.all_pix2world(np.stack([x, y], axis=1), 0)
        ra, dec = world[:, 0], world[:, 1]
        if pa is not None:
            theta_n, parity = north_angle(wcs, float(np.mean(x)), float(np.mean(y)))
            pa = parity * (pa - math.degrees(theta_n))
            center = math.degrees(math.atan2(np.mean(np.sin(np.radians(2 * pa))),
                                             np.mean(np.cos(np.radians(2 * pa))))) / 2.0 % 180.0
            pa = center + (pa - center + 90.0) % 180.0 - 90.0
    row: dict[str, Any] = {
        "id": int(source.id), "group_id": int(group.id), "type": kind,
        "type_dchi2": choice.get("type_dchi2", kind), "type_evidence": choice.get("type_evidence", ""),
        "n_params": int(n_params),
    }
    values = {"x": x, "y": y, "ra": ra, "dec": dec, "flux": flux, "mag": mag, "Re": re,
              "n": n if n is not None else model_n, "q": q, "PA": pa}
    for qname in QUANTITIES:
        stats = summarize(values[qname])
        if qname == "PA" and np.isfinite(stats["mean"]):
            stats["mean"] = stats["mean"] % 180.0
        for s in STATS:
            row[f"{qname}_{s}"] = stats[s]
    row["corr_flux_Re"] = _corr(flux, re)
    row["corr_flux_n"] = _corr(flux, n)
    # Fisher-diagonal σ in catalog units
    fx = fisher.get(f"{name}:x", float("nan")) / pixelscale
    fy = fisher.get(f"{name}:y", float("nan")) / pixelscale
    if kind == "point":
        ff = fisher.get(f"{name}:flux", float("nan"))
    else:
        ie_value = float(np.asarray(fit.model[f"{name}:Ie"].value))
        flux_map = float(np.median(flux)) if flux is not None else float("nan")
        ff = flux_map * fisher.get(f"{name}:Ie", float("nan")) / ie_value
    row["x_sd_fisher"], row["y_sd_fisher"], row["flux_sd_fisher"] = fx, fy, ff
    row["Re_sd_fisher"] = fisher.get(f"{name}:Re", float("nan"))
    row["n_sd_fisher"] = fisher.get(f"{name}:n", float("nan"))
    dchi2 = choice.get("dchi2", {})
    logz = choice.get("logz", {})
    for t in TYPES:
        row[f"dchi2_{t}"] = float(dchi2.get(t, float("nan")))
        row[f"logz_{t}"] = float(logz.get(t, float("nan")))
    own = [k for k in sampled.r_hat if k.startswith(name + ":")]
    rh = [sampled.r_hat[k] for k in own]
    row["r_hat_max"] = float(np.max(rh)) if rh and np.all(np.isfinite(rh)) else float("nan")
    row["ess_bulk_min"] = float(min(sampled.ess_bulk[k] for k in own)) if own else float("nan")
    row["n_divergent"] = int(sampled.divergences)
    row["chi2_ndf"] = float(fit.chi2_ndf)
    row["group_size"] = int(group.size)
    row["sampler"] = sampler
    row["n_draws"] = int(x.size)
    flags = 0
    for bit, _ in reasons:
        flags |= int(bit)
    row["flags"] = flags
    row["flag_reasons"] = "; ".join(text for _, text in reasons)
    return row


def failed_rows(group: Any, message: str) -> list[dict[str, Any]]:
    """Rows for a group whose task failed: detection position, NaN measurements, the FAILED flag."""
    rows = []
    for source in group.sources:
        row: dict[str, Any] = {c: float("nan") for c in columns()}
        row.update({"id": int(source.id), "group_id": int(group.id), "type": "", "type_dchi2": "",
                    "type_evidence": "", "n_params": 0, "n_divergent": 0, "group_size": int(group.size),
                    "sampler": "", "n_draws": 0, "flags": FLAGS["FAILED"],
                    "flag_reasons": f"group failed: {message.splitlines()[0][:300]}"})
        row["x_mean"], row["y_mean"] = float(source.x), float(source.y)
        rows.append(row)
    return rows


def rows_to_table(rows: Sequence[dict[str, Any]], meta: dict[str, Any] | None = None) -> Any:
    """An astropy Table with every column (in order), types and units."""
    from astropy.table import Table

    cols = columns()
    data = {}
    for c in cols:
        values = [r.get(c) for r in rows]
        if c in STRING_COLUMNS:
            data[c] = np.array([("" if v is None else str(v)) for v in values], dtype=str) if rows \
                else np.zeros(0, dtype="U1")
        elif c in INT_COLUMNS:
            data[c] = np.array([(0 if v is None or (isinstance(v, float) and math.isnan(v)) else int(v))
                                for v in values], dtype=np.int64)
        else:
            data[c] = np.array([(np.nan if v is None else float(v)) for v in values], dtype=np.float64)
    table = Table(data)
    for c in cols:
        unit = column_unit(c)
        if unit:
            table[c].unit = unit
    table.meta.update(meta or {})
    return table


def file_format(path: str | Path) -> str:
    """"fits" or "ascii.ecsv" from the extension; anything else raises."""
    name = str(path).lower()
    if name.endswith((".fits", ".fit", ".fits.gz", ".fit.gz")):
        return "fits"
    if name.endswith(".ecsv"):
        return "ascii.ecsv"
    raise BayesphotError(f"catalog file {path} must end in .fits, .fit, .fits.gz or .ecsv")


def header_meta(settings: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Header keywords: bayesphot version, settings (JSON) and run information (JSON)."""
    import bayesphot

    return {"BPVERS": bayesphot.__version__, "SETTINGS": json.dumps(settings, sort_keys=True, default=str),
            "RUNINFO": json.dumps(extra or {}, sort_keys=True, default=str)}


_ASCII = {"χ²": "chi2", "Δ": "d", "σ": "sigma", "≥": ">=", "≤": "<=", "é": "e", "θ": "theta", "—": "-", "–": "-"}


def _ascii(text: str) -> str:
    for key, value in _ASCII.items():
        text = text.replace(key, value)
    return text.encode("ascii", "replace").decode("ascii")


def write_catalog(table: Any, path: str | Path) -> Path:
    """Write the catalog as FITS or ECSV (by extension), replacing an existing file atomically."""
    import warnings

    path = Path(path)
    fmt = file_format(path)
    if fmt == "fits":  # FITS strings are ASCII: spell the few symbols of the flag reasons out
        table = table.copy()
        for name in table.colnames:
            if table[name].dtype.kind == "U":
                table[name] = [_ascii(str(v)) for v in table[name]]
    tmp = path.with_name(path.name + ".tmp" + ("" if fmt == "ascii.ecsv" else ".fits"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(tmp, format=fmt, overwrite=True)
    tmp.replace(path)
    return path


def read_catalog(path: str | Path) -> Any:
    """Read a catalog written by :func:`write_catalog` (units and header kept)."""
    from astropy.table import Table

    table = Table.read(path, format=file_format(path))
    for name in table.colnames:
        col = table[name]
        if getattr(col, "mask", None) is not None and col.dtype.kind in "US":
            table[name] = col.filled("")  # ECSV stores empty strings as missing
    return Table(table, masked=False)


__all__ = ["FLAGS", "columns", "failed_rows", "file_format", "header_meta", "read_catalog", "rows_to_table",
           "source_row", "summarize", "write_catalog"]
