"""Parameters: limits, cyclic wrapping, display, and the transforms' bijection and Jacobian."""

from __future__ import annotations

import math

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import ParameterError
from bayesphot.params import Transform

TRANSFORMS = {
    "interval": Transform(0.3, 8.0),
    "lower": Transform(0.0, None),
    "upper": Transform(None, 5.0),
    "cyclic": Transform(0.0, math.pi, cyclic=True),
    "identity": Transform(),
}
# values inside each transform's domain
X_VALUES = {
    "interval": [0.31, 1.0, 4.2, 7.99],
    "lower": [1e-4, 0.5, 30.0],
    "upper": [-20.0, 0.0, 4.999],
    "cyclic": [0.0, 0.3272, 3.1],
    "identity": [-3.0, 0.0, 2.5],
}
U_VALUES = [-8.0, -1.3, 0.0, 0.7, 6.0]


def test_kinds() -> None:
    assert {name: t.kind for name, t in TRANSFORMS.items()} == {name: name for name in TRANSFORMS}


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
@pytest.mark.parametrize("kind", list(TRANSFORMS))
def test_bijective(kind: str, backend_name: str) -> None:
    t = TRANSFORMS[kind]
    with bp.backend.using(backend_name) as be:
        x = be.asarray(X_VALUES[kind])
        np.testing.assert_allclose(bp.backend.to_numpy(t.forward(t.inverse(x))), X_VALUES[kind], rtol=1e-10,
                                   atol=1e-12)
        u = be.asarray(U_VALUES)
        if kind != "cyclic":  # cyclic u is defined modulo the period
            np.testing.assert_allclose(bp.backend.to_numpy(t.inverse(t.forward(u))), U_VALUES, rtol=1e-8,
                                       atol=1e-8)
        else:
            xs = bp.backend.to_numpy(t.forward(u))
            assert np.all((xs >= 0) & (xs < math.pi))
            np.testing.assert_allclose(np.cos(2 * xs), np.cos(2 * np.asarray(U_VALUES)), atol=1e-12)


def _autodiff_derivative(t: Transform, backend_name: str, u: float) -> float:
    with bp.backend.using(backend_name) as be:
        f = lambda v: t.forward(v)
        return float(bp.backend.to_numpy(be.grad(f)(be.asarray(u))))


@pytest.mark.parametrize("backend_name", ["jax", "torch"])
@pytest.mark.parametrize("kind", list(TRANSFORMS))
def test_log_abs_det_jacobian(kind: str, backend_name: str) -> None:
    t = TRANSFORMS[kind]
    for u in U_VALUES:
        deriv = _autodiff_derivative(t, backend_name, u)
        with bp.backend.using(backend_name) as be:
            ladj = float(bp.backend.to_numpy(t.log_abs_det_jacobian(be.asarray(u))))
            np.testing.assert_allclose(float(bp.backend.to_numpy(t.derivative(be.asarray(u)))), deriv, rtol=1e-10)
        assert ladj == pytest.approx(math.log(abs(deriv)), rel=1e-9, abs=1e-12)
    # vector u: the sum over elements
    with bp.backend.using(backend_name) as be:
        u = be.asarray(U_VALUES)
        total = float(bp.backend.to_numpy(t.log_abs_det_jacobian(u)))
    expected = sum(math.log(abs(_autodiff_derivative(t, backend_name, v))) for v in U_VALUES)
    assert total == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("kind", ["interval", "lower", "upper"])
def test_log_abs_det_jacobian_finite_difference(kind: str) -> None:
    t = TRANSFORMS[kind]
    with bp.backend.using("torch") as be:
        for u in U_VALUES:
            h = 1e-5
            fd = float(t.forward(be.asarray(u + h)) - t.forward(be.asarray(u - h))) / (2 * h)
            ladj = float(t.log_abs_det_jacobian(be.asarray(u)))
            assert ladj == pytest.approx(math.log(abs(fd)), abs=1e-6)


def test_interval_jacobian_stable_in_tails() -> None:
    t = TRANSFORMS["interval"]
    with bp.backend.using("jax") as be:
        out = bp.backend.to_numpy(t.log_abs_det_jacobian(be.asarray([800.0])))
    assert np.isfinite(out) and out == pytest.approx(math.log(7.7) - 800.0)


def test_str_reads_like_the_design() -> None:
    pa = bp.Parameter("PA", 0.1558, units="rad", limits=(0.0, math.pi), cyclic=True, uncertainty=0.0021)
    assert str(pa) == "PA: 0.1558 ± 0.0021 rad [0, π) cyclic"
    n = bp.Parameter("n", 2.0, limits=(0.36, 10.0), fixed=True)
    assert str(n) == "n: 2 [0.36, 10] fixed"
    assert str(bp.Parameter("Re", units="arcsec", limits=(0.0, None))) == "Re: unset arcsec [0, ∞)"
    vec = bp.Parameter("logI", [1.0, 0.5], uncertainty=[0.01, 0.2])
    assert str(vec) == "logI: [1.000 ± 0.010, 0.50 ± 0.20]"


def test_value_outside_limits_raises() -> None:
    with pytest.raises(ParameterError, match=r"q.*above its upper limit"):
        bp.Parameter("q", 1.5, limits=(0.0, 1.0))
    q = bp.Parameter("q", 0.5, limits=(0.0, 1.0))
    with pytest.raises(ParameterError, match="below its lower limit"):
        q.value = -0.1
    assert float(q) == 0.5  # unchanged by the rejected value
    with pytest.raises(ParameterError, match="not finite"):
        q.value = np.nan
    with pytest.raises(ParameterError, match="not below upper"):
        bp.Parameter("bad", limits=(2.0, 1.0))
    with pytest.raises(ParameterError, match="cyclic parameter needs both limits"):
        bp.Parameter("PA", cyclic=True, limits=(0.0, None))


def test_cyclic_wraps() -> None:
    pa = bp.Parameter("PA", limits=(0.0, math.pi), cyclic=True)
    pa.value = math.pi + 0.25
    assert float(pa) == pytest.approx(0.25)
    pa.value = -0.25
    assert float(pa) == pytest.approx(math.pi - 0.25)
    pa.value = math.pi
    assert float(pa) == pytest.approx(0.0)
    pa.value = [7.0, -7.0]
    np.testing.assert_allclose(pa.value, np.mod([7.0, -7.0], math.pi))


def test_user_set_and_interior_value() -> None:
    p = bp.Parameter("q", limits=(0.0, 1.0))
    assert not p.user_set and p.value is None
    with pytest.raises(ParameterError, match="no value"):
        p.interior_value()
    p.set_value(1.0, user=True)
    assert p.user_set
    assert 0.0 < float(p.interior_value()) < 1.0
    assert np.isfinite(float(p.transform.inverse(p.interior_value())))


def test_dict_round_trip() -> None:
    p = bp.Parameter("n", [1.0, 2.0], units="", limits=(0.3, 8.0), fixed=True,
                     prior=bp.priors.Uniform(0.3, 8.0), uncertainty=[0.1, 0.2])
    q = bp.Parameter("n")
    q.update_from_dict(p.to_dict())
    assert q.to_dict() == p.to_dict()
    assert q.prior == bp.priors.Uniform(0.3, 8.0)
    assert str(q) == str(p)
