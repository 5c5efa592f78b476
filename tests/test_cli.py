"""The ``bayesphot`` command line: light import, help, version, ``fit`` on a synthetic image, ``example``."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from bayesphot.cli import SUBCOMMANDS, build_parser, main


def test_cli_import_loads_no_heavy_library() -> None:
    """``bayesphot --help`` must answer at once: building the parser imports no JAX, torch, astropy, matplotlib."""
    code = ("import sys; import bayesphot.cli as c; c.build_parser(); "
            "heavy = [m for m in ('jax', 'torch', 'numpyro', 'pyro', 'astropy', 'matplotlib', 'arviz') "
            "if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True)


def _help_texts() -> list[str]:
    parser = build_parser()
    texts = [parser.format_help()]
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    texts += [p.format_help() for p in sub.choices.values()]
    return texts


def test_help_is_plain_text() -> None:
    texts = _help_texts()
    assert len(texts) == 1 + len(SUBCOMMANDS)
    for text in texts:
        for markup in ("``", ":func:", ":class:", ":meth:", ".. ", ":data:"):
            assert markup not in text, (markup, text)
    assert "example" in texts[0] and "fit" in texts[0]


def test_version(capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"bayesphot {importlib.import_module('bayesphot').__version__}"


def test_every_registered_subcommand_has_add_parser_and_run() -> None:
    for name in SUBCOMMANDS:
        module = importlib.import_module(name)
        assert callable(module.add_parser) and callable(module.run)


def test_fit_missing_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    code = main(["fit", str(tmp_path / "nothing.fits")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_fit_unknown_model_is_a_clear_error(tmp_path: Path, capsys) -> None:
    from astropy.io import fits

    path = tmp_path / "img.fits"
    fits.writeto(path, np.ones((12, 12)))
    assert main(["fit", str(path), "--model", "banana", "--no-figures", "--out", str(tmp_path / "o")]) == 2
    assert "unknown --model 'banana'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def synthetic_files(tmp_path_factory) -> dict[str, object]:
    """A 28×28 Gaussian galaxy on a sky of 5, rms 1, one masked box, as FITS files; with the truth."""
    from astropy.io import fits

    import bayesphot as bp

    folder = tmp_path_factory.mktemp("synthetic")
    rows = cols = 28
    truth = {"x": 13.3, "y": 14.6, "q": 0.7, "PA": 1.0, "sigma": 2.5, "flux": 800.0}
    target = bp.TargetImage(np.zeros((rows, cols)), rms=1.0)
    gal = bp.Model("g", "gaussian galaxy model", target=target, **truth)
    rng = np.random.default_rng(7)
    data = np.asarray(gal.render()) + 5.0 + rng.normal(0.0, 1.0, (rows, cols))
    mask = np.zeros((rows, cols), dtype=np.int32)
    mask[2:5, 20:25] = 1
    data[mask != 0] = 1e4  # a "star": masked, so it must not matter
    paths = {"image": folder / "img.fits", "rms": folder / "rms.fits", "mask": folder / "mask.fits"}
    fits.writeto(paths["image"], data.astype(np.float32))
    fits.writeto(paths["rms"], np.ones((rows, cols), dtype=np.float32))
    fits.writeto(paths["mask"], mask)
    return {"paths": paths, "truth": truth}


def test_fit_command_map_writes_model_table_and_figures(synthetic_files, tmp_path: Path, capsys) -> None:
    from astropy.table import Table

    import bayesphot as bp

    paths, truth = synthetic_files["paths"], synthetic_files["truth"]
    out = tmp_path / "map"
    code = main(["fit", str(paths["image"]), "--rms", str(paths["rms"]), "--mask", str(paths["mask"]),
                 "--model", "gaussian", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pixel scale 1 arcsec/pixel (none found: pixel units)" in printed and "LM: success" in printed
    for suffix in ("_map.yaml", "_summary.ecsv", "_1_data.png", "_2_initial.png", "_3_map.png"):
        assert (out / f"galaxy{suffix}").stat().st_size > 500, suffix
    assert not (out / "galaxy_posterior.nc").exists()
    rows = {str(r["parameter"]): r for r in Table.read(out / "galaxy_summary.ecsv", format="ascii.ecsv")}
    assert rows["galaxy:sigma"]["unit"] == "arcsec" and rows["sky:I"]["unit"] == "flux/arcsec^2"
    for name, value in truth.items():   # the MAP recovers the simulated truth within 4 Laplace σ
        row = rows[f"galaxy:{name}"]
        assert abs(row["map"] - value) < 4 * row["map_sigma"], (name, row["map"], row["map_sigma"], value)
    model = bp.Model.load(out / "galaxy_map.yaml")
    assert float(model["galaxy:flux"].value) == pytest.approx(rows["galaxy:flux"]["map"], rel=1e-9)


@pytest.mark.slow
def test_fit_command_map_and_nuts_writes_every_output(synthetic_files, tmp_path: Path, capsys) -> None:
    from astropy.table import Table

    from bayesphot.infer import Posterior

    paths, truth = synthetic_files["paths"], synthetic_files["truth"]
    out = tmp_path / "run"
    code = main(["fit", str(paths["image"]), "--rms", str(paths["rms"]), "--mask", str(paths["mask"]),
                 "--model", "gaussian", "--pixelscale", "1", "--out", str(out), "--sample",
                 "--chains", "2", "--warmup", "60", "--draws", "120"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pixel scale 1 arcsec/pixel (from --pixelscale)" in printed
    assert "LM: success" in printed
    assert "diagnostics" in printed
    for suffix in ("_map.yaml", "_posterior.yaml", "_posterior.nc", "_summary.ecsv", "_1_data.png",
                   "_2_initial.png", "_3_map.png", "_4_corner.png", "_5_trace.png", "_6_posterior.png"):
        assert (out / f"galaxy{suffix}").stat().st_size > 500, suffix
    table = Table.read(out / "galaxy_summary.ecsv", format="ascii.ecsv")
    rows = {str(r["parameter"]): r for r in table}
    assert rows["galaxy:sigma"]["unit"] == "arcsec" and rows["galaxy:flux"]["unit"] == "flux"
    assert rows["sky:I"]["unit"] == "flux/arcsec^2"
    # the posterior recovers the truth within 4 sd (sky 5, galaxy as simulated)
    for name, value in truth.items():
        row = rows[f"galaxy:{name}"]
        assert abs(row["mean"] - value) < 4 * row["sd"], (name, row["mean"], row["sd"], value)
        assert abs(row["map"] - value) < 4 * row["map_sigma"], (name, row["map"], row["map_sigma"], value)
    assert abs(rows["sky:I"]["mean"] - 5.0) < 4 * rows["sky:I"]["sd"]
    # Laplace σ and posterior sd agree on this nearly Gaussian problem (within 30 %: 240 draws)
    assert 0.7 < rows["galaxy:flux"]["sd"] / rows["galaxy:flux"]["map_sigma"] < 1.3
    post = Posterior.from_netcdf(out / "galaxy_posterior.nc")
    assert post.draws("galaxy:flux").shape == (240,)
    import bayesphot as bp

    again = bp.Model.load(out / "galaxy_posterior.yaml")
    assert again["galaxy:flux"].uncertainty > 0
    assert abs(float(again["galaxy:flux"].value) - rows["galaxy:flux"]["mean"]) < 1e-6 * truth["flux"]


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["example"])
    assert args.backend == "numpyro" and args.chains >= 2 and not args.no_sample and not args.full
    args = build_parser().parse_args(["fit", "img.fits", "--window", "1", "9", "2", "8"])
    assert args.window == [1, 9, 2, 8] and not args.sample and args.model == "sersic" and args.sky == "flat"


def test_example_map_fit_writes_model(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["example", "--out", str(out), "--no-psf", "--no-sample", "--full"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "LM: success" in printed
    state = yaml.safe_load((out / "ic3478_map.yaml").read_text())
    params = state["model"]["parameters"]
    # the Sérsic fit of IC 3478 (Imfit's exponential has PA 18.75° = 0.327 rad, q = 0.779)
    assert abs(params["PA"]["value"] - 0.327) < 0.02
    assert abs(params["q"]["value"] - 0.78) < 0.03
    assert params["PA"]["uncertainty"] > 0
    assert (out / "ic3478_3_map.png").stat().st_size > 10_000


@pytest.mark.slow
def test_example_default_passes_its_diagnostics(tmp_path: Path, capsys) -> None:
    """The README's ``bayesphot example``, as run by a new user: the posterior passes every check."""
    assert main(["example", "--out", str(tmp_path / "ex")]) == 0
    printed = capsys.readouterr().out
    assert "diagnostics OK" in printed
