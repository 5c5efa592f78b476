"""Ctrl-C during ``Iter`` returns a result that says which sub-models were fitted."""

from __future__ import annotations

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.fit import lm as lm_module


def test_interrupted_iter_reports_what_was_fitted(monkeypatch) -> None:
    rng = np.random.default_rng(0)
    target = bp.TargetImage(rng.normal(2.0, 0.1, size=(12, 12)), variance=np.full((12, 12), 0.01))
    sky = bp.Model("sky", "flat sky model", target=target, I=1.0)
    blob = bp.Model("blob", "gaussian galaxy model", target=target, x=6.0, y=6.0, q=0.9, PA=0.1, sigma=1.0,
                    flux=0.5)
    group = bp.Model("g", "group", models=[sky, blob], target=target)
    calls = {"n": 0}
    original = lm_module.LM.fit

    def fit_then_interrupt(self):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(lm_module.LM, "fit", fit_then_interrupt)
    with pytest.warns(RuntimeWarning, match="interrupted"):
        result = bp.fit.Iter(group, progress=False).fit()
    assert not result.success
    assert result.message == "interrupted in cycle 1: fitted sky; never fitted (start values kept): blob"
    assert result.fitted_models == ["sky"]
    assert float(sky["I"].value) == pytest.approx(2.0, abs=0.05)  # the sky was fitted (with the blob fixed)
    assert sky["I"].uncertainty is not None and float(sky["I"].uncertainty) > 0
    assert float(blob["flux"].value) == 0.5 and blob["flux"].uncertainty is None
