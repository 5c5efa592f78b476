"""What a MAP fit returns."""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..models.base import Model
from .laplace import Covariance, Derived, delta_method


@dataclass
class FitResult:
    """The outcome of :class:`~bayesphot.fit.LM` or :class:`~bayesphot.fit.Iter`.

    Attributes
    ----------
    message : str
        ``"success"``, ``"max iterations reached"``, ``"no step improves chi²"``
        (the damping grew past its limit without lowering the objective) or
        ``"max cycles reached"`` (Iter).
    success : bool
        True only for ``message == "success"``.
    converged_by : str or None
        Which test ended a successful fit: ``"gradient"``, ``"chi2 change"``, ``"step"`` or
        ``"precision"`` (no step lowers χ² at the precision in use, and none is predicted to).
    chi2 : float
        χ² over the unmasked pixels at the end (Gaussian), or the Cash deviance
        2 Σ [μ − d + d ln(d/μ)] (Poisson); priors not included.
    ndf : int
        Unmasked pixels minus free parameters (Imfit's definition).
    iterations : int
        LM iterations (Jacobian evaluations after the first); cycles for Iter.
    u : (k,) numpy array
        The MAP point in the unconstrained space.
    labels : list of str
        One per element of ``u`` (``FreeParameters.labels()``).
    names : list of str
        The free parameter names (vectors once), in order.
    covariance_unconstrained : (k, k) numpy array
        Inverse of the Gauss–Newton Hessian of −log posterior in the
        unconstrained space (JᵀWJ plus the priors' curvature); block-diagonal per
        sub-model after :class:`~bayesphot.fit.Iter` alone.
    covariance : Covariance
        The same in parameter space (``D Σ_u D``, D = dx/du), with ``.matrix``,
        ``.labels``, ``.sigma`` and ``.correlation``.
    at_limit : list of str
        Labels of elements that ended on (within 1e-4 of the range of) a limit.
    singular : bool
        The Hessian was singular and its pseudo-inverse was used.
    objective : float
        χ² − 2 log prior (what LM minimised, in χ² units).
    likelihood : str
    history : list of dict
        Per iteration: ``chi2``, ``lambda`` (damping), ``accepted``.
    wall_time : float
        Seconds spent in ``fit()`` (compilation included).
    fitted_models : list of str
        :class:`~bayesphot.fit.Iter`: the sub-models fitted at least once
        (all of them unless interrupted with Ctrl-C, when ``message`` starts
        with ``"interrupted"`` and the others keep their start values).
    issues : list of str
        What makes the answer doubtful although the optimiser may have converged: today the
        components whose pixel rule does not resolve their profile at the end values
        (:func:`bayesphot.models.resolution.quadrature_issues`), whose images, and so χ² and
        parameters, are uncertain beyond the quadrature's budget.  Empty when none.
    """

    message: str
    success: bool
    chi2: float
    ndf: int
    iterations: int
    u: np.ndarray
    labels: list[str]
    names: list[str]
    covariance_unconstrained: np.ndarray
    covariance: Covariance
    at_limit: list[str] = field(default_factory=list)
    converged_by: str | None = None
    singular: bool = False
    objective: float = float("nan")
    likelihood: str = "gaussian"
    history: list[dict[str, Any]] = field(default_factory=list)
    wall_time: float = 0.0
    model: Model | None = field(default=None, repr=False)
    fitted_models: list[str] = field(default_factory=list)
    issues: list[str] = field(default_factory=list)
    #: every parameter's value when the result was made (the MAP): a sampler's write-back or a user's edit
    #: of the model afterwards must not move the point the covariance belongs to
    map_values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.model is not None and not self.map_values:
            self.map_values = {name: np.array(p.value, dtype=np.float64, copy=True)
                               for name, p in self.model.parameters.items() if p.value is not None}

    @property
    def chi2_ndf(self) -> float:
        """Reduced χ²: ``chi2 / ndf``."""
        return self.chi2 / self.ndf

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix of the parameters (rows as ``labels``)."""
        return self.covariance.correlation

    @property
    def sigma(self) -> dict[str, float]:
        """Label → 1σ in parameter units."""
        return dict(zip(self.labels, self.covariance.sigma.tolist(), strict=False))

    def values(self) -> dict[str, np.ndarray]:
        """Every parameter of the model (free and fixed) by name, at the end of the fit (the MAP).

        Taken when the fit finished, so a sampler that later writes posterior
        means into the model (or an edit) does not change what :meth:`derived`
        evaluates at.
        """
        if self.model is None:
            raise ValueError("this result is not attached to a model")
        return {name: value.copy() for name, value in self.map_values.items()}

    def derived(self, func: Callable[[Mapping[str, Any]], Any]) -> Derived:
        """A derived quantity and its 1σ, propagating the full covariance (delta method).

        Parameters
        ----------
        func : callable
            ``func(values)`` with ``values`` a mapping name → backend array
            (``"gal:Re"``; fixed parameters included as constants), written with
            array-API operations so it can be differentiated; returns a scalar.

        Examples
        --------
        >>> flux = result.derived(lambda v: 2 * math.pi * v["gal:sigma"] ** 2 * ...)  # doctest: +SKIP
        """
        return delta_method(func, self.values(), self.covariance, self.names)

    def __str__(self) -> str:
        lines = [f"{self.message} ({self.converged_by or 'not converged'}) after {self.iterations} iterations: "
                 f"chi2 = {self.chi2:.6g}, chi2/ndf = {self.chi2_ndf:.6g} (ndf {self.ndf})"]
        if self.at_limit:
            lines.append(f"at a limit: {', '.join(self.at_limit)}")
        if self.singular:
            lines.append("singular Hessian: pseudo-inverse used")
        lines.extend(f"issue: {issue}" for issue in self.issues)
        return "\n".join(lines)


_LAST: weakref.WeakKeyDictionary[Model, tuple[FitResult, tuple[Any, ...]]] = weakref.WeakKeyDictionary()


def remember(result: FitResult, transforms: Any) -> None:
    """Keep ``result`` as the latest fit of its model (weakly), with the transforms its ``u`` is in."""
    if result.model is not None:
        _LAST[result.model] = (result, tuple(transforms))


def last_fit(model: Model, labels: list[str], transforms: Any, u: np.ndarray) -> FitResult | None:
    """The latest fit of ``model`` if it still describes the model: same elements, transforms and values."""
    entry = _LAST.get(model)
    if entry is None:
        return None
    result, fit_transforms = entry
    if result.labels != list(labels) or fit_transforms != tuple(transforms) or result.u.shape != np.shape(u):
        return None
    if not np.allclose(result.u, u, rtol=1e-10, atol=1e-10):
        return None  # the values changed since (or a cyclic element wrapped differently)
    return result
