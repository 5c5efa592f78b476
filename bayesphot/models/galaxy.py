"""Galaxy models: an elliptical radial profile centred at (x, y).

Every galaxy model has ``x``, ``y`` (arcsec), ``q`` (b/a) and ``PA`` (rad,
counter-clockwise from +y, cyclic on [0, π)); each type adds its profile's
parameters and a pure ``profile(p, R)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from .. import backend
from ..backend import Array
from ..errors import ModelError
from ..profiles import radial
from ..profiles.sersic import b_n
from ..render import elliptical_radius
from .base import Model, ParameterSpec
from .initialize import (
    edge_level,
    fit_moffat_profile,
    fit_sersic_profile,
    half_light_radius,
    psf_hwhm,
    radial_median_profile,
    significant_bins,
    window_moments,
)
from .registry import register

GALAXY_SPECS = (
    ParameterSpec("x", "arcsec", description="centre, x = pixelscale × column"),
    ParameterSpec("y", "arcsec", description="centre, y = pixelscale × row"),
    ParameterSpec("q", "b/a", (0.0, 1.0), description="axis ratio", strict_lower=True),
    ParameterSpec("PA", "rad", (0.0, math.pi), cyclic=True, description="major axis, CCW from +y"),
)
POSITIVE = (0.0, None)


class GalaxyModel(Model):
    """Base of the elliptical galaxy models."""

    model_type: ClassVar[str] = "galaxy model"
    parameter_specs: ClassVar[tuple[ParameterSpec, ...]] = GALAXY_SPECS

    def profile(self, p: Mapping[str, Array], R: Array) -> Array:  # pragma: no cover
        """Surface brightness (flux/arcsec²) at elliptical radius ``R`` (arcsec)."""
        raise NotImplementedError

    def brightness(self, p: Mapping[str, Array], x: Array, y: Array) -> Array:
        R = elliptical_radius(x, y, p["x"], p["y"], p["q"], p["PA"])
        return self.profile(p, R)

    def radial_profile(self, radii: Any) -> np.ndarray:
        """The profile at the given major-axis radii (arcsec), as numpy (for plots)."""
        p = self.parameter_arrays()
        R = backend.current().asarray(radii)
        if backend.current().name == "jax":  # op by op, JAX would compile every primitive (seconds)
            from .. import structure

            return backend.to_numpy(structure.run(self.profile, p, R))
        return backend.to_numpy(self.profile(p, R))

    # -------------------------------------------------------- initialisation
    def initialize(self) -> None:
        """Centre, q and PA from moments; profile parameters from the binned median profile.

        Only parameters without a value are set (user values are kept and
        used: a given centre or shape defines the annuli, a given index or
        radius constrains the profile fit).
        """
        window, mask, target = self.window, self.fit_mask, self.target
        background = edge_level(target.data[window.slices], mask)
        moments = window_moments(target, window, mask, background)
        self._initial("x", moments.x)
        self._initial("y", moments.y)
        self._initial("q", moments.q)
        self._initial("PA", moments.pa)
        center = (float(self["x"].value), float(self["y"].value))
        radii, sb, errors = radial_median_profile(target, window, mask, center, float(self["q"].value),
                                                  float(self["PA"].value), background, return_errors=True)
        rmin = 2.0 * psf_hwhm(target) if self.psf_convolve else 0.0
        keep = significant_bins(radii, sb, errors, rmin=rmin)
        if keep.sum() < 3:
            keep = significant_bins(radii, sb, errors)
        self.initialize_profile(radii, sb, moments.flux, errors=errors, keep=keep)

    def initialize_profile(self, radii: np.ndarray, sb: np.ndarray, flux: float, *,
                           errors: np.ndarray | None = None, keep: np.ndarray | None = None) -> None:
        """Set the profile parameters from the median profile (flux/arcsec² vs arcsec).

        ``errors`` are the medians' standard errors and ``keep`` marks the bins
        with significant signal (outside the PSF core) that a fit should use.
        """

    def _user_value(self, name: str) -> float | None:
        value = self[name].value
        return None if value is None else float(value)

    def _fit_sersic(self, radii: np.ndarray, sb: np.ndarray, errors: np.ndarray | None, keep: np.ndarray | None,
                    n: float | None, re_name: str = "Re") -> tuple[float, float, float] | None:
        """Grid fit of a Sérsic to the kept bins (n fixed when given; Re fixed when set)."""
        if errors is None or keep is None or keep.sum() < 2:
            return None
        re = self._user_value(re_name)
        return fit_sersic_profile(radii[keep], sb[keep], errors[keep], n_grid=None if n is None else [n],
                                  re_grid=None if re is None else [re])

    def _profile_scale(self, radii: np.ndarray, sb: np.ndarray) -> tuple[float, float]:
        """(half-light radius, surface brightness there), guarded against empty profiles."""
        q = float(self["q"].value)
        re = max(half_light_radius(radii, sb, q), 0.5 * self.target.pixelscale)
        ie = float(np.interp(re, radii, np.clip(sb, 0.0, None))) if radii.size else 1.0
        return re, max(ie, 1e-6 * max(float(np.max(sb, initial=1.0)), 1e-12))


@register
class SersicGalaxy(GalaxyModel):
    """Sérsic profile: I(R) = Ie exp(−b_n [(R/Re)^(1/n) − 1]) with exact b_n."""

    model_type = "sersic galaxy model"
    render_is_pure = True
    parameter_specs = (
        *GALAXY_SPECS,
        ParameterSpec("n", "", (0.36, 10.0), description="Sérsic index"),
        ParameterSpec("Re", "arcsec", POSITIVE, description="half-light semi-major axis", strict_lower=True),
        ParameterSpec("Ie", "flux/arcsec^2", POSITIVE, description="surface brightness at Re"),
    )

    def profile(self, p: Mapping[str, Array], R: Array) -> Array:
        return radial.sersic(R, p["n"], p["Re"], p["Ie"], p.get("b"))

    def prepare(self, p: Mapping[str, Array]) -> Mapping[str, Array]:
        return {**p, "b": b_n(p["n"])}

    def initialize_profile(self, radii: np.ndarray, sb: np.ndarray, flux: float, *,
                           errors: np.ndarray | None = None, keep: np.ndarray | None = None) -> None:
        fit = self._fit_sersic(radii, sb, errors, keep, self._user_value("n"))
        if fit is None:
            re, ie = self._profile_scale(radii, sb)
            fit = (2.0, re, ie)
        self._initial("n", fit[0])
        self._initial("Re", fit[1])
        self._initial("Ie", fit[2])


@register
class ExponentialGalaxy(GalaxyModel):
    """Exponential disk: a Sérsic with n = 1 (Re = 1.678 × scale length)."""

    model_type = "exponential galaxy model"
    render_is_pure = True
    parameter_specs = (
        *GALAXY_SPECS,
        ParameterSpec("Re", "arcsec", POSITIVE, description="half-light semi-major axis", strict_lower=True),
        ParameterSpec("Ie", "flux/arcsec^2", POSITIVE, description="surface brightness at Re"),
    )

    def profile(self, p: Mapping[str, Array], R: Array) -> Array:
        xp = backend.namespace(R)
        return radial.sersic(R, xp.ones_like(p["Re"]), p["Re"], p["Ie"], p.get("b"))

    def prepare(self, p: Mapping[str, Array]) -> Mapping[str, Array]:
        xp = backend.namespace(p["Re"])
        return {**p, "b": b_n(xp.ones_like(p["Re"]))}

    def initialize_profile(self, radii: np.ndarray, sb: np.ndarray, flux: float, *,
                           errors: np.ndarray | None = None, keep: np.ndarray | None = None) -> None:
        fit = self._fit_sersic(radii, sb, errors, keep, 1.0)
        re, ie = (fit[1], fit[2]) if fit is not None else self._profile_scale(radii, sb)
        self._initial("Re", re)
        self._initial("Ie", ie)


@register
class GaussianGalaxy(GalaxyModel):
    """Elliptical Gaussian with total ``flux`` and major-axis ``sigma``."""

    model_type = "gaussian galaxy model"
    render_is_pure = True
    parameter_specs = (
        *GALAXY_SPECS,
        ParameterSpec("sigma", "arcsec", POSITIVE, description="major-axis standard deviation", strict_lower=True),
        ParameterSpec("flux", "flux", POSITIVE, description="total flux"),
    )

    def profile(self, p: Mapping[str, Array], R: Array) -> Array:
        return radial.gaussian(R, p["sigma"], p["flux"], p["q"])

    def initialize_profile(self, radii: np.ndarray, sb: np.ndarray, flux: float, *,
                           errors: np.ndarray | None = None, keep: np.ndarray | None = None) -> None:
        # a Gaussian is a Sérsic with n = 1/2 and Re = σ √(2 ln 2)
        factor = math.sqrt(2.0 * math.log(2.0))
        sigma = self._user_value("sigma")
        fit = None
        if errors is not None and keep is not None and keep.sum() >= 2:
            fit = fit_sersic_profile(radii[keep], sb[keep], errors[keep], n_grid=[0.5],
                                     re_grid=None if sigma is None else [sigma * factor])
        re = fit[1] if fit is not None else self._profile_scale(radii, sb)[0]
        self._initial("sigma", re / factor)
        self._initial("flux", max(flux, 1e-12))


@register
class MoffatGalaxy(GalaxyModel):
    """Moffat profile I0 (1 + (R/Rd)²)^(−n), n being β."""

    model_type = "moffat galaxy model"
    render_is_pure = True
    parameter_specs = (
        *GALAXY_SPECS,
        ParameterSpec("n", "", (0.5, 20.0), description="Moffat β"),
        ParameterSpec("Rd", "arcsec", POSITIVE, description="core radius", strict_lower=True),
        ParameterSpec("I0", "flux/arcsec^2", POSITIVE, description="central surface brightness"),
    )

    def profile(self, p: Mapping[str, Array], R: Array) -> Array:
        return radial.moffat(R, p["n"], p["Rd"], p["I0"])

    def initialize_profile(self, radii: np.ndarray, sb: np.ndarray, flux: float, *,
                           errors: np.ndarray | None = None, keep: np.ndarray | None = None) -> None:
        beta, rd = self._user_value("n"), self._user_value("Rd")
        fit = None
        if errors is not None and keep is not None and keep.sum() >= 2:
            fit = fit_moffat_profile(radii[keep], sb[keep], errors[keep], beta_grid=None if beta is None else [beta],
                                     rd_grid=None if rd is None else [rd])
        if fit is None:
            re, _ = self._profile_scale(radii, sb)
            beta = 2.0 if beta is None else beta
            # half-light radius of a Moffat: Rd sqrt(2^(1/(β-1)) - 1)
            fit = (beta, re / math.sqrt(2.0 ** (1.0 / (beta - 1.0)) - 1.0),
                   float(sb[0]) if sb.size and sb[0] > 0 else 1.0)
        self._initial("n", fit[0])
        self._initial("Rd", fit[1])
        self._initial("I0", fit[2])


@register
class SplineGalaxy(GalaxyModel):
    """Non-parametric profile: log10 I at fixed radial knots, linear in between.

    The knots (arcsec, first at 0, then logarithmic to the window edge) are
    set by ``initialize()`` or given as ``knots=``; they are saved with the
    model.
    """

    model_type = "spline galaxy model"
    parameter_specs = (
        *GALAXY_SPECS,
        ParameterSpec("logI", "log10(flux/arcsec^2)", description="log10 brightness at the knots"),
    )

    def __init__(self, name: str, model_type: str | None = None, *, knots: Any = None, **kwargs: Any) -> None:
        self._knots: np.ndarray | None = None
        self.name = name
        self.knots = knots
        super().__init__(name, model_type, **kwargs)

    @property
    def knots(self) -> np.ndarray | None:
        """Radial knots (arcsec): at least two, finite, strictly increasing, the first ≥ 0."""
        return self._knots

    @knots.setter
    def knots(self, knots: Any) -> None:
        if knots is None:
            self._knots = None
            return
        arr = np.asarray(knots, dtype=np.float64)
        if arr.ndim != 1 or arr.size < 2 or not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0) \
                or arr[0] < 0:
            raise ModelError(f"spline model {self.name!r}: knots must be ≥ 2 finite, strictly increasing radii "
                             f"≥ 0 (arcsec), got {knots!r}")
        self._knots = arr

    def prepare(self, p: Mapping[str, Array]) -> Mapping[str, Array]:
        if self._knots is None:
            raise ModelError(f"spline model {self.name!r} has no knots: call initialize() or give knots=")
        shape = tuple(p["logI"].shape)
        if shape != self._knots.shape:
            raise ModelError(f"spline model {self.name!r}: logI has shape {shape} but there are "
                             f"{self._knots.size} knots; give one log10 brightness per knot")
        return p

    def profile(self, p: Mapping[str, Array], R: Array) -> Array:
        xp = backend.namespace(R)
        knots = xp.asarray(self.knots, dtype=R.dtype, device=backend.device_of(R))
        return radial.spline(R, knots, p["logI"])

    def initialize_profile(self, radii: np.ndarray, sb: np.ndarray, flux: float, *,
                           errors: np.ndarray | None = None, keep: np.ndarray | None = None) -> None:
        if self.knots is None:
            s = self.target.pixelscale
            rmax = float(radii[-1]) if radii.size else 10 * s
            if keep is not None and keep.any():
                # out to 1.5 × the last significant bin: beyond it the profile is noise
                rmax = min(rmax, 1.5 * float(radii[np.flatnonzero(keep)[-1]]))
            self.knots = np.concatenate([[0.0], np.geomspace(s, max(rmax, 2 * s), 9)])
        positive = sb > 0
        if positive.sum() >= 2:
            log_sb = np.interp(self.knots, radii[positive], np.log10(sb[positive]))
        else:
            log_sb = np.full(self.knots.shape, -3.0)
        self._initial("logI", log_sb)

    def extra_state(self) -> dict[str, Any]:
        return {} if self.knots is None else {"knots": self.knots.tolist()}

    def set_extra_state(self, state: Mapping[str, Any]) -> None:
        unknown = sorted(set(state) - {"knots"})
        if unknown:
            raise ModelError(f"{self.model_type} takes only 'knots' as extra state, got {unknown}")
        if "knots" in state:
            self.knots = state["knots"]
