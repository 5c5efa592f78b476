"""Model choice per source: the penalised-Δχ² rule by hand, and point vs Sérsic on simulated sources."""

import math

import numpy as np

from bayesphot.catalog import CatalogSettings, select_dchi2, select_evidence
from bayesphot.catalog.choose import SourceStart
from bayesphot.catalog.fitgroup import GroupTask, fit_group
from bayesphot.catalog.groups import Group, Source
from bayesphot.catalog.simulate import TrueSource, gaussian_psf, simulate_field
from bayesphot.image.window import Window

K = {"point": 3, "exp": 6, "dev": 6, "sersic": 7}


def test_dchi2_rule_by_hand():
    # galaxies must beat the point source by max(9 + 3, 1 % of Δχ²_point) = 12 here
    assert select_dchi2({"point": 500.0, "exp": 511.0, "dev": 505.0, "sersic": 512.0}, K) == ("point", True)
    assert select_dchi2({"point": 500.0, "exp": 513.0, "dev": 505.0, "sersic": 520.0}, K) == ("exp", True)
    assert select_dchi2({"point": 500.0, "exp": 513.0, "dev": 530.0, "sersic": 531.0}, K) == ("dev", True)
    # the free Sérsic needs 25 more than the winner so far
    assert select_dchi2({"point": 500.0, "exp": 513.0, "dev": 505.0, "sersic": 538.0}, K) == ("exp", True)
    assert select_dchi2({"point": 500.0, "exp": 513.0, "dev": 505.0, "sersic": 538.5}, K) == ("sersic", True)
    # bright sources: the margin is 1 % of Δχ²_point (100 here), not 12
    assert select_dchi2({"point": 1e4, "exp": 1e4 + 90.0, "dev": 1e4, "sersic": 1e4 + 20.0}, K)[0] == "point"
    assert select_dchi2({"point": 1e4, "exp": 1e4 + 101.0, "dev": 1e4, "sersic": 1e4 + 120.0}, K)[0] == "exp"
    # below 25 after the parameter penalty for every type: kept, but not significant
    assert select_dchi2({"point": 27.0, "exp": 30.0, "dev": 29.0, "sersic": 31.0}, K) == ("point", False)
    assert select_dchi2({"point": 28.5, "sersic": 29.0}, K) == ("point", True)
    # without a point source the exponential / de Vaucouleurs is the base
    assert select_dchi2({"exp": 300.0, "dev": 310.0, "sersic": 320.0}, K) == ("dev", True)
    assert select_evidence({"point": -10.0, "sersic": -7.5, "exp": float("nan")}) == "sersic"
    assert select_evidence({"point": float("nan")}) is None


def _task(image, rms, psf, truth, types, criterion="dchi2"):
    cx, cy = round(truth.x), round(truth.y)
    half = 14
    w = Window(cx - half, cx + half + 1, cy - half, cy + half + 1)
    source = Source(1, truth.x, truth.y, Window(cx - 11, cx + 12, cy - 11, cy + 12), truth.flux)
    group = Group(0, [source], w)
    start = SourceStart(truth.x - w.xmin + 0.3, truth.y - w.ymin - 0.2, 0.8 * truth.flux, q=0.8, PA=1.0)
    return GroupTask(group, image[w.slices], (rms**2)[w.slices], np.zeros(w.shape, bool), psf, 1.0, 25.0, [start],
                     CatalogSettings(types=types, draws=200, criterion=criterion))


def test_choice_picks_point_or_sersic_on_simulated_sources():
    psf = gaussian_psf(3.0, 15)
    star = TrueSource("point", 20.3, 20.6, 6000.0)
    galaxy = TrueSource("sersic", 60.4, 20.2, 9000.0, Re=3.0, n=2.5, q=0.6, PA=0.8)
    image, rms = simulate_field((42, 82), [star, galaxy], 3.0, 4.0, seed=7)
    types = ("point", "sersic")
    rows = {}
    for name, truth in (("star", star), ("galaxy", galaxy)):
        result = fit_group(_task(image, rms, psf, truth, types, "evidence"))
        assert not result.failed, result.message
        (rows[name],) = result.rows
    assert rows["star"]["type"] == "point" and rows["galaxy"]["type"] == "sersic"
    # both criteria (type = the evidence's choice here) agree on these clear cases; their values are in the row
    assert rows["star"]["type_dchi2"] == rows["star"]["type_evidence"] == "point"
    assert rows["galaxy"]["type_dchi2"] == rows["galaxy"]["type_evidence"] == "sersic"
    assert rows["galaxy"]["dchi2_sersic"] - rows["galaxy"]["dchi2_point"] > 100
    # a Sérsic squeezed onto a point source has a degenerate (singular) Laplace covariance: no evidence for it
    assert not rows["star"]["logz_sersic"] > rows["star"]["logz_point"]
    assert rows["galaxy"]["logz_sersic"] > rows["galaxy"]["logz_point"] + 50
    assert math.isnan(rows["star"]["dchi2_exp"])          # not a candidate here
    g = rows["galaxy"]
    # the chosen model recovers the simulated truth within 4 posterior σ
    for key, true in (("x", galaxy.x), ("y", galaxy.y), ("Re", galaxy.Re), ("n", galaxy.n), ("flux", galaxy.flux)):
        assert abs(g[f"{key}_mean"] - true) < 4 * g[f"{key}_sd"] + 1e-9, key
    s = rows["star"]
    assert abs(s["flux_mean"] - star.flux) < 4 * s["flux_sd"]
    assert np.isnan(s["Re_mean"]) and s["n_params"] == 3 and g["n_params"] == 7
