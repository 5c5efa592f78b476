"""bp.report: derived fluxes and magnitudes with delta-method σ, rounding, the verdict line; NUTS's backend choice."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.profiles import sersic_total_flux
from bayesphot.program import Program
from bayesphot.report import _pair, format_table, snapshot, summary_table


@pytest.fixture(scope="module")
def fitted():
    """A 32×32 Sérsic (rms 1, zero-point 25) fitted by LM."""
    target = bp.TargetImage(np.zeros((32, 32)), rms=1.0, zeropoint=25.0)
    truth = {"x": 15.2, "y": 16.7, "q": 0.6, "PA": 0.8, "n": 1.5, "Re": 4.0, "Ie": 10.0}
    gal = bp.Model("g", "sersic galaxy model", target=target, **truth)
    target.data[:] = np.asarray(gal.render()) + np.random.default_rng(1).normal(0.0, 1.0, (32, 32))
    fit = bp.fit.LM(gal).fit()
    assert fit.success
    return gal, fit


def test_snapshot_flux_and_magnitude_match_analytic_and_monte_carlo(fitted) -> None:
    gal, fit = fitted
    est = snapshot(gal, fit)
    p = {k: float(gal[k]) for k in ("Ie", "Re", "n", "q")}
    flux = sersic_total_flux(p["Ie"], p["Re"], p["n"], p["q"])
    assert est["flux"].value == pytest.approx(flux, rel=1e-9)
    assert est["mag"].value == pytest.approx(25.0 - 2.5 * math.log10(flux), abs=1e-9)
    assert est["Re"].unit == "arcsec" and est["mag"].unit == "mag" and est["Re"].sigma > 0
    # σ of the flux: the delta method against Monte Carlo draws of the Laplace approximation
    program = Program(gal)
    rng = np.random.default_rng(2)
    u = rng.multivariate_normal(fit.u, fit.covariance_unconstrained, size=4000)
    fluxes = []
    for row in u:
        v = {k: float(np.asarray(x)) for k, x in program.free.values(row).items()}
        fluxes.append(sersic_total_flux(v["Ie"], v["Re"], v["n"], v["q"]))
    mc = float(np.std(fluxes))
    assert est["flux"].sigma == pytest.approx(mc, rel=0.08)
    assert est["mag"].sigma == pytest.approx(2.5 / math.log(10) * est["flux"].sigma / flux, rel=1e-6)


def test_summary_table_and_text(fitted) -> None:
    gal, fit = fitted
    table = summary_table(gal, laplace=snapshot(gal, fit))
    assert list(table["parameter"])[:7] == ["x", "y", "q", "PA", "n", "Re", "Ie"]
    assert {"flux", "mag"} <= set(table["parameter"])
    text = format_table(table)
    assert "MAP ± Laplace σ" in text and "arcsec" in text and "mag" in text


def test_values_are_rounded_to_two_digits_of_sigma() -> None:
    assert _pair(0.32504, 0.00471) == "0.3250 ± 0.0047"
    assert _pair(73.784, 0.944) == "73.78 ± 0.94"
    assert _pair(1.1432e6, 1.04e4) == "(1.143 ± 0.010)e+06"
    assert _pair(12.0, float("nan")) == "12"


def test_nuts_follows_the_array_backend(fitted) -> None:
    gal, _ = fitted
    assert bp.infer.NUTS(gal).backend == "numpyro"
    with bp.backend.using("torch"):
        sampler = bp.infer.NUTS(gal)
        assert sampler.backend == "pyro"
        assert bp.infer.NUTS(gal, backend="numpyro").backend == "numpyro"   # an explicit choice wins
