"""bp.catalog.run on Dask: a whole small field, a run killed part-way and resumed, failing groups, the CLI.

Small settings (point sources only, 200 Laplace draws, one threaded worker) keep it fast.
"""

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import bayesphot as bp
from bayesphot.catalog import FLAGS, CatalogSettings, groups_folder, read_catalog
from bayesphot.catalog.simulate import TrueSource, gaussian_psf, simulate_field
from bayesphot.commands import catalog as cli

ROOT = Path(__file__).resolve().parents[1]
FWHM = 3.0
TRUTH = [
    TrueSource("point", 12.4, 13.1, 3000.0),
    TrueSource("point", 36.2, 12.7, 2000.0),
    TrueSource("point", 40.6, 17.3, 2500.0),   # blended with the one above: same group
    TrueSource("point", 14.8, 38.5, 4000.0),
]
SETTINGS = dict(types=("point",), draws=200)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("field")
    image, rms = simulate_field((50, 50), TRUTH, FWHM, 4.0, seed=3, sky=20.0)
    fits.writeto(folder / "image.fits", image.astype(np.float32))
    fits.writeto(folder / "rms.fits", rms.astype(np.float32))
    # pixel-integrated (an ePSF): declared by its PSFKIND keyword, as `bayesphot catalog --psf-kind` would
    header = fits.Header({"PSFKIND": "effective"})
    fits.PrimaryHDU(gaussian_psf(FWHM, 15).data, header=header).writeto(folder / "psf_primary.fits")
    return folder


def run_small(files, out, **kwargs):
    return bp.catalog.run(files / "image.fits", out, rms=files / "rms.fits", psf=files / "psf_primary.fits",
                          zeropoint=25.0, settings=CatalogSettings(**SETTINGS), processes=False, n_workers=1,
                          progress=False, **kwargs)


@pytest.fixture(scope="module")
def reference(files):
    out = files / "ref" / "cat.ecsv"
    out.parent.mkdir()
    return run_small(files, out), out


def test_whole_run_measures_the_simulated_sources(reference):
    table, out = reference
    assert len(table) == len(TRUTH)
    assert sorted(set(table["group_id"])) == [0, 1, 2]          # the blended pair shares a group
    assert json.loads(table.meta["RUNINFO"])["psf_kind"] == "effective"   # read from the file's PSFKIND
    for t in TRUTH:
        d = np.hypot(table["x_mean"] - t.x, table["y_mean"] - t.y)
        i = int(np.argmin(d))
        row = table[i]
        assert row["type"] == "point" and row["flags"] & ~FLAGS["EDGE"] == 0   # small image: windows meet its edge
        # within 4σ of the truth (the posterior sd is the uncertainty being tested)
        assert abs(row["x_mean"] - t.x) < 4 * row["x_sd"] and abs(row["y_mean"] - t.y) < 4 * row["y_sd"]
        assert abs(row["flux_mean"] - t.flux) < 4 * row["flux_sd"]
        assert row["mag_mean"] == pytest.approx(25.0 - 2.5 * np.log10(row["flux_mean"]), abs=3 * row["mag_sd"])
        assert row["flux_q16"] < row["flux_q50"] < row["flux_q84"]
        assert 0.7 < row["chi2_ndf"] < 1.3
        assert row["ess_bulk_min"] == 200 and np.isnan(row["r_hat_max"])
    folder = groups_folder(out)
    assert sorted(p.name for p in folder.glob("group_*.nc")) == [f"group_{g:05d}.nc" for g in range(3)]
    idata = bp.infer.Posterior.from_netcdf(folder / "group_00001.nc").idata
    assert idata.posterior.sizes["draw"] * idata.posterior.sizes["chain"] == 200


def _same(a, b):
    assert a.colnames == b.colnames and len(a) == len(b)
    for c in a.colnames:
        if a[c].dtype.kind == "f":
            np.testing.assert_allclose(np.asarray(a[c]), np.asarray(b[c]), rtol=1e-9, atol=1e-12, equal_nan=True)
        else:
            assert list(a[c]) == list(b[c]), c


def test_killed_run_resumes_to_the_same_catalog(files, reference):
    ref_table, _ = reference
    out = files / "killed" / "cat.ecsv"
    out.parent.mkdir()
    # a run whose process is killed (SIGKILL: nothing gets to clean up) when its second group starts,
    # once the first group's file is written
    script = textwrap.dedent(f"""
        import os, signal, time
        from pathlib import Path
        import bayesphot as bp
        import bayesphot.catalog.fitgroup as fitgroup
        from bayesphot.catalog import CatalogSettings, groups_folder
        original = fitgroup.fit_group
        def fit_or_die(task):
            # Dask may pickle this function by value: count starts in the process environment, not a global
            os.environ["BP_TEST_STARTED"] = str(int(os.environ.get("BP_TEST_STARTED", "0")) + 1)
            if int(os.environ["BP_TEST_STARTED"]) >= 2:
                for _ in range(1200):
                    if list(groups_folder({str(out)!r}).glob("group_*.json")):
                        break
                    time.sleep(0.1)
                os.kill(os.getpid(), signal.SIGKILL)
            return original(task)
        fitgroup.fit_group = fit_or_die
        files = Path({str(files)!r})
        bp.catalog.run(files / "image.fits", {str(out)!r}, rms=files / "rms.fits", psf=files / "psf_primary.fits",
                       zeropoint=25.0, settings=CatalogSettings(**{SETTINGS!r}), processes=False, n_workers=1,
                       progress=False)
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == -9, proc.stderr.decode()[-2000:]
    assert not out.exists()
    written = sorted(p.name for p in groups_folder(out).glob("group_*.json"))
    assert len(written) == 1
    table = run_small(files, out)                                # the same call again resumes
    _same(table, ref_table)
    _same(read_catalog(out), table)


def test_failing_group_is_flagged_and_the_run_goes_on(files, reference, monkeypatch):
    import bayesphot.catalog.fitgroup as fitgroup

    ref_table, _ = reference
    ids, counts = np.unique(ref_table["group_id"], return_counts=True)
    pair = int(ids[counts == 2][0])     # the blended pair's group fails
    original = fitgroup.fit_group

    def fit_or_raise(task):
        if task.group.id == pair:
            raise RuntimeError("simulated worker failure")
        return original(task)

    monkeypatch.setattr(fitgroup, "fit_group", fit_or_raise)
    out = files / "failing" / "cat.fits"
    out.parent.mkdir()
    table = run_small(files, out)
    failed = table[table["group_id"] == pair]
    assert len(failed) == 2
    assert np.all(failed["flags"] & FLAGS["FAILED"])
    assert all("simulated worker failure" in r for r in failed["flag_reasons"])
    assert np.all(np.isnan(failed["flux_mean"]))
    ok = table[table["group_id"] != pair]
    _same(ok, ref_table[ref_table["group_id"] != pair])
    # a re-run keeps the failed group as it is, unless asked to retry it
    monkeypatch.setattr(fitgroup, "fit_group", original)
    again = run_small(files, out)
    assert np.all(again[again["group_id"] == pair]["flags"] & FLAGS["FAILED"])
    retried = run_small(files, out, retry_failed=True)
    _same(retried, ref_table)


def test_failure_inside_a_group_task_is_caught():
    from bayesphot.catalog.choose import SourceStart
    from bayesphot.catalog.fitgroup import GroupTask, fit_group
    from bayesphot.catalog.groups import Group, Source
    from bayesphot.image.window import Window

    w = Window(0, 10, 0, 10)
    group = Group(4, [Source(9, 5.0, 5.0, w)], w)
    # point sources only, but no PSF: nothing can be fitted
    task = GroupTask(group, np.zeros((10, 10)), np.ones((10, 10)), np.zeros((10, 10), bool), None, 1.0, None,
                     [SourceStart(5.0, 5.0, 1.0)], CatalogSettings(types=("point",)))
    result = fit_group(task)
    assert result.failed and result.rows[0]["flags"] == FLAGS["FAILED"]
    assert "point source needs a PSF" in result.rows[0]["flag_reasons"]
    assert result.rows[0]["x_mean"] == 5.0


def test_inconsistent_output_folder_is_refused(files, reference):
    _, out = reference
    with pytest.raises(bp.catalog.CatalogError, match="other inputs or settings"):
        bp.catalog.run(files / "image.fits", out, rms=files / "rms.fits", psf=files / "psf_primary.fits",
                       settings=CatalogSettings(types=("point",), draws=300), processes=False, n_workers=1,
                       progress=False)


@pytest.mark.slow
def test_an_unguarded_script_gets_a_clear_error(tmp_path):
    """Dask's worker processes re-import the script: without a __main__ guard the call inside the child must
    say what to do instead of multiprocessing's bootstrapping error."""
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        import bayesphot as bp
        from bayesphot.catalog.simulate import TrueSource, gaussian_psf, simulate_field
        image, rms = simulate_field((40, 40), [TrueSource("point", 20.0, 20.0, 3000.0)], 3.0, 4.0, seed=3)
        bp.catalog.run(image, {str(tmp_path / "cat.ecsv")!r}, rms=rms, psf=gaussian_psf(3.0, 15), n_workers=1,
                       progress=False, settings=bp.catalog.CatalogSettings(types=("point",), draws=100))
    """))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode != 0
    assert 'if __name__ == "__main__":' in done.stderr and "CatalogError" in done.stderr


def _allocation_setting() -> str | None:
    return os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE")


def test_worker_processes_allocate_gpu_memory_as_they_need_it(monkeypatch):
    """JAX in each LocalCluster worker process would take 75 % of a shared GPU's memory by default."""
    for key in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION", "XLA_PYTHON_CLIENT_ALLOCATOR"):
        monkeypatch.delenv(key, raising=False)
    run_module = sys.modules["bayesphot.catalog.run"]
    client, cluster = run_module._client(None, 1, True)
    try:
        assert client.submit(_allocation_setting, pure=False).result(timeout=120) == "false"
    finally:
        client.close()
        cluster.close()
    monkeypatch.setenv("XLA_PYTHON_CLIENT_MEM_FRACTION", "0.2")  # the user's own setting is kept
    assert run_module.worker_environment() == {}


@pytest.mark.slow
def test_cli_runs_the_catalog(files, reference, capsys, monkeypatch):
    parser = argparse.ArgumentParser(prog="bayesphot")
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = files / "cli" / "cat.fits"
    out.parent.mkdir()
    args = parser.parse_args(["catalog", str(files / "image.fits"), "--rms", str(files / "rms.fits"),
                              "--psf", str(files / "psf_primary.fits"), "--zeropoint", "25", "--types", "point",
                              "--draws", "200", "--workers", "1", "--no-progress", "--out", str(out)])
    assert args.handler is cli.run
    # the CLI's LocalCluster uses processes; threads keep this test light
    run_module = sys.modules["bayesphot.catalog.run"]
    real = run_module._client
    monkeypatch.setattr(run_module, "_client", lambda scheduler, n, processes: real(scheduler, n, False))
    assert cli.run(args) == 0
    assert "wrote 4 sources" in capsys.readouterr().out
    ref_table, _ = reference
    _same(read_catalog(out), ref_table)
