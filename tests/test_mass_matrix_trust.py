"""When the start's curvature is trusted as the NUTS mass matrix: units do not count, degeneracy does."""

from __future__ import annotations

import numpy as np

import bayesphot as bp
from bayesphot.infer.mode import MAX_CONDITION, inverse_mass, scaled_condition
from bayesphot.infer.start import prepare
from bayesphot.program import Program


def test_units_alone_do_not_make_a_hessian_untrusted() -> None:
    # uncorrelated parameters of very different scales: condition 1e14, scaled condition exactly 1
    hessian = np.diag([1e12, 1.0, 1e-2])
    assert scaled_condition(hessian) == 1.0
    matrix, reliable, reason = inverse_mass(hessian)
    assert reliable and reason == ""
    np.testing.assert_allclose(matrix, np.diag([1e-12, 1.0, 1e2]), rtol=1e-12)


def test_a_near_degenerate_pair_is_untrusted_whatever_the_units() -> None:
    # correlation rho: the scaled condition number is (1 + rho) / (1 - rho), analytically
    for rho in (0.9, 1.0 - 1e-6):
        corr = np.array([[1.0, rho], [rho, 1.0]])
        scale = np.diag([1e3, 1e-3])
        expected = (1.0 + rho) / (1.0 - rho)
        assert abs(scaled_condition(scale @ corr @ scale) / expected - 1.0) < 1e-6
    rho = 1.0 - 1e-10
    hessian = np.diag([1e3, 1e-3]) @ np.array([[1.0, rho], [rho, 1.0]]) @ np.diag([1e3, 1e-3])
    assert scaled_condition(hessian) > MAX_CONDITION
    _, reliable, reason = inverse_mass(hessian)
    assert not reliable and "ill-conditioned" in reason
    assert not inverse_mass(np.array([[1.0, 0.0], [0.0, -1.0]]))[1]


def test_a_bright_star_on_sky_starts_with_the_laplace_matrix() -> None:
    # flux 1e6 counts, positions in arcsec at 0.05"/px (HST-like): the Hessian's own condition number
    # is beyond 1e10 (it was read as "ill-conditioned", and NUTS adapted its mass matrix for 400
    # iterations); scaled to unit diagonal it is small
    size = 25
    yy, xx = np.mgrid[:size, :size]
    psf = np.exp(-((xx[:9, :9] - 4.0) ** 2 + (yy[:9, :9] - 4.0) ** 2) / (2 * 1.2**2))
    psf_image = bp.PSFImage(psf / psf.sum(), kind="effective")
    blank = bp.TargetImage(np.zeros((size, size)), psf=psf_image, pixelscale=0.05)
    star = np.asarray(bp.Model("s", "point source", target=blank, x=12.3 * 0.05, y=11.8 * 0.05, flux=1e6).render())
    rng = np.random.default_rng(3)
    target = bp.TargetImage(star + 10.0 + rng.normal(0.0, 1.0, star.shape), variance=np.ones(star.shape),
                            psf=psf_image, pixelscale=0.05)
    group = bp.Model("g", "group", target=target, models=[
        bp.Model("sky", "flat sky model", target=target, I=9.0),
        bp.Model("s", "point source", target=target, x=12.0 * 0.05, y=12.0 * 0.05, flux=9e5),
    ])
    bp.fit.LM(group).fit()
    program = Program(group, priors=bp.infer.NUTS(group)._priors())
    start = prepare(group, program, False)
    from bayesphot import structure

    lowered = program.lower("log_density")
    hessian = -np.asarray(structure.compiled(lowered, "hessian")(lowered.params, start.u))
    eigval = np.linalg.eigvalsh(0.5 * (hessian + hessian.T))
    assert eigval[-1] / eigval[0] > 1e10  # the raw condition number alone refused it
    assert scaled_condition(hessian) < 10.0
    assert not start.adapt, start.notes
