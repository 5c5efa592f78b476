"""Compile once per structure, batched NUTS over many objects, and a sound start at a limit."""

from __future__ import annotations

import math
import warnings

import arviz as az
import numpy as np
import pytest
from test_infer_numpyro import linear_problem

import bayesphot as bp
from bayesphot import structure
from bayesphot.infer import start as start_module
from bayesphot.infer.mode import AT_LIMIT
from bayesphot.infer.slices import padded_slices
from bayesphot.program import Program
from bayesphot.render import QuadratureConfig

CHEAP = QuadratureConfig(block=0, mid_block=0)


class CompileCounter:
    """Counts XLA compilations (and persistent-cache loads) while active."""

    def __init__(self) -> None:
        import jax.monitoring

        self.count = 0
        self.active = False

        def on_duration(event: str, duration: float, **kwargs: object) -> None:
            if self.active and event == "/jax/core/compile/backend_compile_duration":
                self.count += 1

        def on_event(event: str, **kwargs: object) -> None:
            if self.active and event == "/jax/compilation_cache/cache_hits":
                self.count += 1

        jax.monitoring.register_event_duration_secs_listener(on_duration)
        jax.monitoring.register_event_listener(on_event)


def stamp(seed: int, x: float, y: float, size: int = 16) -> bp.Model:
    """A fresh target and a fresh sky + Sérsic group (new objects every call)."""
    truth = {"x": x, "y": y, "q": 0.6, "PA": 0.4, "n": 1.5, "Re": 2.5, "Ie": 30.0}
    blank = bp.TargetImage(np.zeros((size, size)))
    image = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, quadrature=CHEAP, **truth).render())
    rng = np.random.default_rng(seed)
    target = bp.TargetImage(5.0 + image + rng.normal(0.0, 2.0, image.shape), variance=np.full(image.shape, 4.0))
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=CHEAP)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group.initialize()
    return group


def test_second_model_of_the_same_structure_compiles_nothing() -> None:
    counter = CompileCounter()
    settings = {"chains": 2, "warmup": 30, "draws": 30, "progress": False}
    first = stamp(1, 7.4, 8.2)
    bp.fit.LM(first).fit()
    bp.infer.NUTS(first, seed=1, **settings).run()

    second = stamp(2, 8.3, 6.9)  # other data, other target object, other position and limits
    counter.active = True
    fit = bp.fit.LM(second).fit()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        post = bp.infer.NUTS(second, seed=2, **settings).run()
    counter.active = False
    assert fit.success
    assert counter.count == 0
    # and the shared code computed the second object's own numbers: its density equals a fresh, unshared trace
    program = Program(second, priors=bp.models.default_priors(second))
    u = program.free.unconstrained()
    lowered = program.lower("log_density")
    assert float(lowered(u)) == pytest.approx(float(program.log_density(u)), rel=1e-12)
    assert abs(post.mean("gal:x") - 8.3) < 5 * post.sd("gal:x")


def test_lowering_separates_numbers_from_structure() -> None:
    a, b = stamp(3, 7.0, 8.0), stamp(4, 9.5, 6.0)
    pa, pb = Program(a), Program(b)
    la, lb = pa.lower("log_density"), pb.lower("log_density")
    assert la.key == lb.key
    u = pb.free.unconstrained()
    # b's numbers through the evaluator shared with a give b's density, not a's
    assert float(la.evaluator()(lb.params, u)) == pytest.approx(float(pb.log_density(u)), rel=1e-12)
    assert float(la(u)) != pytest.approx(float(lb(u)), rel=1e-6)
    # another structure (a fixed parameter) gets another key
    b["gal:n"].fixed = True
    assert Program(b).lower("log_density").key != la.key


@pytest.mark.parametrize(("vectorised", "memory_gb"), [(False, None), (True, None), (True, "0.045")],
                         ids=["chain-by-chain", "one-program", "slices-of-two"])
def test_batched_nuts_recovers_exact_linear_gaussian_posteriors(vectorised: bool, memory_gb: str | None,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Both ways of sampling a batch: chain by chain in threads (a CPU) and one vectorised program
    (an accelerator; forced here), the latter also in memory slices."""
    from bayesphot.infer import _numpyro

    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: vectorised)
    if memory_gb is not None:  # a memory budget for two objects per program: slices of 2, the last padded
        monkeypatch.setenv("BAYESPHOT_BATCH_GB", memory_gb)
        assert _numpyro.batch_size(16 * 16, 2) == 2
        assert _numpyro.batch_size(16 * 16, 5) == 1  # the chains' start potentials (2k + 1 = 5): one by one
    problems = [linear_problem(seed) for seed in (4, 5, 6)]
    groups = [p[0] for p in problems]
    posts = bp.infer.NUTS(groups, chains=2, warmup=300, draws=1500, seed=3, progress=False, priors=None).run()
    assert len(posts) == 3
    names = ["sky:I", "src:flux"]
    for (group, mean, cov), post in zip(problems, posts, strict=True):
        assert post.attrs["batched_objects"] == 3
        mcse = az.mcse(post.idata, var_names=names)
        for i, name in enumerate(names):
            assert abs(post.mean(name) - mean[i]) < 4 * float(mcse[name]), name
            assert post.sd(name) == pytest.approx(math.sqrt(cov[i, i]), rel=0.08), name
            assert float(group[name].value) == pytest.approx(post.mean(name))  # written back
        assert post.ok, post.issues
    # the three objects differ (each used its own data)
    assert len({round(p.mean("src:flux"), 3) for p in posts}) == 3


def test_a_batch_pinned_to_the_cpu_runs_chain_by_chain_on_an_accelerator_machine(monkeypatch) -> None:
    """The device in effect decides, not JAX's default: NUTS([...], device="cpu") on a GPU machine must not
    vectorise (a CPU computes every lane of the deepest tree)."""
    import jax

    from bayesphot.infer import _numpyro

    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert _numpyro.vectorise_objects()
    with bp.backend.using("jax", device="cpu"):
        assert not _numpyro.vectorise_objects()


def test_batch_memory_is_half_the_accelerators_unless_set(monkeypatch) -> None:
    """On an accelerator a vectorised batch may take half the memory JAX reports (an 80 GB GPU is not
    held to the CPU's 4 GB); BAYESPHOT_BATCH_GB overrides; a CPU keeps 4 GB."""
    import jax

    from bayesphot.infer import _numpyro

    class Device:
        def memory_stats(self) -> dict:
            return {"bytes_limit": 64e9}

    monkeypatch.delenv("BAYESPHOT_BATCH_GB", raising=False)
    monkeypatch.setattr(jax, "devices", lambda *a: [Device()])
    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: True)
    assert _numpyro.batch_memory() == 32e9
    # 64² stamps, 4 chains, at least 10 MB a lane (2 kB a pixel would be 8.2 MB): 800 objects per program;
    # the start search's 2k + 1 = 17 points per object: 188; 1024² images: 2 GB a lane
    assert _numpyro.batch_size(64 * 64, 4) == 800
    assert _numpyro.batch_size(64 * 64, 17) == 188
    assert _numpyro.batch_size(1024 * 1024, 4) == 3
    # NUTS lanes step in lockstep: at most 100 stamps of 64² × 4 chains per program (measured on an H100)
    assert _numpyro.nuts_batch_size(64 * 64, 4) == 100
    assert _numpyro.nuts_batch_size(16 * 16, 4) == 800  # memory binds before the lanes' cap (1600)
    # lanes that step independently: memory alone, their records (on the device) counted
    assert _numpyro.nuts_batch_size(64 * 64, 4, independent_lanes=True) == 800
    assert _numpyro.nuts_batch_size(64 * 64, 4, independent_lanes=True, record_bytes=10_000_000) == 400
    assert [real for _, real in padded_slices(1000, 976)] == [500, 500]
    assert [len(index) for index, _ in padded_slices(7, 3)] == [3, 3, 3]
    # the device in effect decides, not JAX's default
    small = Device()
    small.memory_stats = lambda: {"bytes_limit": 16e9}
    monkeypatch.setattr(bp.backend.Backend, "_jax_device", lambda self: small if self.device else None)
    with bp.backend.using("jax", device="cuda:1"):
        assert _numpyro.batch_memory() == 8e9
    assert _numpyro.batch_memory() == 32e9
    monkeypatch.setenv("BAYESPHOT_BATCH_GB", "8")
    assert _numpyro.batch_memory() == 8e9
    monkeypatch.delenv("BAYESPHOT_BATCH_GB")
    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: False)
    assert _numpyro.batch_memory() == 4e9


def test_pointwise_log_likelihoods_of_a_list_count_the_pixels_of_all_its_objects() -> None:
    """Each object alone is within the limit, the two together are not: totals per draw, which equal
    the log-likelihood recomputed at the draw."""
    groups = [linear_problem(seed)[0] for seed in (4, 5)]
    pixels = Program(groups[0]).n_pixels
    draws = 20
    kwargs = dict(chains=1, warmup=20, draws=draws, seed=3, progress=False, priors=None)
    posts = bp.infer.NUTS(groups, pointwise_limit=2 * draws * pixels - 1, **kwargs).run()
    names = ["sky:I", "src:flux"]
    for group, post in zip(groups, posts, strict=True):
        assert "obs" not in post.idata.log_likelihood
        program = Program(group)
        u = program.to_unconstrained({n: post.idata.posterior[n].values[0, 7] for n in names})
        stored = float(post.idata.log_likelihood["obs_total"].values[0, 7])
        assert stored == pytest.approx(float(program.log_likelihood(u)), rel=1e-9)
    posts = bp.infer.NUTS(groups, pointwise_limit=2 * draws * pixels, **kwargs).run()
    assert all(post.idata.log_likelihood["obs"].shape == (1, draws, pixels) for post in posts)


def test_batched_nuts_rejects_a_repeated_object() -> None:
    group = linear_problem(4)[0]
    with pytest.raises(bp.errors.FitError, match="twice"):
        bp.infer.NUTS([group, group], chains=1, warmup=10, draws=10, progress=False).run()


def piled_up_at_limit() -> bp.Model:
    """n = 4 at the upper limit of (0.5, 4): with this noise the MAP sits on the limit."""
    truth = {"x": 7.4, "y": 8.2, "q": 0.6, "PA": 0.3, "n": 4.0, "Re": 2.0, "Ie": 10.0}
    blank = bp.TargetImage(np.zeros((16, 16)))
    image = np.asarray(bp.Model("t", "sersic galaxy model", target=blank, quadrature=CHEAP, **truth).render())
    rng = np.random.default_rng(2)
    target = bp.TargetImage(5.0 + image + rng.normal(0.0, 2.0, image.shape), variance=np.full(image.shape, 4.0))
    sky = bp.Model("sky", "flat sky model", target=target)
    gal = bp.Model("gal", "sersic galaxy model", target=target, quadrature=CHEAP)
    group = bp.Model("g", "group", models=[sky, gal], target=target)
    group["gal:n"].limits = (0.5, 4.0)
    group.initialize()
    return group


def test_start_moves_off_a_limit_to_the_mode_of_the_sampled_density() -> None:
    group = piled_up_at_limit()
    fit = bp.fit.LM(group).fit()
    assert "gal:n" in fit.at_limit  # the test has teeth: the MAP is on the limit
    program = Program(group)
    u_map = program.free.unconstrained()
    i = program.free.names.index("gal:n")
    assert u_map[i] > 15  # dn/du ≈ 0 there
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        old = start_module.prepare(group, program, fit=False, refine=False)
    start = start_module.prepare(group, program, fit=False)
    assert abs(start.u[i]) < AT_LIMIT
    lowered = program.lower("log_density")
    assert float(lowered(start.u)) > float(lowered(u_map)) + 5.0  # a far better point of the sampled density
    assert np.linalg.cond(start.inverse_mass_matrix) < 1e6 < np.linalg.cond(old.inverse_mass_matrix)
    assert not start.adapt and start.notes == ()
    post = bp.infer.NUTS(group, chains=2, warmup=150, draws=200, seed=4, progress=False, priors=None,
                         fit=False).run()
    assert int(post.idata.sample_stats["diverging"].sum()) <= 4
    rhat = az.rhat(post.idata, var_names=post.names)
    assert max(float(rhat[n].values) for n in post.names) < 1.05
    draws_n = post.draws("gal:n")
    assert draws_n.max() <= 4.0 and np.mean(draws_n > 3.0) > 0.3  # mass piled towards the limit, inside it


def test_a_start_whose_curvature_is_not_trusted_adapts_the_mass_matrix() -> None:
    group = stamp(5, 7.4, 8.2)
    program = Program(group)
    start = start_module.Start(u=program.free.unconstrained(), inverse_mass_matrix=np.eye(program.free.size),
                               source="test", adapt=True, notes=("the mode sits at a limit of gal:n",))
    sampler = bp.infer.NUTS(group, chains=1, warmup=20, draws=20, progress=False, fit=False)
    original = start_module.prepare
    try:
        bp.infer.samplers.prepare = lambda *args, **kwargs: start
        with pytest.warns(bp.infer.SamplingWarning, match="adapted during a warm-up of 400"):
            post = sampler.run()
    finally:
        bp.infer.samplers.prepare = original
    assert post.attrs["mass_matrix"] == "laplace+adapted"
    assert post.attrs["warmup_run"] == 400


def test_structure_cache_directory_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BAYESPHOT_JAX_CACHE", "0")
    assert structure.cache_directory() is None
    monkeypatch.setenv("BAYESPHOT_JAX_CACHE", "1")
    monkeypatch.setenv("BAYESPHOT_CACHE_DIR", "/tmp/bp-cache-test")
    assert str(structure.cache_directory()) == "/tmp/bp-cache-test"


def test_posterior_predictive_check_flags_a_misfit(tmp_path) -> None:
    group, _, _ = linear_problem(7)
    post = bp.infer.NUTS(group, chains=1, warmup=150, draws=300, seed=5, progress=False, priors=None).run()
    attrs = post.attrs
    program = Program(group)
    # independent: χ² of a few draws straight from the program, averaged, against the stored statistic
    names = program.free.names
    chi2 = [float(program.chi2(program.to_unconstrained({n: post.idata.posterior[n].values[0, i] for n in names})))
            for i in range(0, 300, 30)]
    assert attrs["ppc_chi2_ndf"] == pytest.approx(np.mean(chi2) / program.n_pixels, rel=0.02)
    assert 0.8 < attrs["ppc_chi2_ndf"] < 1.25 and attrs["ppc_p_value"] > 1e-3
    assert post.misfit is None and "model check OK" in bp.report.verdict(post)
    # the same data with its noise understated by 2: χ²/ndf ≈ 4, reported as a misfit
    data = np.asarray(group.target.data)
    target = bp.TargetImage(data, variance=np.full(data.shape, 1.0))
    sky = bp.Model("sky", "flat sky model", target=target)
    src = bp.Model("src", "gaussian galaxy model", target=target, quadrature=CHEAP,
                   **{k: {"value": float(group[f"src:{k}"].value), "fixed": True}
                      for k in ("x", "y", "q", "PA", "sigma")})
    wrong = bp.Model("g", "group", models=[sky, src], target=target)
    wrong.initialize()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bad = bp.infer.NUTS(wrong, chains=1, warmup=150, draws=300, seed=5, progress=False, priors=None).run()
    assert bad.attrs["ppc_chi2_ndf"] > 3.0
    # reported apart from the sampler's diagnostics, in the verdict and after a netCDF round trip
    assert bad.misfit is not None and "misfit" in bad.misfit
    assert "model check: MISFIT" in bp.report.verdict(bad)
    path = tmp_path / "bad.nc"
    bad.to_netcdf(path)
    assert bp.infer.Posterior.from_netcdf(path).misfit == bad.misfit


def test_ctrl_c_during_sampling_keeps_the_draws_so_far(monkeypatch: pytest.MonkeyPatch) -> None:
    from bayesphot.infer import _numpyro

    original = _numpyro._runners
    calls = {"n": 0}

    def interrupting(*args: object, **kwargs: object) -> tuple:
        init_fn, advance_fn = original(*args, **kwargs)

        def advance(state: object, params: object) -> object:
            calls["n"] += 1
            if calls["n"] == 8:  # chunks of 30 iterations: 100 warm-up + 110 draws done
                raise KeyboardInterrupt
            return advance_fn(state, params)

        return init_fn, advance

    monkeypatch.setattr(_numpyro, "_runners", interrupting)
    group = linear_problem(4)[0]
    with pytest.warns(bp.infer.SamplingWarning, match="interrupted"):
        post = bp.infer.NUTS(group, chains=1, warmup=100, draws=200, seed=1, progress=False, priors=None).run()
    assert post.draws("sky:I").size == 110
    assert post.issues[0] == "interrupted: 110 of 200 draws per chain" and not post.ok


@pytest.mark.parametrize(("vectorised", "memory_gb"), [(False, None), (True, "0.045")],
                         ids=["chain-by-chain", "slices-of-two"])
def test_ctrl_c_in_a_batch_keeps_the_objects_sampled_in_full(vectorised: bool, memory_gb: str | None,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the third of three objects samples: the first two come back complete (and agree with
    the exact linear-Gaussian posterior), the third is None with its model unchanged, and a warning says so.
    Chain by chain (a CPU) and in vectorised slices of two (an accelerator; forced here), where the
    interrupted slice holds the third object."""
    import threading

    from bayesphot.infer import _numpyro, lanes

    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: vectorised)
    if memory_gb is not None:
        monkeypatch.setenv("BAYESPHOT_BATCH_GB", memory_gb)
    # chain by chain: numpyro's kernel, one runner; vectorised: the lanes' program, fetched once a slice
    module, name = (lanes, "_programs") if vectorised else (_numpyro, "_runners")
    original = getattr(module, name)
    seen: list[int] = []
    lock = threading.Lock()

    def interrupting(*args: object, **kwargs: object) -> tuple:
        init_fn, advance_fn = original(*args, **kwargs)
        runner = len(seen)

        def advance(state: object, params: object, *more: object) -> object:
            with lock:  # chain by chain: objects in order of their first step; vectorised: one runner a slice
                key = id(params) if not vectorised else runner
                if key not in seen:
                    seen.append(key)
                third = seen.index(key) == (2 if not vectorised else 1)
            if third:
                raise KeyboardInterrupt
            return advance_fn(state, params, *more)

        if vectorised:
            seen.append(runner)
        return init_fn, advance

    monkeypatch.setattr(module, name, interrupting)
    problems = [linear_problem(seed) for seed in (4, 5, 6)]
    groups = [p[0] for p in problems]
    before = float(groups[2]["src:flux"].value)
    with pytest.warns(bp.infer.SamplingWarning, match="interrupted .* 2 of 3 objects sampled"):
        posts = bp.infer.NUTS(groups, chains=2, warmup=200, draws=600, seed=3, progress=False, priors=None).run()
    assert len(posts) == 3 and posts[2] is None
    assert float(groups[2]["src:flux"].value) == before
    for (group, mean, _cov), post in zip(problems[:2], posts[:2], strict=True):
        assert post.draws("src:flux").size == 2 * 600 and post.ok, post.issues
        mcse = az.mcse(post.idata, var_names=["src:flux"])
        assert abs(post.mean("src:flux") - mean[1]) < 4 * float(mcse["src:flux"])
        assert float(group["src:flux"].value) == pytest.approx(post.mean("src:flux"))  # written back


def test_an_object_released_by_the_vectorised_program_is_sampled_again_adapting(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A vectorised program (forced) releases the middle one of three objects as a straggler (forced, at its
    first check): that object is sampled again in the adapting program and still agrees with its exact
    linear-Gaussian posterior; the other two keep the first program's draws."""
    from bayesphot.infer import _numpyro, lanes

    monkeypatch.setattr(_numpyro, "vectorise_objects", lambda: True)
    calls: list[int] = []

    def release_the_middle_one(iterations: np.ndarray, *args: object, **kwargs: object) -> np.ndarray:
        calls.append(iterations.shape[0])
        return np.array([1]) if len(calls) == 1 else np.zeros(0, dtype=np.int64)

    monkeypatch.setattr(lanes, "stragglers", release_the_middle_one)
    problems = [linear_problem(seed) for seed in (4, 5, 6)]
    posts = bp.infer.NUTS([p[0] for p in problems], chains=2, warmup=300, draws=1500, seed=3, progress=False,
                          priors=None).run()
    assert calls and all(post is not None for post in posts)
    assert [bool(post.attrs.get("lagged")) for post in posts] == [False, True, False]
    assert [str(post.attrs["mass_matrix"]) for post in posts] == ["laplace", "laplace+adapted", "laplace"]
    assert "program_steps" in posts[0].attrs and "program_steps" not in posts[1].attrs
    for (_group, mean, cov), post in zip(problems, posts, strict=True):
        mcse = az.mcse(post.idata, var_names=["src:flux"])
        assert abs(post.mean("src:flux") - mean[1]) < 4 * float(mcse["src:flux"])
        assert post.sd("src:flux") == pytest.approx(math.sqrt(cov[1, 1]), rel=0.08)
        assert post.ok, post.issues
