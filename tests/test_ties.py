"""Tied parameters: one fit element and one sample site, honoured by LM, Iter, NUTS, YAML and print.

References: the truth of simulated images; finite differences of the model
image (for the chain rule through a tie); the delta method written out in
numpy; Imfit (through pyimfit) fitting the same bulge + disk with one shared
centre on a real image (stored by ``tests/reference/make_imfit_bulge_disk.py``).
"""

from __future__ import annotations

import functools
import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import ModelError, ParameterError
from bayesphot.fit.engine import make_engine
from bayesphot.program import FreeParameters, Program

SHAPE = (24, 24)
BULGE = {"x": 11.3, "y": 12.2, "q": 0.8, "PA": 0.3, "sigma": 1.5, "flux": 300.0}
DISK = {"q": 0.5, "PA": 1.1, "sigma": 4.0, "flux": 500.0}


def _target(sigma: float = 0.5, seed: int = 3) -> bp.TargetImage:
    blank = bp.TargetImage(np.zeros(SHAPE))
    bulge = bp.Model("bulge", "gaussian galaxy model", target=blank, **BULGE)
    disk = bp.Model("disk", "gaussian galaxy model", target=blank, x=BULGE["x"], y=BULGE["y"], **DISK)
    image = np.asarray(bp.Model("g", "group", models=[bulge, disk], target=blank).render())
    noise = np.random.default_rng(seed).normal(0.0, sigma, SHAPE)
    return bp.TargetImage(image + noise, variance=np.full(SHAPE, sigma**2))


def _group(target: bp.TargetImage) -> bp.Model:
    bulge = bp.Model("bulge", "gaussian galaxy model", target=target, x=11.0, y=12.6, q=0.7, PA=0.4, sigma=1.8,
                     flux=250.0)
    disk = bp.Model("disk", "gaussian galaxy model", target=target, q=0.6, PA=1.0, sigma=3.5, flux=550.0)
    return bp.Model("g", "group", models=[bulge, disk], target=target, ties={"disk:x": "bulge:x", "disk:y": "bulge:y"})


def test_tied_centre_is_one_element_and_follows_its_source() -> None:
    group = _group(_target())
    free = FreeParameters(group)
    assert "disk:x" not in free.names and "disk:y" not in free.names
    assert free.size == 10 and free.tied_names == ["disk:x", "disk:y"]
    group["bulge:x"].value = 10.5
    assert float(group["disk:x"].value) == 10.5
    values = free.values(free.unconstrained())
    assert float(values["disk:x"]) == pytest.approx(10.5, abs=1e-12)
    with pytest.raises(ParameterError, match="tied"):
        group["disk:x"].value = 3.0


def test_group_jacobian_through_a_tie_matches_finite_differences() -> None:
    group = _group(_target())
    engine = make_engine(group)
    program = Program(group)
    u = program.free.unconstrained()
    be = bp.backend.current()
    # the per-sub-model engine and the whole-group program agree on the image
    np.testing.assert_allclose(engine.value(u), bp.backend.to_numpy(program.model_image(be.asarray(u))),
                               rtol=1e-12, atol=1e-10)
    jac = engine.jacobian(u)
    eps = 1e-6
    numeric = np.stack([(engine.value(u + eps * e).ravel() - engine.value(u - eps * e).ravel()) / (2 * eps)
                        for e in np.eye(u.size)], axis=1)
    scale = np.max(np.abs(jac), axis=0)
    assert np.max(np.abs(jac - numeric) / scale) < 1e-6
    # the disk's image moves with the bulge's x: its column is not the bulge's alone
    disk_only = make_engine(group.models["disk"])
    assert disk_only.free.inputs == ["x", "y"]


def _check_truth(group: bp.Model, result, tol_sigma: float = 4.0) -> None:
    assert result.success, result.message
    for name, value in {**{f"bulge:{k}": v for k, v in BULGE.items()},
                        **{f"disk:{k}": v for k, v in DISK.items()}}.items():
        sigma = float(group[name].uncertainty)
        assert abs(float(group[name].value) - value) < tol_sigma * sigma + 1e-9, name
    assert float(group["disk:x"].value) == float(group["bulge:x"].value)
    assert float(group["disk:x"].uncertainty) == float(group["bulge:x"].uncertainty)


def test_lm_and_iter_fit_a_shared_centre_to_the_truth() -> None:
    target = _target()
    group = _group(target)
    result = bp.fit.LM(group).fit()
    _check_truth(group, result)
    assert len(result.u) == 10
    lm_values = {name: float(p.value) for name, p in group.parameters.items()}
    group2 = _group(target)
    result2 = bp.fit.Iter(group2, progress=False).fit()
    _check_truth(group2, result2)
    for name, value in lm_values.items():  # same optimum (the tied sub-models are fitted as one block)
        assert float(group2[name].value) == pytest.approx(value, rel=1e-4, abs=1e-5), name


def test_fixed_ratio_and_function_ties() -> None:
    target = _target()
    group = _group(target)
    group["disk:sigma"].tie(group["bulge:sigma"], scale=8.0 / 3.0)  # truth 4.0 / 1.5
    assert float(group["disk:sigma"].value) == pytest.approx(1.8 * 8.0 / 3.0)
    result = bp.fit.LM(group).fit()
    assert result.success
    assert float(group["disk:sigma"].value) == pytest.approx(8.0 / 3.0 * float(group["bulge:sigma"].value), rel=1e-12)
    assert float(group["disk:sigma"].uncertainty) == pytest.approx(8.0 / 3.0 * float(group["bulge:sigma"].uncertainty))
    assert abs(float(group["bulge:sigma"].value) - 1.5) < 4 * float(group["bulge:sigma"].uncertainty)

    # a tie to a function of two parameters (true at the truth): disk flux = r × bulge flux × bulge q / 0.8
    group = _group(target)
    ratio = DISK["flux"] / BULGE["flux"]
    group["disk:flux"].tie(lambda f, q: ratio * f * q / 0.8, group["bulge:flux"], group["bulge:q"])
    result = bp.fit.LM(group).fit()
    assert result.success
    f, q = float(group["bulge:flux"].value), float(group["bulge:q"].value)
    assert float(group["disk:flux"].value) == pytest.approx(ratio * f * q / 0.8, rel=1e-12)
    assert abs(float(group["disk:flux"].value) - DISK["flux"]) < 4 * float(group["disk:flux"].uncertainty)
    # the delta method written out: gradient (r q / 0.8, r f / 0.8) through the parameter covariance
    cov = result.covariance
    grad = np.array([ratio * q / 0.8, ratio * f / 0.8])
    names = ["bulge:flux", "bulge:q"]
    sigma = math.sqrt(sum(grad[i] * grad[j] * cov[a, b] for i, a in enumerate(names) for j, b in enumerate(names)))
    assert float(group["disk:flux"].uncertainty) == pytest.approx(sigma, rel=1e-6)


def test_probabilistic_program_has_one_sample_site_for_a_tied_centre() -> None:
    pytest.importorskip("numpyro")
    import numpyro
    from numpyro import handlers

    target = _target()
    group = _group(target)
    program = Program(group, priors=bp.models.default_priors(group))
    with bp.backend.using("jax"):
        trace = handlers.trace(handlers.seed(functools.partial(program.ppl_model, numpyro), 0)).get_trace()
    sites = [name for name, site in trace.items() if site["type"] == "sample" and not site.get("is_observed")]
    assert "bulge:x" in sites and "disk:x" not in sites and "disk:y" not in sites
    assert "disk:x" not in program.free.names


@pytest.mark.slow
def test_nuts_samples_a_tied_centre_once() -> None:
    group = _group(_target())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # 60 draws: the ESS diagnostics speak up, as they should
        post = bp.infer.NUTS(group, chains=1, warmup=60, draws=60, progress=False, seed=1, fit=True).run()
    assert "disk:x" not in post.idata.posterior and "bulge:x" in post.idata.posterior
    assert float(group["disk:x"].value) == pytest.approx(float(post.mean("bulge:x")))
    assert float(group["disk:x"].uncertainty) == pytest.approx(float(post.sd("bulge:x")))


def test_ties_round_trip_through_yaml_and_show_in_print(tmp_path: Path) -> None:
    group = _group(_target())
    group["disk:sigma"].tie(group["bulge:sigma"], scale=2.0, offset=0.5)
    text = str(group)
    assert "x: 11 arcsec tied = bulge:x" in text
    assert "sigma: 4.1 arcsec (0, ∞) tied = 2 × bulge:sigma + 0.5" in text
    path = tmp_path / "g.yaml"
    group.save(path)
    again = bp.Model.load(path, target=group.target)
    assert str(again) == text
    assert again["disk:x"].tied and again["disk:x"].tie_spec.sources[0] is again["bulge:x"]
    again["bulge:sigma"].value = 1.0
    assert float(again["disk:sigma"].value) == pytest.approx(2.5)
    assert FreeParameters(again).names == FreeParameters(group).names
    # a tie to a Python function cannot be written: a clear error, and the earlier file survives
    before = path.read_text()
    group["disk:flux"].tie(lambda f: 2 * f, group["bulge:flux"])
    with pytest.raises(ModelError, match="Python function"):
        group.save(path)
    assert path.read_text() == before


def test_tie_errors() -> None:
    group = _group(_target())
    with pytest.raises(ParameterError, match="itself"):
        group["bulge:x"].tie(group["disk:x"])  # disk:x already follows bulge:x
    with pytest.raises(ParameterError, match="itself"):
        group["bulge:q"].tie(group["bulge:q"])
    group["disk:q"].fixed = True
    with pytest.raises(ParameterError, match="fixed"):
        group["disk:q"].tie(group["bulge:q"])
    with pytest.raises(ParameterError, match="tied"):
        group["disk:x"].fixed = True
    with pytest.raises(ParameterError, match="tied"):
        group["disk:x"].prior = bp.priors.Normal(0.0, 1.0)
    with pytest.raises(ParameterError, match="lower limit"):  # the tied value must lie in the follower's limits
        group["disk:sigma"].tie(group["bulge:sigma"], scale=-1.0)
    assert not group["disk:sigma"].tied
    # fitting the disk alone: its centre follows a parameter outside it
    with pytest.raises(ModelError, match="outside model 'disk'"):
        bp.fit.LM(group.models["disk"]).fit()
    # untie keeps the value and frees the parameter
    group["disk:x"].untie()
    assert not group["disk:x"].tied and float(group["disk:x"].value) == float(group["bulge:x"].value)
    assert "disk:x" in FreeParameters(group).names
    # a Parameter given as a value ties to it
    disk2 = bp.Model("disk2", "gaussian galaxy model", x=group["bulge:x"])
    assert disk2["x"].tied and disk2["x"].tie_spec.sources[0] is group["bulge:x"]


REFERENCE = Path(__file__).parent / "reference" / "imfit_bulge_disk.json"
DATA = Path("/work/shared/data/ic3478")
B1 = 1.678346990016  # b_n for n = 1


@pytest.mark.slow
@pytest.mark.skipif(not DATA.exists(), reason="needs the IC 3478 image of /work/shared/data")
def test_bulge_disk_shared_centre_matches_imfit() -> None:
    """Sérsic bulge + exponential disk with one centre on IC 3478: bayesphot's LM against Imfit's.

    Same cutout, mask, data-based CCD variance, no PSF, same start; Imfit's
    values converted to bayesphot's conventions (DESIGN.md; data README).
    Tolerance: 0.1 σ (Imfit's σ) per parameter, σ within 10 %, χ² within 1e-4.
    """
    from astropy.io import fits

    ref = json.loads(REFERENCE.read_text())
    (r0, r1), (c0, c1) = ref["cutout"]["rows"], ref["cutout"]["cols"]
    image = fits.getdata(DATA / "ic3478rss_256.fits").astype(np.float64)[r0:r1, c0:c1]
    mask = fits.getdata(DATA / "ic3478rss_256_mask.fits")[r0:r1, c0:c1] != 0
    noise = ref["noise"]
    target = bp.TargetImage(image, mask=mask, gain=noise["gain"], read_noise=noise["read_noise"],
                            sky_level=noise["original_sky"])
    s, b, d = ref["start"], ref["start"]["bulge"], ref["start"]["disk"]
    bulge = bp.Model("bulge", "sersic galaxy model", target=target, x=s["X0"] - 1, y=s["Y0"] - 1,
                     PA=math.radians(b["PA"]), q=1 - b["ell"], n=b["n"], Ie=b["I_e"], Re=b["r_e"])
    disk = bp.Model("disk", "exponential galaxy model", target=target, x=bulge["x"], y=bulge["y"],
                    PA=math.radians(d["PA"]), q=1 - d["ell"], Ie=d["I_0"] * math.exp(-B1), Re=B1 * d["h"])
    group = bp.Model("bd", "group", models=[bulge, disk], target=target)
    result = bp.fit.LM(group, max_iterations=200).fit()
    assert result.success, result.message
    assert result.ndf + result.u.size == ref["n_valid_pixels"]
    assert result.chi2 == pytest.approx(ref["chi2"], rel=1e-4)

    def mine(name: str) -> tuple[float, float]:
        p = group[name]
        return float(p.value), float(p.uncertainty)

    converted = {
        "X0": (mine("bulge:x")[0] + 1, mine("bulge:x")[1]),
        "Y0": (mine("bulge:y")[0] + 1, mine("bulge:y")[1]),
        "bulge_PA": tuple(math.degrees(v) for v in mine("bulge:PA")),
        "bulge_ell": (1 - mine("bulge:q")[0], mine("bulge:q")[1]),
        "bulge_n": mine("bulge:n"), "bulge_I_e": mine("bulge:Ie"), "bulge_r_e": mine("bulge:Re"),
        "disk_PA": tuple(math.degrees(v) for v in mine("disk:PA")),
        "disk_ell": (1 - mine("disk:q")[0], mine("disk:q")[1]),
        "disk_I_0": tuple(v * math.exp(B1) for v in mine("disk:Ie")),
        "disk_h": tuple(v / B1 for v in mine("disk:Re")),
    }
    for name, (value, sigma) in converted.items():
        ref_value, ref_sigma = ref["values"][name], ref["errors"][name]
        assert abs(value - ref_value) < 0.1 * ref_sigma, (name, value, ref_value, ref_sigma)
        assert sigma == pytest.approx(ref_sigma, rel=0.1), (name, sigma, ref_sigma)
    assert float(group["disk:x"].value) == float(group["bulge:x"].value)


@pytest.mark.slow
@pytest.mark.skipif(not DATA.exists(), reason="needs the IC 3478 image of /work/shared/data")
def test_imfit_reference_is_reproducible() -> None:
    """The stored Imfit numbers are what pyimfit gives today (needs the optional ``imfit`` extra)."""
    pytest.importorskip("pyimfit")
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_ref", Path(__file__).parent / "reference" /
                                                  "make_imfit_bulge_disk.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    stored = json.loads(REFERENCE.read_text())
    fresh = module.main(DATA, output=None)
    for name, value in stored["values"].items():
        assert fresh["values"][name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
