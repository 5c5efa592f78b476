"""``bp.catalog.run``: image → detection → PSF → groups → per-group tasks on Dask → catalog.

Every group is one task (:func:`~bayesphot.catalog.fitgroup.fit_group`) on a
``dask.distributed`` cluster: a ``LocalCluster`` with one single-threaded
worker per core by default, or any running cluster given by its scheduler
address (or a ``Client``).  The driver writes each group's rows (JSON) and
InferenceData (NetCDF) into ``<catalog stem>_groups/`` as soon as the group
finishes, so an interrupted run loses at most the groups in flight; running
the same command again skips the groups already written and gives the same
catalog (each group's random draws are seeded by its number).  A group whose
task fails (an exception, a worker that died) is written as flagged rows and
the run goes on.  The catalog file is written at the end from the group files.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import os
import time
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BayesphotError, ImageError
from ..image.psf import PSFImage
from ..image.target import TargetImage
from . import fitgroup
from .choose import SourceStart
from .detect import Detections, detect, estimate_background, measure
from .fitgroup import GroupResult, GroupTask
from .groups import Group, build_groups
from .psf import StarSelection, build_psf
from .settings import CatalogSettings
from .table import failed_rows, file_format, header_meta, rows_to_table, write_catalog

PathLike = str | Path


class CatalogError(BayesphotError, RuntimeError):
    """A catalog run that cannot start or resume (inconsistent output folder, bad inputs)."""


def _read_array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    if isinstance(value, (str, Path)):
        from astropy.io import fits

        with fits.open(value) as hdul:
            for hdu in hdul:
                if hdu.data is not None:
                    return np.array(hdu.data, dtype=np.float64)
        raise ImageError(f"{value} holds no image data")
    return np.asarray(value, dtype=np.float64)


def load_target(image: Any, *, variance: Any = None, weight: Any = None, rms: Any = None, mask: Any = None,
                background: Any = None, pixelscale: float | None = None,
                zeropoint: float | None = None) -> TargetImage:
    """The image as a :class:`TargetImage`, background-subtracted when a background is given.

    ``image`` is a FITS path, an array or a TargetImage; the noise (one of
    ``variance``, ``weight``, ``rms``), ``mask`` and ``background`` are arrays,
    numbers or FITS paths.
    """
    if isinstance(image, TargetImage):
        target = image
    elif isinstance(image, (str, Path)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            target = TargetImage.from_fits(image, variance=variance, weight=weight, rms=rms, mask=mask,
                                           pixelscale=pixelscale, zeropoint=zeropoint)
    else:
        read = lambda v: v if v is None or np.isscalar(v) else _read_array(v)
        target = TargetImage(np.asarray(image, dtype=np.float64), variance=read(variance), weight=read(weight),
                             rms=read(rms), mask=None if mask is None else _read_array(mask),
                             pixelscale=1.0 if pixelscale is None else pixelscale, zeropoint=zeropoint)
    if zeropoint is not None:
        target.zeropoint = float(zeropoint)
    if background is not None:
        bkg = np.broadcast_to(np.asarray(_read_array(background) if isinstance(background, (str, Path))
                                         else background, dtype=np.float64), target.shape)
        target.data = target.data - np.where(target.mask, 0.0, bkg)
    return target


def _celestial(wcs: Any) -> Any:
    return wcs if wcs is not None and getattr(wcs, "has_celestial", False) else None


def _digest(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is not None:
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]


def _tasks(target: TargetImage, detections: Detections, groups: list[Group], psf: PSFImage | None,
           settings: CatalogSettings, wcs: Any) -> dict[int, GroupTask]:
    index = {int(lab): i for i, lab in enumerate(detections.labels)}
    seg = detections.segmap
    tasks = {}
    for group in groups:
        w = group.window
        others = (seg[w.slices] > 0) & ~np.isin(seg[w.slices], group.labels)
        starts = []
        for source in group.sources:
            i = index[source.id]
            q = float(detections.b[i] / detections.a[i]) if detections.a[i] > 0 else None
            pa = float(np.mod(detections.theta[i] - math.pi / 2, math.pi))
            starts.append(SourceStart(source.x - w.xmin, source.y - w.ymin, float(max(detections.flux[i], 1e-6)),
                                      q=q, PA=pa))
        variance = np.where(target.mask[w.slices], 1.0, target.variance[w.slices])
        tasks[group.id] = GroupTask(group, np.array(target.data[w.slices]), variance,
                                    np.array(target.mask[w.slices] | others), psf, target.pixelscale,
                                    target.zeropoint, starts, settings, wcs)
    return tasks


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def _write_group(folder: Path, result: GroupResult) -> None:
    """The group's NetCDF (when there are draws), then its rows (the JSON marks the group finished)."""
    if result.idata is not None:
        nc = folder / f"group_{result.group_id:05d}.nc"
        tmp = nc.with_name(nc.name + ".tmp")
        result.idata.to_netcdf(str(tmp))
        tmp.replace(nc)
    payload = {"group_id": result.group_id, "failed": result.failed, "message": result.message,
               "seconds": result.seconds, "rows": result.rows}
    _atomic_write_text(folder / f"group_{result.group_id:05d}.json", json.dumps(payload))


def _read_group(folder: Path, group_id: int) -> dict[str, Any] | None:
    path = folder / f"group_{group_id:05d}.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # a half-written file (should not happen: writes are atomic) is redone


def groups_folder(out: PathLike) -> Path:
    """Where the per-group files of catalog ``out`` live: ``<stem>_groups/`` beside it."""
    out = Path(out)
    name = out.name
    for ext in (".fits.gz", ".fit.gz", ".fits", ".fit", ".ecsv"):
        if name.lower().endswith(ext):
            name = name[: -len(ext)]
            break
    return out.with_name(name + "_groups")


def _client(scheduler: Any, n_workers: int | None, processes: bool) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None  # a Client given by the caller
    if scheduler:
        return Client(scheduler), None
    workers = n_workers or os.cpu_count() or 1
    # a spawned child runs the parent's script while "inheriting" (the check multiprocessing itself makes)
    if processes and getattr(multiprocessing.current_process(), "_inheriting", False):
        # a worker process re-imports the script that started the cluster (the "spawn" start method): an
        # unguarded call would start clusters recursively and fail with an obscure bootstrapping error
        raise CatalogError("bp.catalog.run was called inside a child process while it started; in a script, "
                           "call it under `if __name__ == \"__main__\":` (or pass processes=False)")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=":0",
                           **({"env": worker_environment()} if processes else {}))
    return Client(cluster), cluster


def worker_environment() -> dict[str, str]:
    """Environment of LocalCluster worker processes: JAX allocates GPU memory as it needs it.

    By default each JAX process takes 75 % of a GPU's memory when it first uses it, so a second
    worker process on the same GPU would not fit.  A memory setting of the user's is kept.
    """
    if any(key in os.environ for key in ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                                         "XLA_PYTHON_CLIENT_ALLOCATOR")):
        return {}
    return {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}


def run(image: Any, out: PathLike, *, variance: Any = None, weight: Any = None, rms: Any = None, mask: Any = None,
        psf: Any = None, segmap: Any = None, background: Any = None, pixelscale: float | None = None,
        zeropoint: float | None = None, settings: CatalogSettings | None = None, sampler: str | None = None,
        draws: int | None = None, detection: dict[str, Any] | None = None,
        star_selection: StarSelection | None = None, scheduler: Any = None, n_workers: int | None = None,
        processes: bool = True, progress: bool = True, retry_failed: bool = False) -> Any:
    """Produce (or resume) a catalog.

    Parameters
    ----------
    image : str, Path, array or TargetImage
        The image (FITS path: its WCS, ``PIXSCALE`` and ``ZEROPT`` are read).
    out : str or Path
        Catalog file, ``.fits`` or ``.ecsv``; group files go to ``<stem>_groups/`` beside it.
    variance, weight, rms : array, float or FITS path, optional
        The noise (one of them); without any, photutils' background rms is used.
    mask : array or FITS path, optional
        Non-zero = bad pixel.
    psf : PSFImage or FITS path, optional
        Without it an ePSF is built from the image's stars (:mod:`bayesphot.catalog.psf`).
        A path is read by :meth:`PSFImage.from_fits` (its ``PSFKIND`` keyword, else
        ``"sampled"``); give a PSFImage to declare its kind.
    segmap : array or FITS path, optional
        A segmentation map, used as is (no detection, no deblending).
    background : array, float or FITS path, optional
        Subtracted from the image before everything (each group still fits a local sky).
    pixelscale : float, optional
        arcsec per pixel (default: the FITS header / WCS, else 1).
    zeropoint : float, optional
        Magnitude zero-point for the ``mag`` columns.
    settings : CatalogSettings, optional
        Fitting and sampling settings; ``sampler`` and ``draws`` override its fields.
    detection : dict, optional
        Keywords of :func:`~bayesphot.catalog.detect.detect` (``nsigma``, ``npixels``, …).
    star_selection : StarSelection, optional
        The PSF-star cuts.
    scheduler : str or distributed.Client, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``) or a Client;
        default: a LocalCluster with one single-threaded worker per core.
    n_workers : int, optional
        LocalCluster workers (default: the machine's cores).
    processes : bool
        LocalCluster workers as processes (default) or threads.  Worker processes
        re-import the calling script, so a script must call ``run`` under
        ``if __name__ == "__main__":`` (a :class:`CatalogError` says so otherwise).
    progress : bool
        A progress bar over groups with done / failed counts and the ETA.
    retry_failed : bool
        Re-run groups that failed in an earlier run instead of keeping their flagged rows.

    Returns
    -------
    astropy.table.Table
        The catalog (also written to ``out``).
    """
    from tqdm.auto import tqdm

    t_start = time.perf_counter()
    out = Path(out)
    file_format(out)  # fail early on a bad extension
    settings = settings or CatalogSettings()
    overrides = {k: v for k, v in (("sampler", sampler), ("draws", draws)) if v is not None}
    if overrides:
        settings = replace(settings, **overrides)
    target = load_target(image, variance=variance, weight=weight, rms=rms, mask=mask, background=background,
                         pixelscale=pixelscale, zeropoint=zeropoint)
    wcs = _celestial(target.wcs)
    noise_given = any(v is not None for v in (variance, weight, rms)) or (
        isinstance(image, TargetImage)) or target.noise_model is not None
    detect_kw = dict(detection or {})
    bad = target.mask
    bkg_given = background is not None
    if segmap is not None:
        seg = _read_array(segmap).astype(np.int64) if isinstance(segmap, (str, Path)) else np.asarray(segmap)
        bkg = np.zeros(target.shape) if bkg_given else estimate_background(target.data, mask=bad | (seg > 0))[0]
        det = measure(target.data, seg, mask=bad, background=bkg, settings={"segmap": "given"})
    else:
        rms_map = np.sqrt(np.where(bad, 0.0, target.variance)) if noise_given else None
        det = detect(target.data, rms=rms_map, mask=bad, background=0.0 if bkg_given else None, **detect_kw)
        bkg = det.background if det.background is not None else np.zeros(target.shape)
    if not noise_given:
        # no noise given: the background rms estimated from the data is the noise
        _, rms_est = estimate_background(target.data - bkg, mask=bad | (det.segmap > 0))
        target = TargetImage(target.data, rms=rms_est, mask=target.mask, psf=target.psf,
                             pixelscale=target.pixelscale, zeropoint=target.zeropoint, wcs=target.wcs)
    if len(det) == 0:
        raise CatalogError("no sources detected (lower detection={'nsigma': …} or give a segmentation map)")
    psf_info: dict[str, Any] = {}
    if psf is None and target.psf is not None:
        psf = target.psf
        psf_info = {"psf": "from the image file"}
    elif isinstance(psf, (str, Path)):
        psf_info = {"psf": str(psf)}
        psf = PSFImage.from_fits(psf)
    elif isinstance(psf, PSFImage):
        psf_info = {"psf": "given"}
    elif psf is None:
        try:
            rms_all = np.sqrt(np.where(bad, 0.0, target.variance))
            psf, psf_info = build_psf(target.data - bkg, det, rms_all, star_selection or StarSelection())
            psf_info["psf"] = "ePSF from the image"
        except ImageError as exc:
            warnings.warn(f"no PSF: {exc}; fitting galaxies without PSF convolution and no point sources",
                          stacklevel=2)
            psf, psf_info = None, {"psf": f"none ({exc})"}
    if psf is not None:
        psf_info["psf_kind"] = psf.kind
    groups = build_groups(det, target.shape, settings.window_scale, settings.window_border, settings.window_min)
    folder = groups_folder(out)
    folder.mkdir(parents=True, exist_ok=True)
    digest = _digest(target.data, target.variance, target.mask.astype(np.uint8), det.segmap,
                     None if psf is None else psf.data) + (psf.kind if psf is not None else "") + settings.digest()
    manifest_path = folder / "manifest.json"
    manifest = {"digest": digest, "n_groups": len(groups), "n_sources": len(det),
                "groups": {g.id: g.labels for g in groups}}
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("digest") != digest:
            raise CatalogError(f"{folder} holds groups of a run with other inputs or settings; give another --out "
                               "or delete that folder")
    else:
        _atomic_write_text(manifest_path, json.dumps(manifest))

    finished: dict[int, dict[str, Any]] = {}
    for group in groups:
        part = _read_group(folder, group.id)
        if part is not None and not (retry_failed and part["failed"]):
            finished[group.id] = part
    tasks = _tasks(target, det, [g for g in groups if g.id not in finished], psf, settings, wcs)
    n_failed = sum(1 for p in finished.values() if p["failed"])
    bar = tqdm(total=len(groups), initial=len(finished), unit="group", desc="catalog", disable=not progress,
               dynamic_ncols=True)
    bar.set_postfix(done=len(finished) - n_failed, failed=n_failed)
    if tasks:
        from distributed import as_completed

        client, cluster = _client(scheduler, n_workers, processes)
        try:
            # small groups first: quick results and an ETA early; big groups do not hold up the rest
            futures = {client.submit(fitgroup.fit_group, task, pure=False, key=f"group-{gid}-{digest}",
                                     priority=-task.group.size): gid
                       for gid, task in tasks.items()}
            for future in as_completed(futures):
                gid = futures[future]
                try:
                    result = future.result()
                except Exception as exc:  # the task itself died (worker lost, unexpected error)
                    message = f"{type(exc).__name__}: {exc}"
                    result = GroupResult(gid, failed_rows(tasks[gid].group, message), None, True, message)
                _write_group(folder, result)
                finished[gid] = {"failed": result.failed, "rows": result.rows, "seconds": result.seconds}
                n_failed += int(result.failed)
                bar.update(1)
                bar.set_postfix(done=len(finished) - n_failed, failed=n_failed)
        finally:
            bar.close()
            if cluster is not None:
                try:
                    client.close()
                    cluster.close()
                except Exception as exc:  # a slow shutdown must not lose a finished catalog
                    warnings.warn(f"the local Dask cluster did not close cleanly: {exc!r}", stacklevel=2)
    else:
        bar.close()
    rows = [row for gid in sorted(finished) for row in finished[gid]["rows"]]
    rows.sort(key=lambda r: int(r["id"]))
    info = {"image": str(image) if isinstance(image, (str, Path)) else type(image).__name__,
            "n_sources": len(det), "n_groups": len(groups), "n_failed_groups": n_failed,
            "detection": det.settings, "wall_seconds": round(time.perf_counter() - t_start, 2),
            "pixelscale": target.pixelscale, "zeropoint": target.zeropoint,
            "wcs": "celestial" if wcs is not None else "none (RA/Dec are NaN, PA counter-clockwise from +y)",
            **psf_info}
    table = rows_to_table(rows, header_meta(settings.to_dict(), info))
    write_catalog(table, out)
    return table


__all__ = ["CatalogError", "groups_folder", "load_target", "run"]
