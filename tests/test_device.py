"""Every kernel creates its arrays on the input's device.

torch's ``meta`` device holds no data and raises on any operation that mixes
it with a CPU tensor, so rendering, the log-density and its gradient on
``meta`` fail wherever a kernel builds an array on the default device (the bug
that broke torch on CUDA: ``xp.arange`` without ``device=`` in the Sérsic b_n
series).  This runs on machines without a GPU.
"""

from __future__ import annotations

import numpy as np
import pytest
from model_zoo import every_model_type

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
MODELS = every_model_type(GALAXY, (3.3, 3.6), bp.Window(2, 13, 1, 12))


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


@pytest.mark.parametrize("outer_order", [0, 2])
def test_a_base_block_renders_on_meta_device_too(outer_order: int) -> None:
    """The corrected midpoint on a block only (large images) has kernels of its own: the block's samples,
    its weights, its convolution and its scatter-add, and the Laplacian outside it (``outer_order`` 2);
    the 15² images above are too small to use it."""
    from bayesphot.render import QuadratureConfig
    from bayesphot.render.quadrature import uses_base_block

    rule = QuadratureConfig(mid_block=13, mid_order=4, block=3, levels=3, order=3, base_block=25,
                            outer_order=outer_order)
    size = 240 if outer_order else 64
    assert uses_base_block(rule, (size, size))
    target = bp.TargetImage(np.random.default_rng(2).normal(1.0, 0.1, (size, size)), variance=0.01)
    model = bp.Model("g", "sersic galaxy model", target=target, quadrature=rule, x=30.2, y=31.7, q=0.7, PA=0.4,
                     n=1.5, Re=4.0, Ie=1.0)
    program = Program(model)
    u0 = program.free.unconstrained()
    with bp.backend.using("torch", device="meta") as be:
        u = be.asarray(u0)
        image = model.sample_image()
        value = program.log_density(u)
        grad = be.grad(program.log_density)(u)
    assert image.device.type == "meta" and image.shape == (size, size)
    assert value.device.type == "meta" and grad.device.type == "meta" and grad.shape == (u0.size,)
