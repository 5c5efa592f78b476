"""IC 3478 (SDSS r, real data) against Imfit's published fit (Imfit tutorial; bayesphot/data/README.md).

Exponential with the mask, no PSF, Imfit's data-based CCD noise model.  Imfit
reports 1-based positions (x = X0 − 1), ell = 1 − q, PA in degrees, the scale
length h (Re = b_1 h) and the central intensity I_0 (Ie = I_0 e^(−b_1)).
Tolerances (issue 3): each parameter within 0.2 %, positions within 0.02 pixel,
reduced χ² within 5e-4 relative (Imfit's ndf = N_unmasked − N_free).
"""

import math

import pytest

import bayesphot as bp
from bayesphot.data import ic3478_target

B1 = 1.678346990
IMFIT = {"X0": 128.8793, "Y0": 129.0589, "PA": 18.7492, "ell": 0.220646, "I_0": 321.631, "h": 20.0684,
         "chi2_ndf": 1.964467}


def test_exponential_matches_imfit():
    target = ic3478_target()
    gal = bp.Model("IC3478", "exponential galaxy model", target=target)
    gal.initialize()
    result = bp.fit.LM(gal).fit()
    assert result.success, result.message
    assert result.at_limit == []
    assert abs(float(gal["x"].value) - (IMFIT["X0"] - 1)) < 0.02
    assert abs(float(gal["y"].value) - (IMFIT["Y0"] - 1)) < 0.02
    assert float(gal["q"].value) == pytest.approx(1 - IMFIT["ell"], rel=2e-3)
    assert float(gal["PA"].value) == pytest.approx(math.radians(IMFIT["PA"]), rel=2e-3)
    assert float(gal["Re"].value) == pytest.approx(B1 * IMFIT["h"], rel=2e-3)
    assert float(gal["Ie"].value) == pytest.approx(IMFIT["I_0"] * math.exp(-B1), rel=2e-3)
    assert result.chi2_ndf == pytest.approx(IMFIT["chi2_ndf"], rel=5e-4)
    assert result.ndf == int((~target.mask).sum()) - 6
