"""Every kernel creates its arrays on the input's device.

torch's ``meta`` device holds no data and raises on any operation that mixes
it with a CPU tensor, so rendering, the log-density and its gradient on
``meta`` fail wherever a kernel builds an array on the default device (the bug
that broke torch on CUDA: ``xp.arange`` without ``device=`` in the Sérsic b_n
series).  This runs on machines without a GPU.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import bayesphot as bp
from bayesphot.program import Program

torch = pytest.importorskip("torch")

SIZE = 15
SCALE = 0.5


def make_target(psf: bool) -> bp.TargetImage:
    r = np.arange(-2, 3, dtype=float)
    kernel = np.exp(-0.5 * np.add.outer(r**2, (0.9 * r) ** 2))
    rng = np.random.default_rng(1)
    return bp.TargetImage(rng.normal(1.0, 0.1, (SIZE, SIZE)), pixelscale=SCALE, variance=0.01,
                          psf=bp.PSFImage(kernel) if psf else None)


GALAXY = {"x": 3.6, "y": 3.4, "q": 0.6, "PA": 0.7}
MODELS: dict[str, Callable[[bp.TargetImage], bp.Model]] = {
    "sersic": lambda t: bp.Model("m", "sersic galaxy model", target=t, n=2.7, Re=1.1, Ie=3.0, **GALAXY),
    "exponential": lambda t: bp.Model("m", "exponential galaxy model", target=t, Re=1.3, Ie=2.0, **GALAXY),
    "gaussian": lambda t: bp.Model("m", "gaussian galaxy model", target=t, sigma=0.8, flux=5.0, **GALAXY),
    "moffat": lambda t: bp.Model("m", "moffat galaxy model", target=t, n=2.5, Rd=0.9, I0=4.0, **GALAXY),
    "spline": lambda t: bp.Model("m", "spline galaxy model", target=t, knots=[0.0, 0.5, 1.2, 2.5, 5.0],
                                 logI=[1.0, 0.6, 0.1, -0.7, -1.5], **GALAXY),
    "point": lambda t: bp.Model("m", "point source", target=t, x=3.3, y=3.6, flux=7.0),
    "flat sky": lambda t: bp.Model("m", "flat sky model", target=t, I=0.3),
    "plane sky": lambda t: bp.Model("m", "plane sky model", target=t, I=0.3, dIdx=0.02, dIdy=-0.01),
    "group": lambda t: bp.Model("m", "group", target=t, models=[
        bp.Model("sky", "plane sky model", I=0.2, dIdx=0.01, dIdy=0.03),
        bp.Model("gal", "sersic galaxy model", window=bp.Window(2, 13, 1, 12), n=1.6, Re=1.0, Ie=2.0, **GALAXY),
        bp.Model("star", "point source", x=2.2, y=5.1, flux=3.0),
    ]),
}


@pytest.mark.parametrize("psf", [False, True], ids=["no-psf", "psf"])
@pytest.mark.parametrize("kind", list(MODELS))
def test_render_log_density_and_gradient_on_meta_device(kind: str, psf: bool) -> None:
    if kind in ("point", "group") and not psf:
        pytest.skip("a point source needs a PSF")
    model = MODELS[kind](make_target(psf))
    program = Program(model)
    u0 = program.free.unconstrained()
    with bp.backend.using("torch", device="meta") as be:
        u = be.asarray(u0)
        image = model.sample_image()
        assert image.device.type == "meta" and image.shape == model.window.shape
        value = program.log_density(u)
        grad = be.grad(program.log_density)(u)
    assert value.device.type == "meta" and value.shape == ()
    assert grad.device.type == "meta" and grad.shape == (u0.size,)


def test_meta_device_catches_a_cpu_array() -> None:
    """The check above can fail: a kernel building a CPU array next to a meta one raises."""
    with bp.backend.using("torch", device="meta") as be:
        x = be.asarray([1.0, 2.0])
        with pytest.raises((RuntimeError, NotImplementedError)):
            _ = x + torch.arange(2, dtype=x.dtype)
