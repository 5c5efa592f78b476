"""Catalog table: columns, units, summaries, WCS angles and the FITS / ECSV round trip."""

import math

import numpy as np
import pytest
from astropy.wcs import WCS

from bayesphot.catalog import FLAGS, columns, read_catalog, write_catalog
from bayesphot.catalog.table import file_format, header_meta, north_angle, rows_to_table, summarize
from bayesphot.errors import BayesphotError


def fake_rows(n=3):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        row = {c: float(rng.normal()) for c in columns()}
        row.update({"id": i + 1, "group_id": i // 2, "type": ["point", "sersic", "dev"][i % 3],
                    "type_dchi2": "point", "type_evidence": "sersic", "n_params": 3, "n_divergent": 0,
                    "group_size": 2, "sampler": "laplace", "n_draws": 1000, "flags": FLAGS["EDGE"] | FLAGS["LIMIT"],
                    "flag_reasons": "window clipped by the image edge; at a limit: s1:q"})
        row["Re_mean"] = float("nan")
        rows.append(row)
    return rows


def test_columns_cover_the_issue_list():
    cols = columns()
    for q in ("x", "y", "ra", "dec", "flux", "mag", "Re", "n", "q", "PA"):
        for s in ("mean", "sd", "q16", "q50", "q84"):
            assert f"{q}_{s}" in cols
    for c in ("id", "group_id", "type", "corr_flux_Re", "corr_flux_n", "r_hat_max", "ess_bulk_min", "n_divergent",
              "chi2_ndf", "flags", "flag_reasons", "dchi2_point", "dchi2_sersic", "logz_point", "logz_sersic",
              "flux_sd_fisher", "x_sd_fisher", "Re_sd_fisher", "n_sd_fisher", "type_dchi2", "type_evidence"):
        assert c in cols
    assert len(set(cols)) == len(cols)


def test_summarize_matches_numpy():
    x = np.random.default_rng(1).normal(3.0, 2.0, 20000)
    s = summarize(x)
    assert s["mean"] == pytest.approx(np.mean(x))
    assert s["sd"] == pytest.approx(np.std(x, ddof=1))
    assert [s["q16"], s["q50"], s["q84"]] == pytest.approx(list(np.percentile(x, [16, 50, 84])))
    # and a normal's: mean ∓ 0.9945 σ at 16 / 84 % (4 standard errors of a quantile of 20000 draws)
    assert s["q16"] == pytest.approx(3.0 - 0.9945 * 2.0, abs=0.085)
    assert s["q84"] == pytest.approx(3.0 + 0.9945 * 2.0, abs=0.085)
    assert s["q50"] == pytest.approx(3.0, abs=0.07)
    assert all(math.isnan(v) for v in summarize(None).values())
    assert all(math.isnan(v) for v in summarize(np.array([1.0, np.nan, 2.0])).values())


@pytest.mark.parametrize("name", ["cat.fits", "cat.ecsv"])
def test_round_trip_keeps_values_units_and_header(tmp_path, name):
    rows = fake_rows()
    table = rows_to_table(rows, header_meta({"sampler": "laplace", "draws": 1000}, {"n_groups": 2}))
    assert table["x_mean"].unit == "pix" and table["Re_sd"].unit == "arcsec" and table["PA_q84"].unit == "deg"
    assert table["mag_mean"].unit == "mag" and table["ra_mean"].unit == "deg" and table["flux_mean"].unit is None
    path = write_catalog(table, tmp_path / name)
    back = read_catalog(path)
    assert back.colnames == table.colnames
    for c in table.colnames:
        if table[c].dtype.kind in "fi":
            np.testing.assert_array_equal(np.asarray(back[c]), np.asarray(table[c]))
        else:
            assert [str(v) for v in back[c]] == [str(v) for v in table[c]]
        assert (back[c].unit == table[c].unit) or (back[c].unit is None and table[c].unit is None)
    assert back.meta["BPVERS"] == table.meta["BPVERS"]
    assert '"sampler": "laplace"' in back.meta["SETTINGS"]
    assert back["flags"][0] == FLAGS["EDGE"] | FLAGS["LIMIT"]


def test_bad_extension_is_refused(tmp_path):
    assert file_format("a.fits.gz") == "fits" and file_format("b.ECSV") == "ascii.ecsv"
    with pytest.raises(BayesphotError, match="must end in"):
        write_catalog(rows_to_table(fake_rows()), tmp_path / "cat.csv")


def _wcs(rotation_deg, flip=False):
    w = WCS(naxis=2)
    w.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    w.wcs.crval = [150.0, 2.0]
    w.wcs.crpix = [50.0, 50.0]
    t = math.radians(rotation_deg)
    scale = 0.2 / 3600.0
    # standard orientation: RA increases to the left (east left, north up), rotated by t
    cd = scale * np.array([[-math.cos(t), math.sin(t)], [math.sin(t), math.cos(t)]])
    if flip:
        cd[:, 0] *= -1.0
    w.wcs.cd = cd
    return w


def test_north_angle_and_parity_from_the_wcs():
    theta, parity = north_angle(_wcs(0.0), 50.0, 50.0)
    assert theta == pytest.approx(0.0, abs=1e-4) and parity == 1.0
    theta, parity = north_angle(_wcs(30.0), 50.0, 50.0)
    # the sky rotated by 30° counter-clockwise on the image: north points 30° from +y
    assert abs(math.degrees(theta)) == pytest.approx(30.0, abs=0.01)
    _, parity = north_angle(_wcs(0.0, flip=True), 50.0, 50.0)
    assert parity == -1.0


def test_misfit_flag_uses_the_chi2_probability_for_the_group_ndf():
    """χ²/ndf 2 over 200 pixels (a cosmic ray fitted as a star on the ESO field) is a misfit although below the
    χ²/ndf threshold of 3; 1.05 over 200 is not (p ≈ 0.3, Wilson–Hilferty); 1.14 over 9203 is (p ≈ 1e-20)."""
    from bayesphot.catalog.fitgroup import misfit_reason

    def wilson_hilferty_p(chi2: float, ndf: int) -> float:   # independent approximation of the survival p
        z = ((chi2 / ndf) ** (1 / 3) - (1 - 2 / (9 * ndf))) / math.sqrt(2 / (9 * ndf))
        return 0.5 * math.erfc(z / math.sqrt(2))

    assert "misfits" in misfit_reason(400.0, 200, 3.0, 1e-3) and wilson_hilferty_p(400.0, 200) < 1e-10
    assert misfit_reason(210.0, 200, 3.0, 1e-3) == "" and wilson_hilferty_p(210.0, 200) > 0.2
    assert "misfits" in misfit_reason(1.14 * 9203, 9203, 3.0, 1e-3)
    assert "misfits" in misfit_reason(8.0, 2, 3.0, 1e-30)          # the χ²/ndf threshold alone
    assert "no goodness of fit" in misfit_reason(5.0, 0, 3.0, 1e-3)
