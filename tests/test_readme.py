"""The README is true: CI runs its set-up commands verbatim, and its "Using it" snippet runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _block(heading: str, language: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, heading
    return match.group(1)


def test_ci_runs_the_readme_set_up_commands_verbatim() -> None:
    commands = [line for line in _block("## Set-up (two commands)", "bash").splitlines() if line.strip()]
    assert len(commands) == 2
    install, test = commands
    assert test == ".venv/bin/python -m pytest -q"       # the venv's python: works in a fresh shell
    assert "activate" not in install and install.startswith("python3 -m venv .venv && ")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in ci and test in ci


def test_using_it_snippet_uses_bundled_files_and_an_explicit_pixel_scale() -> None:
    code = _block("## Using it", "python")
    assert "from bayesphot.data import path" in code and "pixelscale=" in code
    assert '"ic3478rss_256.fits"' not in code.replace('path("ic3478rss_256.fits")', "")


@pytest.mark.slow
def test_using_it_snippet_runs_as_written(tmp_path: Path) -> None:
    code = _block("## Using it", "python")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                            timeout=1800, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "success PA:" in result.stdout and "diagnostics" in result.stdout
    assert (tmp_path / "posterior.nc").exists() and (tmp_path / "ic3478.yaml").exists()
