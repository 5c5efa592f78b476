"""Iter and LM on crowded synthetic fields (windows from a photutils segmentation map) and pull tests.

The reference is the known truth of each synthetic image: fitted values must
lie within 3 σ (Laplace) of the truth for ≥ 95 % of the parameters, and the
pulls (fit − truth)/σ over noise realisations must have a standard deviation
near 1.
"""

import math

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.utils.synthetic import match_truth, sersic_field

init = bp.utils.initialize
KEYS = ("x", "y", "q", "PA", "n", "Re", "Ie")


def build_group(field, size):
    from photutils.segmentation import detect_sources

    seg = detect_sources(field.target.data - field.sky, threshold=3.0, n_pixels=5)
    windows = init.windows_from_segmentation_map(seg)
    windows = init.scale_windows(init.filter_windows(windows, min_size=3), image_shape=(size, size),
                                 expand_scale=2.0, expand_border=3)
    sky = bp.Model("sky", "flat sky model", target=field.target)
    gals = [bp.Model(f"g{lab}", "sersic galaxy model", target=field.target, window=w) for lab, w in windows.items()]
    group = bp.Model("field", "group", models=[sky, *gals], target=field.target)
    group.initialize()
    return group, sky, gals


def pulls_of(field, gals):
    idx = match_truth(field, [(float(g["x"].value), float(g["y"].value)) for g in gals])
    assert sorted(idx) == list(range(len(field.truth))), "every galaxy must get its own segment"
    out = []
    for gal, i in zip(gals, idx, strict=True):
        for key in KEYS:
            diff = float(gal[key].value) - field.truth[i][key]
            if key == "PA":
                diff = (diff + math.pi / 2) % math.pi - math.pi / 2
            out.append(diff / float(gal[key].uncertainty))
    return np.array(out)


def run_crowded(n_galaxies, size, seed):
    field = sersic_field(n_galaxies, (size, size), seed=seed)
    group, sky, gals = build_group(field, size)
    assert len(gals) == n_galaxies
    first = bp.fit.Iter(group, progress=False).fit()
    assert first.message == "success", first.message
    iter_chi2 = first.chi2
    result = bp.fit.LM(group).fit()
    assert result.success, result.message
    assert result.chi2 <= iter_chi2 + 1e-6 * iter_chi2
    # windows overlap (the crowding the test is about)
    wins = [g.window for g in gals]
    assert any(not (a & b).is_empty for i, a in enumerate(wins) for b in wins[i + 1:])
    pulls = pulls_of(field, gals)
    assert np.mean(np.abs(pulls) < 3.0) >= 0.95, np.round(pulls, 2)
    sky_pull = (float(sky["I"].value) - field.sky) / float(sky["I"].uncertainty)
    assert abs(sky_pull) < 3.0
    assert 0.9 < result.chi2_ndf < 1.1
    return first, result


def test_crowded_field_small():
    run_crowded(6, 64, seed=1)


@pytest.mark.slow
def test_crowded_field_25_galaxies():
    run_crowded(25, 128, seed=1)


def test_iter_on_a_component_model_is_lm():
    field = sersic_field(1, (24, 24), seed=4, border=9.0)
    gal = bp.Model("gal", "sersic galaxy model", target=field.target)
    gal.initialize()
    result = bp.fit.Iter(gal, progress=False).fit()
    assert result.success and result.labels == list(KEYS)


def pull_study(n_realisations, size, seed=0):
    truth = {"x": size / 2 - 0.3, "y": size / 2 + 0.2, "q": 0.65, "PA": 1.0, "n": 1.5, "Re": 3.0, "Ie": 8.0}
    blank = bp.TargetImage(data=np.zeros((size, size)), variance=np.ones((size, size)), pixelscale=1.0)
    clean = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, **truth).render())
    rng = np.random.default_rng(seed)
    pulls = []
    for _ in range(n_realisations):
        target = bp.TargetImage(data=clean + rng.normal(size=clean.shape), variance=np.ones(clean.shape),
                                pixelscale=1.0)
        gal = bp.Model("gal", "sersic galaxy model", target=target,
                       **{**truth, "q": 0.8, "Re": 2.5, "Ie": 6.0, "n": 2.0})
        result = bp.fit.LM(gal).fit()
        assert result.success, result.message
        row = []
        for key in KEYS:
            diff = float(gal[key].value) - truth[key]
            if key == "PA":
                diff = (diff + math.pi / 2) % math.pi - math.pi / 2
            row.append(diff / float(gal[key].uncertainty))
        pulls.append(row)
    return np.array(pulls)


def test_pulls_fast():
    pulls = pull_study(20, 20)
    std = pulls.std(axis=0)
    # 20 draws: the std of a unit normal's sample std is ~0.16, so allow a wider band per parameter
    assert np.all((std > 0.6) & (std < 1.5)), std
    assert 0.8 < pulls.std() < 1.25


@pytest.mark.slow
def test_pulls_50_realisations():
    pulls = pull_study(60, 24, seed=1)
    std = pulls.std(axis=0)
    assert np.all((std > 0.8) & (std < 1.25)), std
    assert np.all(np.abs(pulls.mean(axis=0)) < 3 / math.sqrt(len(pulls)) * 1.5), pulls.mean(axis=0)
