"""Results as an astronomer reads them: tables with units, magnitudes, a diagnostics verdict.

:func:`snapshot` records the MAP values and Laplace σ of a fitted model (the
sampler later overwrites them with the posterior mean ± sd);
:func:`summary_table` puts the MAP, the posterior and derived total fluxes
and magnitudes side by side in an astropy Table (written as ECSV by the CLI);
:func:`format_table` prints it with values rounded to their uncertainty;
:func:`verdict` says in one line whether the sampler's diagnostics pass.

Examples
--------
>>> fit = bp.fit.LM(group).fit()
>>> laplace = bp.report.snapshot(group, fit)
>>> post = bp.infer.NUTS(group, chains=2, warmup=100, draws=200).run()
>>> print(bp.report.format_table(bp.report.summary_table(group, post, laplace)))
>>> print(bp.report.verdict(post))
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .models.base import Model


@dataclass(frozen=True)
class Estimate:
    """One scalar with its 1σ (NaN when unknown) and its unit."""

    value: float
    sigma: float
    unit: str


def _leaf_units(model: Model) -> dict[str, str]:
    return {name: p.units for name, p in model.parameters.items()}


def snapshot(model: Model, fit: Any = None) -> dict[str, Estimate]:
    """Current values ± σ of the model's free parameters, plus derived total fluxes and magnitudes.

    Parameters
    ----------
    model : Model
        A fitted model (values and, after LM, Laplace uncertainties).
    fit : FitResult, optional
        The LM result: its unconstrained covariance propagates to the derived
        fluxes and magnitudes (delta method); without it their σ is NaN.

    Returns
    -------
    dict
        ``"child:param"`` (``"child:param[i]"`` for vectors), ``"child:flux"``
        and ``"child:mag"`` (with a zero-point) → :class:`Estimate`.
    """
    out: dict[str, Estimate] = {}
    for name, p in model.parameters.items():
        if p.fixed or p.value is None:
            continue
        values = np.atleast_1d(np.asarray(p.value, dtype=float))
        sigmas = np.full(values.shape, np.nan) if p.uncertainty is None else \
            np.atleast_1d(np.asarray(p.uncertainty, dtype=float))
        if np.ndim(p.value) == 0:
            out[name] = Estimate(float(values[0]), float(sigmas[0]), p.units)
        else:
            for i, (v, s) in enumerate(zip(values.ravel(), sigmas.ravel(), strict=False)):
                out[f"{name}[{i}]"] = Estimate(float(v), float(s), p.units)
    out.update(_derived_at_map(model, fit))
    return out


def _derived_at_map(model: Model, fit: Any) -> dict[str, Estimate]:
    """Total fluxes / magnitudes at the current values, σ by the delta method when ``fit`` is given."""
    from . import backend, structure
    from .program import Program

    try:
        program = Program(model)
    except Exception:  # no free parameters, or unset values: nothing derived
        return {}
    u = program.free.unconstrained()
    cov = None
    if fit is not None and getattr(fit, "covariance_unconstrained", None) is not None:
        cov_u = np.asarray(fit.covariance_unconstrained, dtype=float)
        if cov_u.shape == (u.size, u.size):
            cov = cov_u
    out: dict[str, Estimate] = {}
    with backend.using("jax"):
        lowered = program.lower("derived")   # compiled once per structure (op by op it takes seconds)
        values = {k: float(np.asarray(v)) for k, v in structure.compiled(lowered, "value")(lowered.params, u).items()}
        if not values:
            return {}
        jac = None
        if cov is not None:
            grads = structure.compiled(lowered, "jacfwd")(lowered.params, u)
            jac = {k: np.asarray(g, dtype=float) for k, g in grads.items()}
    for key, value in values.items():
        sigma = math.nan
        if jac is not None:
            g = jac[key]
            sigma = float(np.sqrt(max(float(g @ cov @ g), 0.0)))
        out[key] = Estimate(value, sigma, "mag" if key.endswith(":mag") or key == "mag" else "flux")
    return out


def _posterior_stats(post: Any) -> dict[str, dict[str, float]]:
    import arviz as az

    idata = post.idata
    names = [n for n in idata.posterior.data_vars]
    summary = az.summary(idata, var_names=names, hdi_prob=0.94)
    rows: dict[str, dict[str, float]] = {}
    for label, row in summary.iterrows():
        rows[str(label)] = {k: float(row[k]) for k in ("mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat")
                            if k in row}
    # circular means for cyclic parameters, taken back into their limits
    for name in post.names:
        if name in rows:
            try:
                rows[name]["mean"] = float(np.asarray(post.mean(name)))
            except (TypeError, ValueError):
                pass
    return rows


def summary_table(model: Model, posterior: Any = None, laplace: dict[str, Estimate] | None = None) -> Any:
    """The results as an astropy Table, one row per free scalar and derived quantity.

    Parameters
    ----------
    model : Model
    posterior : bayesphot.infer.Posterior, optional
        Adds ``mean``, ``sd``, ``hdi_3%``, ``hdi_97%`` (94 % highest-density
        interval), ``ess_bulk`` and ``r_hat``.
    laplace : dict, optional
        A :func:`snapshot` taken after the MAP fit; the ``map`` and
        ``map_sigma`` columns come from it (from the model's current values
        when omitted and there is no posterior).

    Returns
    -------
    astropy.table.Table
        Columns ``parameter``, ``unit``, ``map``, ``map_sigma`` and the
        posterior columns; ``meta`` holds the model name and the verdict.
    """
    from astropy.table import Table

    if laplace is None and posterior is None:
        laplace = snapshot(model)
    stats = _posterior_stats(posterior) if posterior is not None else {}
    units = _leaf_units(model)
    names = list(laplace) if laplace else []
    for key in stats:
        if key not in names:
            names.append(key)

    def unit_of(name: str) -> str:
        if laplace and name in laplace:
            return laplace[name].unit
        base = name.split("[")[0]
        if base in units:
            return units[base]
        return "mag" if name.endswith("mag") else "flux" if name.endswith("flux") else ""

    columns: dict[str, list[Any]] = {"parameter": names, "unit": [unit_of(n) for n in names]}
    if laplace:
        columns["map"] = [laplace[n].value if n in laplace else math.nan for n in names]
        columns["map_sigma"] = [laplace[n].sigma if n in laplace else math.nan for n in names]
    if stats:
        for key in ("mean", "sd", "hdi_3%", "hdi_97%", "ess_bulk", "r_hat"):
            columns[key] = [stats.get(n, {}).get(key, math.nan) for n in names]
    table = Table(columns)
    table.meta["model"] = model.name
    if posterior is not None:
        table.meta["diagnostics"] = verdict(posterior)
    return table


def _digits(sigma: float) -> int:
    """Decimals that show two significant digits of ``sigma``."""
    if not np.isfinite(sigma) or sigma <= 0:
        return 4
    return max(0, 1 - math.floor(math.log10(sigma)))


def _pair(value: float, sigma: float) -> str:
    if not np.isfinite(value):
        return "—"
    if not np.isfinite(sigma):
        return f"{value:.6g}"
    if abs(value) >= 1e6 or (abs(value) < 1e-3 and value != 0):
        exponent = math.floor(math.log10(abs(value)))
        scale = 10.0**exponent
        d = _digits(sigma / scale)
        return f"({value / scale:.{d}f} ± {sigma / scale:.{d}f})e{exponent:+03d}"
    d = _digits(sigma)
    return f"{value:.{d}f} ± {sigma:.{d}f}"


def format_table(table: Any) -> str:
    """Plain-text rendering of :func:`summary_table`: ``value ± σ`` rounded to two digits of σ."""
    has_map = "map" in table.colnames
    has_post = "mean" in table.colnames
    header = ["parameter", "unit"]
    if has_map:
        header.append("MAP ± Laplace σ")
    if has_post:
        header += ["posterior mean ± sd", "94% HDI", "ESS", "r_hat"]
    rows = []
    for row in table:
        cells = [str(row["parameter"]), str(row["unit"])]
        if has_map:
            cells.append(_pair(float(row["map"]), float(row["map_sigma"])))
        if has_post:
            sd = float(row["sd"])
            d = _digits(sd)
            lo, hi = float(row["hdi_3%"]), float(row["hdi_97%"])
            hdi = "—" if not np.isfinite(lo) else (f"[{lo:.3e}, {hi:.3e}]" if abs(hi) >= 1e6
                                                   else f"[{lo:.{d}f}, {hi:.{d}f}]")
            ess = float(row["ess_bulk"])
            rhat = float(row["r_hat"])
            cells += [_pair(float(row["mean"]), sd), hdi, "—" if not np.isfinite(ess) else f"{ess:.0f}",
                      "—" if not np.isfinite(rhat) else f"{rhat:.3f}"]
        rows.append(cells)
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def verdict(post: Any) -> str:
    """Do the sampler's diagnostics pass (one line, with the numbers), and does the model fit (a second line).

    Uses the posterior's own checks (:func:`bayesphot.infer.posterior.diagnose`:
    divergences, r̂ ≤ 1.01, bulk ESS ≥ 100 per chain, tree-depth saturation)
    and quotes the worst r̂, the smallest bulk ESS and the divergence count;
    then the posterior-predictive check (:attr:`Posterior.misfit`) when the
    posterior carries one.
    """
    import arviz as az

    idata = post.idata
    names = list(post.names)
    div = int(np.asarray(idata.sample_stats["diverging"].values).sum()) if "diverging" in idata.sample_stats else 0
    rhat = az.rhat(idata, var_names=names)
    ess = az.ess(idata, var_names=names, method="bulk")
    max_rhat = max(float(np.max(rhat[n].values)) for n in names)
    min_ess = min(float(np.min(ess[n].values)) for n in names)
    numbers = f"{div} divergences, max r_hat {max_rhat:.3f}, min bulk ESS {min_ess:.0f}"
    if post.ok:
        line = f"sampler diagnostics OK: {numbers} (limits: r_hat ≤ 1.01, bulk ESS ≥ 100 per chain)"
    else:
        line = f"sampler diagnostics NOT OK: {'; '.join(post.issues)} [{numbers}]"
    attrs = post.idata.posterior.attrs
    if post.misfit:
        return f"{line}\nmodel check: MISFIT: {post.misfit}"
    if "ppc_p_value" in attrs:
        return (f"{line}\nmodel check OK: chi2/ndf {float(attrs['ppc_chi2_ndf']):.3f} "
                f"(posterior predictive p = {float(attrs['ppc_p_value']):.2g})")
    return line


__all__ = ["Estimate", "format_table", "snapshot", "summary_table", "verdict"]
