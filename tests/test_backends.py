"""JAX and torch render the same images and the same gradients (to 1e-10 relative).

Every model type is rendered on both backends, PSF-convolved where the model
convolves, and the gradient of Σ image × weights with respect to all of its
parameters is compared.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from model_zoo import every_model_type

import bayesphot as bp
from bayesphot.render import QuadratureConfig

SIZE = 17
SCALE = 0.5
RTOL = 1e-10


def make_target() -> bp.TargetImage:
    r = np.arange(-3, 4, dtype=float)
    psf = np.exp(-0.5 * np.add.outer(r**2, (0.9 * r) ** 2) / 1.2**2)
    return bp.TargetImage(np.zeros((SIZE, SIZE)), pixelscale=SCALE, psf=bp.PSFImage(psf))


# a light quadrature keeps the test fast; every tier (base, near-field block, graded cusp) is still used
GALAXY = {"x": 4.1, "y": 3.85, "q": 0.55, "PA": 0.7,
          "quadrature": QuadratureConfig(levels=4, order=3, mid_block=7, mid_order=3)}
MODELS = every_model_type(GALAXY, (4.3, 3.6), bp.Window(2, 15, 1, 14))


def flat_values(model: bp.Model) -> tuple[list[tuple[str, tuple[int, ...]]], np.ndarray]:
    """(name, shape) of every parameter and their values concatenated."""
    layout = [(name, np.shape(p.value)) for name, p in model.parameters.items()]
    values = np.concatenate([np.ravel(np.asarray(p.value, dtype=float)) for p in model.parameters.values()])
    return layout, values


def image_and_gradient(model: bp.Model, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The model image and ∇θ Σ image × weights on backend ``name``, as numpy."""
    layout, theta0 = flat_values(model)
    weights_np = np.random.default_rng(1).normal(size=model.window.shape)
    with bp.backend.using(name) as be:
        weights = be.asarray(weights_np)

        def loss(theta: Any) -> Any:
            values, start = {}, 0
            for key, shape in layout:
                size = int(np.prod(shape))
                values[key] = theta[start] if shape == () else theta[start: start + size]
                start += size
            return (model.sample_image(values) * weights).sum()

        theta = be.asarray(theta0)
        image = bp.backend.to_numpy(model.sample_image())
        grad = bp.backend.to_numpy(be.jit(be.grad(loss))(theta))
    return image, grad


@pytest.mark.parametrize("kind", list(MODELS))
def test_backends_agree(kind: str) -> None:
    model = MODELS[kind](make_target())
    results = {name: image_and_gradient(model, name) for name in ("jax", "torch")}
    (img_j, grad_j), (img_t, grad_t) = results["jax"], results["torch"]
    assert np.all(np.isfinite(img_j)) and np.all(np.isfinite(grad_j))
    assert np.abs(img_j).max() > 0 and np.abs(grad_j).max() > 0
    np.testing.assert_allclose(img_t, img_j, rtol=0, atol=RTOL * np.abs(img_j).max())
    np.testing.assert_allclose(grad_t, grad_j, rtol=0, atol=RTOL * np.abs(grad_j).max())


@pytest.mark.parametrize("name", ["jax", "torch"])
def test_gradient_matches_finite_differences(name: str) -> None:
    """The autodiff gradient of a Sérsic image (through b_n, the blocks and the PSF) is the true one."""
    model = MODELS["sersic"](make_target())
    layout, theta0 = flat_values(model)
    _, grad = image_and_gradient(model, name)
    weights = np.random.default_rng(1).normal(size=model.window.shape)

    def loss(theta: np.ndarray) -> float:
        values = {key: bp.backend.current().asarray(theta[k]) for k, (key, _) in enumerate(layout)}
        return float((bp.backend.to_numpy(model.sample_image(values)) * weights).sum())

    with bp.backend.using(name):
        for k in range(theta0.size):
            h = 1e-6 * max(1.0, abs(theta0[k]))
            up, down = theta0.copy(), theta0.copy()
            up[k] += h
            down[k] -= h
            fd = (loss(up) - loss(down)) / (2 * h)
            assert abs(fd - grad[k]) <= 1e-5 * np.abs(grad).max(), layout[k][0]
