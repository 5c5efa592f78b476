"""A batch of auto-quadrature models gets one rule, so it lowers to one structure (one compiled program)."""

from __future__ import annotations

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.errors import ModelError
from bayesphot.models.shared_quadrature import common_rule, finest, shared_quadrature, split_outliers
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig, quadrature_evaluations
from bayesphot.render.choose import REFERENCE_QUADRATURE


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
    assert all(s.models["gal"].auto_quadrature for s in stamps)   # the users' setting is back
    # the shared rule renders every object within the budget (1e-4 of the peak) of the reference rule,
    # at the object's own position, and costs no more than the componentwise finest of their own rules
    rule = chosen["gal"]
    for stamp in stamps:
        assert _peak_error(stamp.models["gal"], rule) <= 1e-4
    shape = (24, 24)
    assert quadrature_evaluations(rule, shape) <= quadrature_evaluations(finest(own), shape)


def _peak_error(gal: bp.Model, rule: QuadratureConfig) -> float:
    with bp.backend.using("torch"):
        gal.quadrature = rule
        image = np.asarray(gal.render())
        gal.quadrature = REFERENCE_QUADRATURE
        reference = np.asarray(gal.render())
        gal.quadrature = "auto"
    return float(np.max(np.abs(image - reference)) / np.max(reference))


def test_a_common_rule_can_be_cheaper_than_the_finest_of_own_rules() -> None:
    """Two objects whose own rules combine tier by tier into a rule costlier than either.

    The common rule meets the budget for both against the reference rule (1e-4 of the peak).
    """
    stamps = [_stamp(3.0, 2.0, 0.6), _stamp(2.5, 1.2, 0.45)]
    leaves = [s.models["gal"] for s in stamps]
    own = [leaf.quadrature for leaf in leaves]
    common = common_rule(leaves)
    shape = (24, 24)
    assert common is not None
    assert quadrature_evaluations(common, shape) < quadrature_evaluations(finest(own), shape)
    for leaf in leaves:
        assert _peak_error(leaf, common) <= 1e-4


def test_an_outlier_gets_a_group_of_its_own_and_the_rest_a_cheaper_rule() -> None:
    ordinary = [_stamp(3.0, 2.0, 0.6), _stamp(3.2, 1.8, 0.65), _stamp(2.8, 2.2, 0.6), _stamp(3.1, 2.0, 0.55)]
    outlier = _stamp(1.2, 4.0, 0.35)  # Re 1.2 px, n 4: its own rule is the reference rule
    stamps = [*ordinary[:2], outlier, *ordinary[2:]]
    groups = split_outliers(stamps)
    assert groups == [[0, 1, 3, 4], [2]]
    with shared_quadrature(stamps, groups):
        rules = [s.models["gal"].quadrature for s in stamps]
    shape = (24, 24)
    assert len({rules[i] for i in groups[0]}) == 1
    assert quadrature_evaluations(rules[0], shape) * 3 < quadrature_evaluations(rules[2], shape)
    for i, stamp in enumerate(stamps):  # every object within the budget of the reference rule
        assert _peak_error(stamp.models["gal"], rules[i]) <= 1e-4
    assert split_outliers(ordinary) == [[0, 1, 2, 3]]  # nothing to set apart


def test_groups_must_partition_the_models() -> None:
    stamps = [_stamp(3.0, 2.0, 0.6), _stamp(3.2, 1.8, 0.65)]
    for groups in ([[0]], [[0, 1], [1]], [[0, 2]]):
        with pytest.raises(ModelError, match="exactly once"):
            with shared_quadrature(stamps, groups):
                pass


def test_a_component_only_an_outlier_has_does_not_break_the_split() -> None:
    ordinary = [_stamp(3.0, 2.0, 0.6), _stamp(3.2, 1.8, 0.65), _stamp(2.8, 2.2, 0.6), _stamp(3.1, 2.0, 0.55)]
    outlier = _stamp(1.2, 4.0, 0.35)
    target = outlier.models["gal"].target
    extra = bp.Model("star", "sersic galaxy model", target=target, x=5.2, y=6.1, q=0.8, PA=0.1, n=1.0,
                     Re=2.0, Ie=3.0)
    lopsided = bp.Model("g", "group", models=[*outlier.models.values(), extra], target=target)
    groups = split_outliers([*ordinary, lopsided])
    assert sorted(i for g in groups for i in g) == [0, 1, 2, 3, 4]
    assert groups[0] == [0, 1, 2, 3]


def test_a_narrow_object_in_a_batch_flags_itself_not_the_others() -> None:
    """One edge-on object (q = 0.1, Re = 1.1 pixels: narrower than the pixel rules resolve) among three
    resolved ones: the shared rule is chosen with it among the extremes and carries its resolution error;
    each object is then checked on its own under that rule, so the narrow one's components report the
    error (≥ the 1e-4 budget) and the others none.  They still share one rule and one structure."""
    import warnings

    from bayesphot.errors import QuadratureWarning
    from bayesphot.models.resolution import quadrature_issues

    stamps = [_stamp(3.0, 2.0, 0.6), _stamp(2.5, 1.5, 0.7), _stamp(3.5, 2.5, 0.5), _stamp(1.1, 2.2, 0.1)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", QuadratureWarning)
        with bp.backend.using("jax"), shared_quadrature(stamps):
            rules = [s.models["gal"].quadrature for s in stamps]
            issues = [quadrature_issues(s) for s in stamps]
            keys = {Program(s).lower("log_density").key for s in stamps}
    assert len(set(rules)) == 1 and len(keys) == 1
    assert rules[-1].resolution_error > 1e-4 and all(r.resolution_error == 0.0 for r in rules[:-1])
    assert issues[:-1] == [[], [], []] and len(issues[-1]) == 1 and "gal" in issues[-1][0]


def test_an_object_between_the_extremes_is_held_to_the_budget_too() -> None:
    """A shared rule is chosen on the batch's extreme objects, but an object between them in every
    parameter can need more: here an elongated n = 2.75 profile, when the most elongated object has
    n = 1 and the steepest (n = 3) is nearly round.  The rule chosen on the extremes alone renders it
    beyond the search's tolerance (measured 8.1e-5 of its peak, tolerance 5e-5); the shared rule, checked
    on every object, keeps it within, and is still one rule for all three."""
    from bayesphot.models.base import choice_backend
    from bayesphot.models.shared_quadrature import _extremes
    from bayesphot.render.choose import DEFAULT_TOLERANCE, budget_error

    def galaxy(**values: float) -> bp.Model:
        return bp.Model("g", "sersic galaxy model", target=bp.TargetImage(np.zeros((64, 64))), **values)

    between = galaxy(x=31.6, y=31.4, q=0.44, PA=1.0, n=2.75, Re=5.0, Ie=10.0)
    models = [between, galaxy(x=31.2, y=31.1, q=0.40, PA=0.6, n=1.0, Re=5.5, Ie=8.0),
              galaxy(x=32.0, y=31.9, q=0.90, PA=1.4, n=3.0, Re=4.5, Ie=12.0)]
    assert all(between is not m for m in _extremes(models))

    def error(rule: QuadratureConfig) -> float:
        with choice_backend():
            brightness, center, step = between.choice_profile()
            return budget_error(brightness, center, step, rule)

    assert error(common_rule(models[1:])) > DEFAULT_TOLERANCE   # the extremes' rule: over, for the one between
    with shared_quadrature(models):
        rules = {m.quadrature for m in models}
    # three objects: a program of its own would cost more than the finer rule for all
    assert len(rules) == 1 and error(rules.pop()) <= DEFAULT_TOLERANCE

    # thirty: the one between keeps its own rule (a program of its own), the rest the extremes' cheaper one
    rng = np.random.default_rng(2)
    easy = [galaxy(x=31.6 + rng.uniform(-0.2, 0.2), y=31.5 + rng.uniform(-0.2, 0.2), q=0.7 + rng.uniform(-0.05, 0.05),
                   PA=1.0, n=1.5 + rng.uniform(-0.2, 0.2), Re=5.0, Ie=10.0) for _ in range(27)]
    many = [*models, *easy]
    assert all(between is not m for m in _extremes(many))
    with shared_quadrature(many):
        own, rest = between.quadrature, {m.quadrature for m in many[1:]}
    assert len(rest) == 1 and own not in rest and error(own) <= DEFAULT_TOLERANCE
    shared = rest.pop()
    assert shared == common_rule(models[1:]) and error(shared) > DEFAULT_TOLERANCE
    with choice_backend():
        worst = max(budget_error(*m.choice_profile(), shared) for m in easy)
    assert worst <= DEFAULT_TOLERANCE  # the others are within it

    # where a program costs the whole batch (an accelerator), the thirty share the finer rule instead
    with shared_quadrature(many, program_cost=len(many)):
        rules = {m.quadrature for m in many}
    assert len(rules) == 1 and error(rules.pop()) <= DEFAULT_TOLERANCE


def test_a_program_costs_the_batch_on_an_accelerator(monkeypatch: pytest.MonkeyPatch) -> None:
    from bayesphot.infer import _numpyro, batch
    from bayesphot.models.shared_quadrature import PROGRAM_COST_OBJECTS

    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: True)
    assert batch._program_cost(250) == 250.0
    # a moderate outlier (n 3, Re 2 px) is set apart where a program costs three objects, not where it
    # costs the batch; one whose own rule is the reference rule (test above) is set apart on both
    stamps = [_stamp(3.0, 2.0, 0.6), _stamp(3.2, 1.8, 0.65), _stamp(2.8, 2.2, 0.6), _stamp(3.1, 2.0, 0.55),
              _stamp(2.0, 3.0, 0.5)]
    assert split_outliers(stamps) == [[0, 1, 2, 3], [4]]
    assert split_outliers(stamps, program_cost=batch._program_cost(len(stamps))) == [[0, 1, 2, 3, 4]]
    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: False)
    assert batch._program_cost(250) == PROGRAM_COST_OBJECTS
