"""A profile narrower than the pixel rules resolve is reported by fits and catalog rows, not passed as exact.

The rule's own measurement (``QuadratureConfig.resolution_error``, tested against a finer rule in
``test_render_pixels.py``) must reach the user: :class:`~bayesphot.fit.FitResult` lists it among its
``issues``, and a catalog row of that source, and only of that source, carries the ``QUADRATURE`` flag.
Simulated images with an edge-on exponential disk (q = 0.1, Re = 1.5 pixels; measured off by 1e-4 to 1e-2
of its peak) beside a resolved one (q = 0.8, Re = 4 pixels).
"""

import warnings

import numpy as np

import bayesphot as bp
from bayesphot.catalog import FLAGS, CatalogSettings
from bayesphot.errors import QuadratureWarning
from bayesphot.image import TargetImage
from bayesphot.models import Model

SIZE = 40
THIN = {"x": 12.3, "y": 19.6, "q": 0.1, "Re": 1.5, "PA": 0.6, "Ie": 40.0}
ROUND = {"x": 27.4, "y": 21.2, "q": 0.8, "Re": 4.0, "PA": 1.1, "Ie": 8.0}


def _image(*sources: dict, sigma: float = 0.5) -> np.ndarray:
    target = TargetImage(np.zeros((SIZE, SIZE)))
    total = np.zeros((SIZE, SIZE))
    for i, values in enumerate(sources):
        model = Model(f"m{i}", "sersic galaxy model", target=target, n=1.0, **values)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", QuadratureWarning)
            total += np.asarray(model.sample_image(), dtype=np.float64)
    return total + np.random.default_rng(5).normal(0.0, sigma, total.shape)


def _fit(values: dict) -> bp.fit.FitResult:
    data = _image(values)
    target = TargetImage(data, variance=np.full(data.shape, 0.25))
    start = {k: v * (1.05 if k in ("Re", "Ie") else 1.0) for k, v in values.items()}
    model = Model("g", "sersic galaxy model", target=target, n={"value": 1.0, "fixed": True}, **start)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureWarning)
        return bp.fit.LM(model).fit()


def test_a_fit_of_an_unresolved_profile_lists_it_among_its_issues() -> None:
    thin = _fit(THIN)
    assert thin.success and thin.model.parameters["q"].value < 0.15  # converged, and still edge-on
    assert len(thin.issues) == 1 and thin.issues[0].startswith("pixel integration of g uncertain")
    assert "issue: pixel integration of g" in str(thin)
    resolved = _fit(ROUND)
    assert resolved.success and resolved.issues == []


def test_a_catalog_flags_the_unresolved_source_only() -> None:
    from bayesphot.catalog.choose import SourceStart
    from bayesphot.catalog.fitgroup import GroupTask, fit_group
    from bayesphot.catalog.groups import Group, Source
    from bayesphot.image.window import Window

    data = _image(THIN, ROUND)
    whole = Window(0, SIZE, 0, SIZE)
    group = Group(1, [Source(1, THIN["x"], THIN["y"], whole), Source(2, ROUND["x"], ROUND["y"], whole)], whole)
    starts = [SourceStart(THIN["x"], THIN["y"], 60.0, q=0.15, PA=0.6), SourceStart(ROUND["x"], ROUND["y"], 900.0)]
    task = GroupTask(group, data, np.full(data.shape, 0.25), np.zeros(data.shape, bool), None, 1.0, None, starts,
                     CatalogSettings(types=("exp",), draws=200))
    result = fit_group(task)
    assert not result.failed, result.message
    thin, resolved = result.rows
    assert thin["q_q50"] < 0.2  # the fit kept the disk edge-on
    assert thin["flags"] & FLAGS["QUADRATURE"]
    assert "pixel rule of s1 uncertain" in thin["flag_reasons"]
    assert not resolved["flags"] & FLAGS["QUADRATURE"]
    assert "pixel rule" not in resolved["flag_reasons"]
