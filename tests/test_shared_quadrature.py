"""A batch of auto-quadrature models gets one rule, so it lowers to one structure (one compiled program)."""

from __future__ import annotations

import numpy as np

import bayesphot as bp
from bayesphot.models.shared_quadrature import finest, shared_quadrature
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig


def _stamp(re: float, n: float, q: float) -> bp.Model:
    data = np.random.default_rng(0).normal(5.0, 1.0, (24, 24))
    target = bp.TargetImage(data, variance=np.ones((24, 24)))
    sky = bp.Model("sky", "flat sky model", target=target, I=5.0)
    gal = bp.Model("gal", "sersic galaxy model", target=target, x=11.6, y=12.3, q=q, PA=0.3, n=n, Re=re, Ie=10.0)
    return bp.Model("g", "group", models=[sky, gal], target=target)


def test_finest_takes_every_tier_at_its_finest() -> None:
    a = QuadratureConfig(base_order=0, block=2, levels=2, order=3, mid_block=7, mid_order=3)
    b = QuadratureConfig(base_order=3, block=3, levels=4, order=3, mid_block=9, mid_order=4)
    assert finest([a, b]) == QuadratureConfig(base_order=3, block=3, levels=4, order=3, mid_block=9, mid_order=4)


def test_a_batch_shares_one_rule_and_one_structure_then_gets_auto_back() -> None:
    stamps = [_stamp(1.2, 4.0, 0.35), _stamp(6.0, 0.8, 0.9), _stamp(3.0, 2.0, 0.6)]
    own = [s.models["gal"].quadrature for s in stamps]
    assert len(set(own)) > 1                       # alone, they need different rules: different structures
    with bp.backend.using("jax"):
        keys_alone = {Program(s).lower("log_density").key for s in stamps}
        with shared_quadrature(stamps) as chosen:
            rules = {s.models["gal"].quadrature for s in stamps}
            keys = {Program(s).lower("log_density").key for s in stamps}
    assert len(keys_alone) > 1 and len(keys) == 1 and len(rules) == 1
    # the shared rule is at least as fine as what the hardest (extreme) objects need, tier by tier
    rule = chosen["gal"]
    for need in own:
        assert rule.levels >= need.levels and rule.order >= need.order and rule.mid_block >= need.mid_block
        assert rule.base_order >= need.base_order and rule.mid_order >= need.mid_order
    assert all(s.models["gal"].auto_quadrature for s in stamps)   # the users' setting is back
