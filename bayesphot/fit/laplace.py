"""Laplace approximation: covariance from the Gauss–Newton Hessian, and the delta method.

The Hessian ``A`` of −log posterior in the unconstrained space is
``Jᵀ W J − ∇²log prior`` (Gauss–Newton: the curvature of the residuals is
neglected).  Its inverse is the covariance of ``u``; the covariance of the
parameters ``x = T(u)`` is ``D A⁻¹ D`` with ``D = diag(dx/du)`` (exact at the
mode to first order).  A singular or indefinite ``A`` gives a
:class:`SingularHessianWarning` and its pseudo-inverse (the directions with
no curvature get zero variance, never NaN).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backend


class SingularHessianWarning(UserWarning):
    """The Hessian has (numerically) zero or negative curvature in some direction."""


def invert_hessian(hessian: np.ndarray, labels: Sequence[str] | None = None,
                   rcond: float = 1e-12) -> tuple[np.ndarray, bool]:
    """Inverse of a symmetric Hessian, or its pseudo-inverse with a warning.

    Parameters
    ----------
    hessian : (k, k) array
        Curvature of −log posterior (units: 1 / (unit of u)²).
    labels : list of str, optional
        Element names, to say which directions are unconstrained.
    rcond : float
        Eigenvalues below ``rcond × max eigenvalue`` count as zero.

    Returns
    -------
    covariance : (k, k) array
    singular : bool
        True when the pseudo-inverse was used.
    """
    h = np.asarray(hessian, dtype=np.float64)
    k = h.shape[0]
    if k == 0:
        return np.zeros((0, 0)), False
    if not np.all(np.isfinite(h)):
        raise np.linalg.LinAlgError("the Hessian has non-finite entries")
    h = 0.5 * (h + h.T)
    # equilibrate so that parameters with very different scales do not look singular
    d = np.sqrt(np.clip(np.abs(np.diag(h)), 1e-300, None))
    hs = h / d[:, None] / d[None, :]
    evals, evecs = np.linalg.eigh(hs)
    top = max(float(np.max(np.abs(evals))), 1e-300)
    good = evals > rcond * top
    singular = not bool(np.all(good))
    if singular:
        worst = evecs[:, int(np.argmin(evals))]
        names = list(labels) if labels is not None else [str(i) for i in range(k)]
        involved = [names[i] for i in np.argsort(-np.abs(worst))[:3] if abs(worst[i]) > 0.1]
        warnings.warn(
            f"singular Hessian ({int((~good).sum())} direction(s) without curvature, mostly "
            f"{', '.join(involved)}): using the pseudo-inverse; those uncertainties are not meaningful",
            SingularHessianWarning, stacklevel=3,
        )
    inv = np.where(good, 1.0 / np.where(good, evals, 1.0), 0.0)
    cov_s = (evecs * inv) @ evecs.T
    return cov_s / d[:, None] / d[None, :], singular


@dataclass
class Covariance:
    """A covariance matrix with named rows and columns.

    Attributes
    ----------
    matrix : (k, k) numpy array
        In the parameters' own units (e.g. arcsec², rad²).
    labels : list of str
        One per row, as :meth:`FreeParameters.labels` (``"gal:Re"``, ``"gal:logI[3]"``).
    """

    matrix: np.ndarray
    labels: list[str]

    @property
    def sigma(self) -> np.ndarray:
        """1σ per element (square root of the diagonal)."""
        return np.sqrt(np.clip(np.diag(self.matrix), 0.0, None))

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix (zero where a σ is zero)."""
        s = self.sigma
        safe = np.where(s > 0, s, 1.0)
        corr = self.matrix / safe[:, None] / safe[None, :]
        corr[s == 0, :] = 0.0
        corr[:, s == 0] = 0.0
        np.fill_diagonal(corr, np.where(s > 0, 1.0, 0.0))
        return corr

    def index(self, label: str) -> int:
        try:
            return self.labels.index(label)
        except ValueError:
            raise KeyError(f"no parameter {label!r}; have {', '.join(self.labels)}") from None

    def __getitem__(self, key: tuple[str, str] | str) -> Any:
        """``cov["gal:x", "gal:y"]`` → covariance; ``cov["gal:x"]`` → its row as a dict."""
        if isinstance(key, tuple):
            a, b = key
            return float(self.matrix[self.index(a), self.index(b)])
        row = self.matrix[self.index(key)]
        return dict(zip(self.labels, row.tolist(), strict=False))

    def to_table(self) -> Any:
        """An astropy Table: a ``name`` column, then one column per parameter."""
        from astropy.table import Table

        table = Table(self.matrix, names=self.labels)
        table.add_column(self.labels, name="name", index=0)
        return table

    def __str__(self) -> str:
        width = max(len(lab) for lab in self.labels) if self.labels else 4
        lines = [" " * width + " " + " ".join(f"{lab[-10:]:>10}" for lab in self.labels)]
        for lab, row in zip(self.labels, self.matrix, strict=False):
            lines.append(f"{lab:>{width}} " + " ".join(f"{v:10.3g}" for v in row))
        return "\n".join(lines)


def parameter_covariance(cov_u: np.ndarray, dxdu: np.ndarray, labels: Sequence[str]) -> Covariance:
    """Carry a covariance of ``u`` to parameter space with the transforms' slopes ``dx/du``."""
    d = np.asarray(dxdu, dtype=np.float64)
    return Covariance(cov_u * d[:, None] * d[None, :], list(labels))


@dataclass(frozen=True)
class Derived:
    """A derived quantity with its delta-method 1σ (same units as the function's value)."""

    value: float
    sigma: float

    def __iter__(self):
        yield self.value
        yield self.sigma

    def __str__(self) -> str:
        return f"{self.value:.6g} ± {self.sigma:.3g}"


def delta_method(func: Callable[[Mapping[str, Any]], Any], values: Mapping[str, np.ndarray],
                 covariance: Covariance, names: Sequence[str] | None = None) -> Derived:
    """Value and 1σ of ``func(values)`` propagating the full covariance.

    Parameters
    ----------
    func : callable
        Takes a mapping ``name → value`` (backend arrays; array-API operations
        only, so that it can be differentiated) and returns a scalar.
    values : mapping
        Parameter name → numpy value (the fit's estimate); names as in
        ``FreeParameters.names`` (``"gal:Re"``).  Fixed parameters may be
        included: they enter as constants.
    covariance : Covariance
        Of the free elements, labelled as ``FreeParameters.labels()``.
    names : sequence of str, optional
        The free parameter names in the order of the covariance (default: the
        covariance labels stripped of ``[i]``, in order of first appearance).

    Returns
    -------
    Derived
        ``value`` and ``sigma = sqrt(gᵀ Σ g)`` with ``g = ∂func/∂x`` by autodiff.
    """
    be = backend.current()
    if names is None:
        names = []
        for lab in covariance.labels:
            base = lab.split("[")[0]
            if base not in names:
                names.append(base)
    shapes = [np.shape(values[name]) for name in names]
    sizes = [int(np.prod(s)) if s else 1 for s in shapes]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
    x0 = np.concatenate([np.ravel(np.asarray(values[name], dtype=np.float64)) for name in names])
    constants = {k: v for k, v in values.items() if k not in names}
    xp_consts = {k: be.asarray(v) for k, v in constants.items()}

    def as_dict(x: Any) -> dict[str, Any]:
        xp = backend.namespace(x)
        out = dict(xp_consts)
        for name, shape, a, b in zip(names, shapes, offsets[:-1], offsets[1:], strict=False):
            out[name] = xp.reshape(x[int(a):int(b)], shape)
        return out

    def scalar(x: Any) -> Any:
        return func(as_dict(x))

    value, grad = be.value_and_grad(scalar)(be.asarray(x0))
    g = backend.to_numpy(grad)
    var = float(g @ covariance.matrix @ g)
    return Derived(float(backend.to_numpy(value)), float(np.sqrt(max(var, 0.0))))
