"""The notebooks: stored clean (no outputs, no machine paths) and executed top to bottom.

Execution is marked ``notebooks`` (excluded from the default suite): CI runs
``python -m pytest -q -m notebooks`` with ``BAYESPHOT_QUICK=1``, which each
notebook reads to pick smaller stamps and shorter chains.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
EXPECTED = {"01_quickstart.ipynb", "02_group_models.ipynb", "03_posterior_analysis.ipynb", "04_catalog.ipynb"}
MACHINE_PATH = re.compile(r"(/home/|/Users/|/work/|/tmp/|[A-Z]:\\\\|site-packages)")
#: the most lines one cell may print (no walls of progress lines)
MAX_LINES = 80


def test_every_notebook_is_present_and_stored_clean() -> None:
    assert EXPECTED <= {p.name for p in NOTEBOOKS}
    for path in NOTEBOOKS:
        book = json.loads(path.read_text())
        assert book["metadata"]["kernelspec"]["name"] == "python3", path.name
        for cell in book["cells"]:
            source = "".join(cell["source"])
            assert not MACHINE_PATH.search(source), (path.name, source[:200])
            if cell["cell_type"] == "code":
                assert cell.get("outputs") == [] and cell.get("execution_count") is None, (path.name, source[:80])
        code = "".join("".join(c["source"]) for c in book["cells"] if c["cell_type"] == "code")
        assert "BAYESPHOT_QUICK" in code, path.name  # every notebook has CI-sized settings
        assert "progress=False" in code or "NUTS" not in code, path.name


def _stream_lines(cell: dict) -> int:
    return sum("".join(o.get("text", "")).count("\n") for o in cell.get("outputs", []) if o["output_type"] == "stream")


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, monkeypatch) -> None:
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("BAYESPHOT_QUICK", os.environ.get("BAYESPHOT_QUICK", "1"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # the kernel imports the bayesphot of this checkout
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    book = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        NotebookClient(book, timeout=900, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        print(f"{path.name}: {time.perf_counter() - start:.0f} s")
        keep = os.environ.get("BAYESPHOT_NOTEBOOK_OUT")  # a folder to keep the executed notebooks in, to look at
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            nbformat.write(book, Path(keep) / path.name)
    for cell in book.cells:
        if cell.cell_type == "code":
            assert _stream_lines(cell) <= MAX_LINES, ("".join(cell.source)[:80], _stream_lines(cell))
