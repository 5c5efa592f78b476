"""The calibration study's machinery, end to end in its quick mode (a smoke test, not of coverage).

``benchmarks/calibration.py --quick`` simulates 3 images per single-galaxy set and 2 blended pairs,
samples them with short chains and writes the JSON the full study writes.  CI runs this after the
suite (``-m smoke``); the full study is a benchmark (about an hour on 2 cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.smoke
def test_calibration_quick_mode_writes_every_set(tmp_path: Path) -> None:
    out = tmp_path / "calibration.json"
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibration.py"), "--quick", "--out", str(out)],
                         capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stderr[-3000:]
    payload = json.loads(out.read_text())
    assert set(payload["sets"]) == {"single-low", "single-medium", "single-high", "pairs"}
    for kind, data in payload["sets"].items():
        expected = 2 if kind == "pairs" else 3
        assert len(data["records"]) == expected, kind
        summary = data["summary"]
        assert summary["_all"]["n"] == expected
        names = [k for k in summary if not k.startswith("_")]
        assert len(names) == (15 if kind == "pairs" else 8), kind   # sky + 7 per Sérsic
        for name in names:
            row = summary[name]
            for key in ("coverage68", "coverage95", "laplace_coverage68", "laplace_coverage95"):
                assert 0.0 <= row[key] <= 1.0, (kind, name, key)
            assert row["coverage95"] >= row["coverage68"]            # nested intervals
            assert sum(row["rank_hist10"]) == expected
    # a second run finds every set complete and samples nothing
    again = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "calibration.py"), "--quick", "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and again.stdout.count("already in") == 4, again.stdout[-2000:]
