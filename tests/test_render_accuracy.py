"""Rendering accuracy against independent references.

* Sérsic images vs brute-force ``scipy.integrate.dblquad`` per pixel and vs
  GalSim ``real_space`` (stored by ``tests/reference/make_render_references.py``;
  a slow test recomputes pixels live, a fast one redraws GalSim live).
  Budget (DESIGN.md): max |difference| ≤ 1e-4 of the peak pixel.
* Total flux vs the analytic integrals (Sérsic, Gaussian, Moffat).
* PSF convolution vs ``scipy.signal.fftconvolve`` of an oversampled render.
* Point sources: flux and centroid.
* The exact b_n and its derivative in n.

The images are rendered with torch (eager torch has no per-shape compile
cost, so the many image sizes here stay fast); ``test_backends.py`` shows
that JAX renders the same pixels to 1e-10, and the live GalSim test runs on
both backends.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from scipy import signal, special

import bayesphot as bp
from bayesphot.profiles import b_n, sersic_total_flux

sys.path.insert(0, str(Path(__file__).parent / "reference"))
import make_render_references as refs

BUDGET = 1e-4  # of the peak pixel
BACKENDS = ["jax", "torch"]
REFERENCES = np.load(refs.OUTPUT)


@pytest.fixture(autouse=True)
def _torch_backend() -> Iterator[None]:
    with bp.backend.using("torch"):
        yield


def render_case(case: tuple[float, ...]) -> np.ndarray:
    """bayesphot's image of a reference case (same geometry as the reference script)."""
    n, q, re_px, col, row = case
    s = refs.PIXELSCALE
    target = bp.TargetImage(np.zeros((refs.SIZE, refs.SIZE)), pixelscale=s)
    model = bp.Model("g", "sersic galaxy model", target=target, x=col * s, y=row * s, q=q, PA=refs.PA,
                     n=n, Re=re_px * s, Ie=refs.IE)
    return np.asarray(model.render())


def peak_error(image: np.ndarray, reference: np.ndarray) -> float:
    """max |image − reference| / max(reference)."""
    return float(np.max(np.abs(image - reference)) / np.max(reference))


# ------------------------------------------------------------------ Sérsic images vs references
@pytest.mark.parametrize("case", refs.CASES, ids=refs.case_key)
def test_sersic_matches_bruteforce_quadrature(case: tuple[float, ...]) -> None:
    reference = REFERENCES[f"scipy_{refs.case_key(case)}"]
    assert peak_error(render_case(case), reference) <= BUDGET


@pytest.mark.parametrize("case", refs.CASES, ids=refs.case_key)
def test_sersic_matches_stored_galsim(case: tuple[float, ...]) -> None:
    key = refs.case_key(case)
    galsim_image = REFERENCES[f"galsim_{key}"]
    # the two references are independent of each other, and agree far below the budget
    assert peak_error(galsim_image, REFERENCES[f"scipy_{key}"]) < 1e-8
    assert peak_error(render_case(case), galsim_image) <= BUDGET


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("case", [refs.CASES[3], refs.CASES[9]], ids=refs.case_key)
def test_sersic_matches_live_galsim(case: tuple[float, ...], name: str) -> None:
    pytest.importorskip("galsim")
    with bp.backend.using(name):
        image = render_case(case)
    assert peak_error(image, refs.galsim_image(case)) <= BUDGET


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("case", [refs.CASES[1], refs.CASES[9], refs.CASES[11]], ids=refs.case_key)
def test_sersic_float32_within_budget(case: tuple[float, ...], name: str) -> None:
    """Float32 renders (GPU speed) keep the same budget: rounding stays far below it."""
    with bp.backend.using(name, dtype="float32"):
        image = render_case(case)
    assert peak_error(image, REFERENCES[f"scipy_{refs.case_key(case)}"]) <= BUDGET


@pytest.mark.slow
@pytest.mark.parametrize("case", [refs.CASES[9], refs.CASES[11]], ids=refs.case_key)
def test_stored_references_are_honest(case: tuple[float, ...]) -> None:
    """Recompute the cusp pixel, its neighbours and a far pixel with scipy, live."""
    stored = REFERENCES[f"scipy_{refs.case_key(case)}"]
    _, _, _, col, row = case
    i0, j0 = round(row), round(col)
    pixels = [(i0, j0), (i0 - 1, j0), (i0, j0 + 1), (i0 + 1, j0 - 1), (2, 3)]
    for i, j in pixels:
        live = refs.pixel_integral(case, i, j, epsabs=1e-12 * stored.max())
        assert abs(live - stored[i, j]) <= 1e-9 * stored.max()


# ------------------------------------------------------------------ total flux
def inscribed_truncation(n: float, r_over_re: float) -> float:
    """Upper bound on the Sérsic flux fraction beyond an inscribed circle of radius r.

    The elliptical radius R ≥ r for q ≤ 1, so the light outside the circle is
    at most the light beyond R = r: 1 − P(2n, b_n (r/Re)^(1/n)).
    """
    b = special.gammaincinv(2.0 * n, 0.5)
    return float(1.0 - special.gammainc(2.0 * n, b * r_over_re ** (1.0 / n)))


# (n, Re in pixels, image side): sides chosen so that the truncated fraction is < 1e-6
FLUX_CASES = [(0.5, 3.0, 41), (1.0, 2.0, 61), (2.0, 1.0, 111), (4.0, 0.6, 301), (6.0, 0.4, 751)]


@pytest.mark.parametrize("q", [1.0, 0.3])
@pytest.mark.parametrize(("n", "re_px", "size"), FLUX_CASES)
def test_sersic_total_flux(n: float, re_px: float, size: int, q: float) -> None:
    s = 0.5
    centre = (size - 1) / 2.0
    truncated = inscribed_truncation(n, (size / 2.0) / re_px)
    assert truncated < 1e-6
    target = bp.TargetImage(np.zeros((size, size)), pixelscale=s)
    model = bp.Model("g", "sersic galaxy model", target=target, x=(centre + 0.27) * s, y=(centre - 0.14) * s,
                     q=q, PA=0.4, n=n, Re=re_px * s, Ie=1.5)
    # the centre moved by < 0.5 px, so the inscribed circle shrinks by < 1 px
    assert inscribed_truncation(n, (size / 2.0 - 1.0) / re_px) < 1e-5
    total = sersic_total_flux(1.5, re_px * s, n, q)
    assert abs(np.asarray(model.render()).sum() / total - 1.0) < 1e-4


def test_gaussian_total_flux() -> None:
    target = bp.TargetImage(np.zeros((41, 41)), pixelscale=0.3)
    model = bp.Model("g", "gaussian galaxy model", target=target, x=6.07, y=5.93, q=0.4, PA=1.1,
                     sigma=0.9, flux=123.0)  # 3 px along the major axis, image half-size ≥ 6σ
    # within the chooser's flux budget, tolerance / FLUX_WEIGHT = 5e-6 (its 21-pixel near field gave
    # 4.6e-7; the 17-pixel one it takes since the near field's ramp is at most 3 pixels, 1.3e-6)
    assert abs(np.asarray(model.render()).sum() / 123.0 - 1.0) < 5e-6


def test_moffat_total_flux() -> None:
    beta, rd, i0, q, size, s = 4.0, 1.2, 3.0, 0.6, 61, 0.4
    # flux beyond the inscribed circle (radius 30 px = 10 Rd): (1 + (r/Rd)²)^(1−β) ≤ 1e-6
    assert (1.0 + (size / 2.0 - 1.0) * s / rd) ** (2.0 * (1.0 - beta)) < 1e-6
    target = bp.TargetImage(np.zeros((size, size)), pixelscale=s)
    c = (size - 1) / 2.0 * s
    model = bp.Model("m", "moffat galaxy model", target=target, x=c + 0.13, y=c - 0.05, q=q, PA=0.3,
                     n=beta, Rd=rd, I0=i0)
    total = math.pi * rd**2 * i0 * q / (beta - 1.0)
    assert abs(np.asarray(model.render()).sum() / total - 1.0) < 1e-5


# ------------------------------------------------------------------ PSF convolution
def gaussian_psf(sigma_px: float, half: int) -> np.ndarray:
    """A pixel-integrated-looking Gaussian PSF sampled on a (2 half + 1)² grid."""
    r = np.arange(-half, half + 1, dtype=float)
    psf = np.exp(-0.5 * np.add.outer(r**2, (0.8 * r) ** 2) / sigma_px**2)
    return psf / psf.sum()


@pytest.mark.parametrize("oversampling", [1, 2, 3])
def test_psf_convolution_matches_fftconvolve(oversampling: int) -> None:
    size, s, pad = 21, 0.5, 6
    psf = gaussian_psf(1.3 * oversampling, 4 * oversampling + 1)
    params = {"q": 0.6, "PA": 0.8, "n": 2.5, "Re": 1.4, "Ie": 2.0}
    x, y = 10.3 * s, 9.8 * s
    target = bp.TargetImage(np.zeros((size, size)), pixelscale=s, psf=bp.PSFImage(psf, oversampling))
    image = np.asarray(bp.Model("g", "sersic galaxy model", target=target, x=x, y=y, **params).render())

    # reference: render without PSF on a padded grid oversampled by the PSF's factor, convolve, bin
    fine_step = s / oversampling
    fine_size = (size + 2 * pad) * oversampling
    origin = (-pad - 0.5) * s + fine_step / 2.0  # sky position of fine pixel (0, 0)
    fine_target = bp.TargetImage(np.zeros((fine_size, fine_size)), pixelscale=fine_step)
    fine = np.asarray(bp.Model("g", "sersic galaxy model", target=fine_target, x=x - origin, y=y - origin,
                               **params).render())
    conv = signal.fftconvolve(fine, psf, mode="same")
    binned = conv.reshape(fine_size // oversampling, oversampling, -1, oversampling).sum(axis=(1, 3))
    reference = binned[pad: pad + size, pad: pad + size]
    assert peak_error(image, reference) < 1e-10


def test_psf_convolution_conserves_flux() -> None:
    size, s = 41, 0.5
    psf = gaussian_psf(1.7, 6)
    plain = bp.TargetImage(np.zeros((size, size)), pixelscale=s)
    blurred = bp.TargetImage(np.zeros((size, size)), pixelscale=s, psf=bp.PSFImage(psf))
    params = {"x": 10.2, "y": 9.9, "q": 0.7, "PA": 0.2, "sigma": 1.0, "flux": 10.0}
    a = np.asarray(bp.Model("g", "gaussian galaxy model", target=plain, **params).render()).sum()
    b = np.asarray(bp.Model("g", "gaussian galaxy model", target=blurred, **params).render()).sum()
    assert abs(b / a - 1.0) < 1e-10
    # the render's own flux error (the automatic quadrature keeps it ≤ 5e-6 on its probe grid)
    assert abs(b / 10.0 - 1.0) < 1e-5


def _pixel_integrated_gaussian(shape: tuple[int, int], x: float, y: float, sigma: float,
                               step: float = 1.0) -> np.ndarray:
    """A unit-flux Gaussian integrated exactly over square pixels of ``step`` (centres at integers × step)."""
    from scipy.special import erf

    def axis(n: int, c: float) -> np.ndarray:
        edges = (np.arange(n + 1) - 0.5) * step
        return np.diff(0.5 * (1.0 + erf((edges - c) / (math.sqrt(2.0) * sigma))))

    return np.outer(axis(shape[0], y), axis(shape[1], x))


@pytest.mark.parametrize("oversampling", [1, 2])
@pytest.mark.parametrize(("x", "y"), [(7.0, 8.0), (7.33, 8.04), (7.5, 7.75)])
def test_point_source_matches_the_exact_pixel_integrated_psf(oversampling: int, x: float, y: float) -> None:
    """A point source through a pixel-integrated Gaussian PSF (FWHM 2.8 image pixels) placed at a sub-pixel
    position equals that Gaussian integrated over the shifted pixels (erf): within 3e-4 of the peak, and its
    least-squares position and flux unbiased.  (The Keys cubic convolution used before erred by 3 % of the peak
    and 0.015 px.)"""
    from scipy.optimize import least_squares

    size, s, sigma = 31, 0.5, 2.8 / 2.3548 * 0.5          # arcsec; sigma = FWHM 2.8 px
    fine = 15 * oversampling + (1 - oversampling % 2)    # odd
    half = fine // 2
    psf = _pixel_integrated_gaussian((fine, fine), half * s / oversampling, half * s / oversampling, sigma,
                                     step=s / oversampling)
    kind = "effective" if oversampling == 1 else "sampled"   # oversampled: the sub-pixel samples are summed
    target = bp.TargetImage(np.zeros((size, size)), pixelscale=s,
                            psf=bp.PSFImage(psf / psf.sum(), oversampling, kind=kind))

    def render(px: float, py: float, flux: float) -> np.ndarray:
        return np.asarray(bp.Model("p", "point source", target=target, x=px, y=py, flux=flux).render())

    exact = 42.0 * _pixel_integrated_gaussian((size, size), x, y, sigma, step=s)
    image = render(x, y, 42.0)
    assert np.max(np.abs(image - exact)) < 3e-4 * exact.max()
    assert abs(image.sum() / 42.0 - 1.0) < 1e-5
    fit = least_squares(lambda p: (render(*p) - exact).ravel(), [x + 0.05, y - 0.05, 40.0], x_scale=[0.1, 0.1, 1.0])
    assert abs(fit.x[0] - x) < 1e-4 * s and abs(fit.x[1] - y) < 1e-4 * s
    assert abs(fit.x[2] / 42.0 - 1.0) < 1e-4


@pytest.mark.parametrize("kind", ["sampled", "effective"])
def test_both_psf_kinds_render_galaxies_and_stars_exactly(kind: str) -> None:
    """A Gaussian PSF (σ_p, FWHM 2.8 px) given sampled at pixel centres or integrated over pixels (erf): a
    Gaussian galaxy (σ_g = 1.5 px) must equal the pixel-integrated Gaussian of σ² = σ_g² + σ_p², and a point source
    the pixel-integrated PSF, both within 1.5e-4 of the peak (the point source's error is the sinc ringing of a
    PSF cut at 21 px).  Declaring an effective PSF as sampled (one image used for both, as before the kinds)
    is wrong by 2 % (galaxy) and 5 % (star) of the peak."""
    size, half, sp, sg, x, y = 32, 10, 2.8 / 2.3548, 1.5, 15.3, 16.1
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    given = (np.exp(-(xx**2 + yy**2) / (2 * sp**2)) if kind == "sampled"
             else _pixel_integrated_gaussian((2 * half + 1,) * 2, half, half, sp, step=1.0))

    def errors(psf: bp.PSFImage) -> tuple[float, float]:
        target = bp.TargetImage(np.zeros((size, size)), variance=np.ones((size, size)), psf=psf)
        galaxy = bp.Model("g", "gaussian galaxy model", target=target, x=x, y=y, flux=100.0, q=1.0, PA=0.0, sigma=sg)
        star = bp.Model("p", "point source", target=target, x=x, y=y, flux=100.0)
        out = []
        for model, sigma in ((galaxy, math.hypot(sg, sp)), (star, sp)):
            exact = 100.0 * _pixel_integrated_gaussian((size, size), x, y, sigma, step=1.0)
            out.append(float(np.max(np.abs(np.asarray(model.render()) - exact)) / exact.max()))
        return out[0], out[1]

    galaxy_error, star_error = errors(bp.PSFImage(given, kind=kind))
    assert galaxy_error < 2e-5 and star_error < 1.5e-4
    if kind == "effective":
        galaxy_error, star_error = errors(bp.PSFImage(given, kind="sampled"))
        assert galaxy_error > 0.01 and star_error > 0.03


def test_psf_kind_survives_fits_and_is_checked(tmp_path) -> None:
    psf = bp.PSFImage(np.outer(np.hanning(9)[1:-1], np.hanning(9)[1:-1]), kind="effective")
    from astropy.io import fits

    fits.HDUList([fits.PrimaryHDU(), psf.to_hdu()]).writeto(tmp_path / "psf.fits")
    back = bp.PSFImage.from_fits(tmp_path / "psf.fits", hdu="PSF")
    assert back.kind == "effective" and np.allclose(back.convolution_kernel, psf.convolution_kernel)
    assert bp.PSFImage.from_fits(tmp_path / "psf.fits", hdu="PSF", kind="sampled").kind == "sampled"
    fits.PrimaryHDU(psf.data).writeto(tmp_path / "plain.fits")           # a file that does not say
    from bayesphot.image.psf import PSFKindWarning

    with pytest.warns(PSFKindWarning, match="effective"):
        assert bp.PSFImage.from_fits(tmp_path / "plain.fits").kind == "sampled"
    with pytest.raises(bp.errors.ImageError, match="kind"):
        bp.PSFImage(psf.data, kind="epsf")
    with pytest.raises(bp.errors.ImageError, match="oversampling 1"):
        bp.PSFImage(psf.data, oversampling=3, kind="effective")


# ------------------------------------------------------------------ b_n
N_GRID = np.array([0.36, 0.5, 0.8, 1.0, 1.7, 2.0, 3.3, 4.0, 6.0, 8.0, 10.0])


@pytest.mark.parametrize("name", BACKENDS)
def test_b_n_matches_gammaincinv(name: str) -> None:
    with bp.backend.using(name) as be:
        values = bp.backend.to_numpy(b_n(be.asarray(N_GRID)))
    expected = special.gammaincinv(2.0 * N_GRID, 0.5)
    np.testing.assert_allclose(values, expected, rtol=1e-12)


@pytest.mark.parametrize("name", BACKENDS)
def test_b_n_derivative_matches_finite_differences(name: str) -> None:
    h = 1e-5
    fd = (special.gammaincinv(2.0 * (N_GRID + h), 0.5) - special.gammaincinv(2.0 * (N_GRID - h), 0.5)) / (2 * h)
    with bp.backend.using(name) as be:
        grads = [float(bp.backend.to_numpy(be.grad(b_n)(be.asarray(n)))) for n in N_GRID]
    np.testing.assert_allclose(grads, fd, rtol=1e-8)
