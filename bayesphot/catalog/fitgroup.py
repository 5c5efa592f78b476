"""One group, start to finish: models → MAP → model choice → final MAP → posterior → rows.

:func:`fit_group` is the unit of work that :mod:`bayesphot.catalog.run` sends
to Dask.  It receives only the group's cutout (data, variance, mask with the
other groups' segments masked), the PSF and the settings, so that it can run
on any worker; it never raises for a bad fit: whatever goes wrong comes back
as flagged rows.
"""

from __future__ import annotations

import math
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..image.psf import PSFImage
from ..image.target import TargetImage
from ..image.window import Window
from ..models.base import Model
from ..models.resolution import unresolved_components
from .choose import (
    CANDIDATE_TOLERANCES,
    Candidate,
    SourceStart,
    available_types,
    chi2_none,
    fit_candidate,
    make_model,
    n_free,
    select_dchi2,
    select_evidence,
)
from .groups import Group
from .sample import issues_of_source, sample_posterior
from .settings import CatalogSettings
from .table import FLAGS, failed_rows, source_row

#: LM tolerances of a group's final fit (steps and gradients below 1e-4 σ)
FINAL_TOLERANCES = {"ftol": 1e-10, "xtol": 1e-4, "gtol": 1e-4}


@dataclass
class GroupTask:
    """What a worker needs to fit one group.

    Attributes
    ----------
    group : Group
        Windows in full-image pixels.
    data, variance, mask : 2-D arrays
        The cutout of ``group.window`` (mask True = ignore).
    psf : PSFImage or None
    pixelscale : float
        arcsec per pixel.
    zeropoint : float or None
    starts : list of SourceStart
        One per source, in cutout pixels.
    settings : CatalogSettings
    wcs : astropy.wcs.WCS, optional
        A celestial WCS of the full image (RA/Dec and PA east of north).
    """

    group: Group
    data: np.ndarray
    variance: np.ndarray
    mask: np.ndarray
    psf: PSFImage | None
    pixelscale: float
    zeropoint: float | None
    starts: list[SourceStart]
    settings: CatalogSettings
    wcs: Any = None


@dataclass
class GroupResult:
    """A finished (or failed) group.

    Attributes
    ----------
    group_id : int
    rows : list of dict
        One catalog row per source.
    idata : arviz.InferenceData or None
    failed : bool
    message : str
    seconds : float
    """

    group_id: int
    rows: list[dict[str, Any]]
    idata: Any = None
    failed: bool = False
    message: str = ""
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def _name(source_id: int) -> str:
    return f"s{source_id}"


def _local(window: Window, outer: Window) -> Window:
    return Window(window.xmin - outer.xmin, window.xmax - outer.xmin, window.ymin - outer.ymin,
                  window.ymax - outer.ymin)


def _images(group_model: Model) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(group image, {child name: its image on its own window}) at the current values, by the
    compiled engines of ``bp.fit`` (no eager rendering)."""
    from ..fit import make_engine
    from ..program import FreeParameters

    engine = make_engine(group_model)
    u = FreeParameters(group_model).unconstrained()
    images = engine.child_values(u)
    total = np.zeros(group_model.window.shape)
    for i, image in enumerate(images):
        engine.place(i, image, total)
    return total, dict(zip(group_model.models, images, strict=True))


_PSFS: dict[str, PSFImage] = {}


def _shared_psf(psf: PSFImage | None) -> PSFImage | None:
    """One PSFImage object per distinct PSF in this process, so compiled galaxy renderers are reused
    from group to group (they are keyed by the PSF object)."""
    if psf is None:
        return None
    import hashlib

    key = hashlib.sha1(psf.data.tobytes() + bytes(str((psf.shape, psf.oversampling, psf.kind)), "ascii")).hexdigest()
    return _PSFS.setdefault(key, psf)


def _current_values(model: Model) -> dict[str, float]:
    return {k: float(np.asarray(p.value)) for k, p in model.parameters.items() if p.value is not None}


def _kind(model: Model) -> str:
    if model.model_type == "point source":
        return "point"
    n = model["n"]
    if n.fixed:
        return "exp" if abs(float(n.value) - 1.0) < 1e-9 else "dev"
    return "sersic"


def _choose(group_model: Model, target: TargetImage, task: GroupTask, types: list[str]) -> dict[int, dict[str, Any]]:
    """Fit every candidate per source (brightest first), keep the chosen one in the group."""
    settings = task.settings
    info: dict[int, dict[str, Any]] = {}
    for source, start in zip(task.group.sources, task.starts, strict=True):
        name = _name(source.id)
        current = group_model.models[name]
        window = current.window
        total, images = _images(group_model)
        offset = total[window.slices] - images[name]
        none = chi2_none(target, window, offset, current.fit_mask)
        cands: dict[str, Candidate] = {}
        models: dict[str, Model] = {}
        values = _current_values(current)
        for kind in types:
            guess, reuse = None, None
            if kind == _kind(current):
                reuse = current  # refit in place: its compiled functions exist already
            elif kind != "point" and "Re" in values:
                guess = {k: v for k, v in values.items() if k not in ("n",)}
            try:
                cand, model = fit_candidate(kind, name, target, window, start, offset, guess, settings.max_iterations,
                                            model=reuse)
            except Exception as exc:  # a candidate that cannot be fitted is simply not chosen
                cand, model = Candidate(kind, math.inf, 0, float("nan"), message=f"{type(exc).__name__}: {exc}"), None
            cands[kind] = cand
            if model is not None:
                models[kind] = model
        dchi2 = {k: none - c.chi2 for k, c in cands.items()}
        nparams = {k: (c.k or {"point": 3, "exp": 6, "dev": 6, "sersic": 7}[k]) for k, c in cands.items()}
        by_dchi2, significant = select_dchi2(dchi2, nparams)
        by_evidence = select_evidence({k: c.log_evidence for k, c in cands.items()})
        chosen = by_evidence if settings.criterion == "evidence" and by_evidence is not None else by_dchi2
        if chosen not in models:
            chosen = by_dchi2
        group_model.models[name] = models[chosen]
        info[source.id] = {
            "dchi2": dchi2, "nparams": nparams, "logz": {k: c.log_evidence for k, c in cands.items()},
            "type_dchi2": by_dchi2, "type_evidence": by_evidence or "", "significant": significant,
            "candidate_messages": {k: c.message for k, c in cands.items() if c.message != "success"},
            "chosen_at_limit": cands[chosen].at_limit,
        }
    return info


def fit_group(task: GroupTask) -> GroupResult:
    """Fit, choose, refit and sample one group; never raises (failures come back flagged).

    Returns
    -------
    GroupResult
    """
    t0 = time.perf_counter()
    try:
        return _fit_group(task, t0)
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}"
        rows = failed_rows(task.group, message)
        return GroupResult(task.group.id, rows, None, True, message + "\n" + traceback.format_exc(limit=4),
                           time.perf_counter() - t0)


def _fit_group(task: GroupTask, t0: float) -> GroupResult:
    from ..fit import LM

    settings = task.settings
    group = task.group
    target = TargetImage(task.data, variance=task.variance, mask=task.mask, psf=_shared_psf(task.psf),
                         pixelscale=task.pixelscale, zeropoint=task.zeropoint)
    types = available_types(settings.types, task.psf is not None)
    first = "point" if "point" in types else types[0]
    sky = Model("sky", "flat sky model", target=target)
    sources = []
    for source, start in zip(group.sources, task.starts, strict=True):
        sources.append(make_model(first, _name(source.id), target, _local(source.window, group.window), start))
    group_model = Model("group", "group", models=[sky, *sources], target=target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        group_model.initialize()
        LM(group_model, max_iterations=settings.max_iterations, restarts=0, **CANDIDATE_TOLERANCES).fit()
        choice = _choose(group_model, target, task, types) if len(types) > 1 else {}
        fit = LM(group_model, max_iterations=settings.max_iterations, **FINAL_TOLERANCES).fit()
    if not np.all(np.isfinite(fit.u)):
        raise FloatingPointError("the final fit produced non-finite parameters")
    sampled = sample_posterior(group_model, fit, settings.sampler, settings.draws, settings.seed + group.id,
                               settings.chains, settings.warmup, settings.nuts_seconds)
    # Fisher-diagonal σ (the Tractor's choice): 1 / √(diagonal of the Hessian), correlations ignored
    cov_u = np.asarray(fit.covariance_unconstrained, dtype=np.float64)
    try:
        hessian = np.linalg.pinv(cov_u, hermitian=True)
    except np.linalg.LinAlgError:
        hessian = np.full_like(cov_u, np.nan)
    dxdu = _dxdu(fit)
    fisher = {}
    for i, label in enumerate(fit.labels):
        h = hessian[i, i]
        fisher[label] = float(abs(dxdu[i]) / math.sqrt(h)) if h > 0 else float("nan")
    rows = []
    for source in group.sources:
        name = _name(source.id)
        model = group_model.models[name]
        src_choice = choice.get(source.id, {})
        reasons = []
        if not fit.success:
            reasons.append((FLAGS["FIT"], f"final fit: {fit.message}"))
        own_limits = [lab for lab in fit.at_limit if lab.startswith(name + ":")]
        if own_limits:
            reasons.append((FLAGS["LIMIT"], f"at a limit: {', '.join(own_limits)}"))
        if fit.singular:
            reasons.append((FLAGS["SINGULAR"], "singular Hessian"))
        unresolved = unresolved_components(model)
        if unresolved:
            reasons.append((FLAGS["QUADRATURE"], "; ".join(
                f"pixel rule of {path} uncertain to {error:.1e} of its peak pixel (profile narrower than the "
                "quadrature resolves)" for path, error in unresolved.items())))
        own_issues = issues_of_source(sampled.issues, name)
        if own_issues:
            reasons.append((FLAGS["SAMPLER"], "; ".join(own_issues)))
        if source.clipped:
            reasons.append((FLAGS["EDGE"], "window clipped by the image edge"))
        if src_choice and not src_choice["significant"]:
            reasons.append((FLAGS["WEAK"], "penalised Δχ² below 25 for every type"))
        misfit = misfit_reason(fit.chi2, fit.ndf, settings.chi2_flag, settings.chi2_p_flag)
        if misfit:
            reasons.append((FLAGS["CHI2"], misfit))
        if group.size > settings.max_group_size:
            reasons.append((FLAGS["BIG"], f"group of {group.size} sources"))
        rows.append(source_row(
            source=source, group=group, name=name, kind=_kind(model), idata=sampled.idata, sampled=sampled,
            pixelscale=task.pixelscale, zeropoint=task.zeropoint, fit=fit, fisher=fisher, choice=src_choice,
            reasons=reasons, n_params=n_free(model), sampler=sampled.sampler, wcs=task.wcs,
        ))
    return GroupResult(group.id, rows, sampled.idata, False, fit.message, time.perf_counter() - t0,
                       {"chi2_ndf": fit.chi2_ndf, "n_sources": group.size})


def misfit_reason(chi2: float, ndf: int, max_chi2_ndf: float, min_p: float) -> str:
    """Why a group's χ² says its model misfits the data ("" when it does not).

    Parameters
    ----------
    chi2, ndf : float, int
        The group's χ² and degrees of freedom.
    max_chi2_ndf : float
        χ²/ndf above this is a misfit whatever ndf.
    min_p : float
        A χ² whose survival probability for ``ndf`` is below this is a misfit.
    """
    from scipy.stats import chi2 as chi2_distribution

    if ndf <= 0 or not np.isfinite(chi2):
        return f"group χ² {chi2:.4g} over ndf {ndf}: no goodness of fit"
    p = float(chi2_distribution.sf(chi2, ndf))
    if chi2 / ndf > max_chi2_ndf or p < min_p:
        return f"group χ²/ndf {chi2 / ndf:.2f} over ndf {ndf} (p = {p:.1e}): the model misfits the data"
    return ""


def _dxdu(fit: Any) -> np.ndarray:
    from ..program import FreeParameters

    return FreeParameters(fit.model).derivative(fit.u)


__all__ = ["GroupResult", "GroupTask", "fit_group"]
