"""Renders traced once per (class, rule, grid shape), and the structure keys built on them.

References: the torch backend, which renders each object directly (no shared trace),
and each object's own log-density evaluated directly (not through a lowered program).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import bayesphot as bp
from bayesphot import backend, structure
from bayesphot.models.shared_render import _shared, shares_render
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig
from bayesphot.tracing import nested_calls

RULE = QuadratureConfig(levels=3, order=3, mid_block=9, mid_order=3)
CASES = {
    "sersic galaxy model": {"q": 0.6, "PA": 0.4, "n": 2.5, "Re": 2.5, "Ie": 10.0},
    "exponential galaxy model": {"q": 0.7, "PA": 1.1, "Re": 3.0, "Ie": 5.0},
    "gaussian galaxy model": {"q": 0.8, "PA": 2.0, "sigma": 1.7, "flux": 40.0},
    "moffat galaxy model": {"q": 0.9, "PA": 0.2, "n": 2.5, "Rd": 2.0, "I0": 8.0},
}


def _render(name: str, model_type: str, values: dict, window: tuple, x: float, y: float) -> np.ndarray:
    target = bp.TargetImage(np.zeros((40, 44)))
    model = bp.Model("m", model_type, target=target, window=bp.Window(*window), x=x, y=y, quadrature=RULE,
                     **values)
    with backend.using(name):
        return np.asarray(model.render().data)


@pytest.mark.parametrize("model_type", sorted(CASES))
def test_shared_render_equals_each_objects_own_render(model_type: str) -> None:
    """Two objects of one class, rule and window shape, at different places and values: the JAX render
    (one shared trace, the second object a cache hit) equals torch's direct render of each to 1e-12
    of the peak, also with the centre near the window's edge."""
    assert shares_render(bp.models.model_class(model_type))
    values = CASES[model_type]
    before = _shared.cache_info()
    for (window, x, y, scale) in (((2, 26, 3, 23), 14.3, 11.8, 1.0), ((10, 34, 15, 35), 10.6, 16.2, 1.7),
                                    ((10, 34, 15, 35), 33.8, 15.4, 0.5)):
        scaled = {k: (v * scale if k in ("Ie", "flux", "I0") else v) for k, v in values.items()}
        jax_image = _render("jax", model_type, scaled, window, x, y)
        torch_image = _render("torch", model_type, scaled, window, x, y)
        peak = np.max(np.abs(torch_image))
        assert peak > 0
        np.testing.assert_allclose(jax_image, torch_image, rtol=0, atol=1e-12 * peak)
    after = _shared.cache_info()
    assert after.hits > before.hits  # the second object (same class, rule, window shape) reused the first's


def test_a_class_inherits_no_claim_to_a_pure_render() -> None:
    """A subclass (which may add state) shares nothing unless it says so in its own body."""
    sersic = type(bp.Model("s", "sersic galaxy model", target=bp.TargetImage(np.zeros((8, 8)))))
    derived = type("Derived", (sersic,), {})
    assert shares_render(sersic) and not shares_render(derived)
    spline = type(bp.Model("k", "spline galaxy model", target=bp.TargetImage(np.zeros((8, 8))),
                           knots=[0.0, 1.0, 2.0]))
    assert not shares_render(spline)  # its knots are state


def _stamp(seed: int, rule: QuadratureConfig = RULE) -> bp.Model:
    rng = np.random.default_rng(seed)
    target = bp.TargetImage(rng.normal(0.0, 1.0, (24, 24)) + 5.0, variance=np.ones((24, 24)))
    gal = bp.Model("gal", "sersic galaxy model", target=target, x=11.5 + rng.uniform(-1, 1), y=11.5,
                   q=rng.uniform(0.5, 0.9), PA=1.0, n=rng.uniform(1, 3), Re=3.0, Ie=rng.uniform(5, 10),
                   quadrature=rule)
    sky = bp.Model("sky", "flat sky model", target=target, I=5.0)
    return bp.Model("g", "group", models=[sky, gal], target=target)


@pytest.mark.parametrize("nested", [False, True], ids=["inlined", "nested"])
def test_structure_keys_share_numbers_and_separate_structure(nested: bool) -> None:
    """Objects differing only in numbers (data, values, limits) share a key and give their own
    log-density; a different quadrature rule is a different key, whether the shared render is
    inlined or kept a nested call (then only its digest tells the rules apart)."""
    context = nested_calls() if nested else contextlib.nullcontext()
    with backend.using("jax") as be, context:
        programs = [Program(_stamp(seed)) for seed in (1, 2)]
        other = Program(_stamp(3, QuadratureConfig(levels=3, order=4, mid_block=9, mid_order=3)))
        lowered = [p.lower("log_density") for p in (*programs, other)]
        assert lowered[0].key == lowered[1].key
        assert lowered[2].key != lowered[0].key
        for program, low in zip((*programs, other), lowered, strict=True):
            u = be.asarray(program.free.unconstrained())
            direct = float(program.log_density(u))  # this object's own numbers, not through the shared key
            assert float(low(u)) == pytest.approx(direct, rel=1e-12, abs=1e-9)


def test_structure_text_tells_nested_constants_and_wiring_apart() -> None:
    """The key's text separates what JAX's printed jaxpr separates — operand order included — and
    a nested jaxpr's constants by value (the printed jaxpr does not show them)."""
    import jax
    import jax.numpy as jnp

    def text(fn, *args):
        lifted, _ = structure._lift_literals(jax.make_jaxpr(fn)(*args).jaxpr)
        return structure.structure_text(lifted), str(lifted)

    x = jnp.arange(3.0)
    a, b = text(lambda u: u - jnp.sin(u), x), text(lambda u: jnp.sin(u) - u, x)
    assert (a[0] == b[0]) == (a[1] == b[1]) and a[0] != b[0]
    same = text(lambda u: u - jnp.sin(u), x + 1.0)
    assert same[0] == a[0]
    nested = [jax.jit(lambda u, c=c: u * jnp.asarray(np.array([c, 2.0, 3.0])), inline=False) for c in (1.0, 5.0)]
    t0, t1 = text(lambda u: nested[0](u) + 1.0, x), text(lambda u: nested[1](u) + 1.0, x)
    assert t0[0] != t1[0]
