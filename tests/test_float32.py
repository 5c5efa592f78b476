"""Float32 (opt-in, for GPU speed) gives the same MAP as float64 within a small fraction of σ."""

from __future__ import annotations

import numpy as np

import bayesphot as bp


def test_float32_map_matches_float64() -> None:
    rng = np.random.default_rng(4)
    shape = (40, 40)
    truth_target = bp.TargetImage(np.zeros(shape), pixelscale=1.0)
    truth = bp.Model("g", "sersic galaxy model", target=truth_target, x=20.2, y=19.6, q=0.6, PA=0.8, n=1.5,
                     Re=5.0, Ie=1.0)
    data = np.asarray(truth.render()) + rng.normal(0.0, 0.1, shape)
    fitted = {}
    for dtype in ("float64", "float32"):
        with bp.backend.using("jax", dtype=dtype):
            target = bp.TargetImage(data, variance=np.full(shape, 0.01), pixelscale=1.0)
            gal = bp.Model("g", "sersic galaxy model", target=target)
            gal.initialize()
            result = bp.fit.LM(gal).fit()
            assert result.success, (dtype, result.message)  # before: float32 never reported success
            fitted[dtype] = {k: (float(p.value), float(p.uncertainty)) for k, p in gal.parameters.items()}
    for name, (value64, sigma64) in fitted["float64"].items():
        value32, sigma32 = fitted["float32"][name]
        assert abs(value32 - value64) < 0.01 * sigma64, name
        assert abs(sigma32 / sigma64 - 1.0) < 1e-3, name
