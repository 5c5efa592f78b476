"""The ``bayesphot example`` command runs the workflow end to end on the bundled image."""

from __future__ import annotations

from pathlib import Path

import yaml

from bayesphot.cli import build_parser, main


def test_example_map_fit_writes_model(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    code = main(["example", "--out", str(out), "--no-psf", "--no-sample"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "LM: success" in printed
    state = yaml.safe_load((out / "ic3478_map.yaml").read_text())
    params = state["model"]["parameters"]
    # the Sérsic fit of IC 3478 (Imfit's exponential has PA 18.75° = 0.327 rad, q = 0.779)
    assert abs(params["PA"]["value"] - 0.327) < 0.02
    assert abs(params["q"]["value"] - 0.78) < 0.03
    assert params["PA"]["uncertainty"] > 0
    assert (out / "ic3478.png").stat().st_size > 10_000


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["example"])
    assert args.backend == "numpyro" and args.chains >= 2 and not args.no_sample
