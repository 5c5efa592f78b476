"""One exception hierarchy for everything bayesphot rejects.

Catch :class:`BayesphotError` to handle any of them; the subclasses say which
kind of input was wrong so that pipelines can react to each differently.
"""

from __future__ import annotations


class BayesphotError(Exception):
    """Base class of every error bayesphot raises on purpose."""


class ImageError(BayesphotError, ValueError):
    """Image data, variance, mask or PSF that cannot be used (shape, NaN, sign)."""


class WindowError(BayesphotError, ValueError):
    """A window that is empty, malformed, or lies outside its image."""


class ParameterError(BayesphotError, ValueError):
    """A parameter value outside its limits, or inconsistent limits."""


class ModelError(BayesphotError, ValueError):
    """A model that cannot be built: unknown type, empty or inconsistent group."""


class BackendError(BayesphotError, RuntimeError):
    """An array backend or device that is unknown or not installed."""


class FitError(BayesphotError, RuntimeError):
    """A fit that cannot start or produced non-finite numbers."""


class SamplingTimeLimitError(FitError):
    """A sampler reached its time limit before its warm-up ended: no draws to keep."""


class SamplingInterruptedError(FitError):
    """Sampling was interrupted (Ctrl-C) before its warm-up ended: no draws to keep."""


class QuadratureWarning(UserWarning):
    """A profile narrower than the pixel quadrature resolves: its rendering is uncertain beyond the budget."""
