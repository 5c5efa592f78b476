"""MAP fitting: Levenberg–Marquardt (:class:`LM`) and one sub-model at a time (:class:`Iter`).

Both minimise −2 log posterior (χ² or the Cash deviance plus the priors'
penalty) in the unconstrained space of :class:`~bayesphot.program.FreeParameters`,
store the MAP values and their Laplace 1σ in the model's parameters, and return
a :class:`FitResult`.
"""

from .engine import GroupEngine, LeafEngine, make_engine
from .iterative import Iter
from .laplace import Covariance, Derived, SingularHessianWarning, delta_method, invert_hessian
from .lm import LM
from .result import FitResult

__all__ = [
    "LM",
    "Covariance",
    "Derived",
    "FitResult",
    "GroupEngine",
    "Iter",
    "LeafEngine",
    "SingularHessianWarning",
    "delta_method",
    "invert_hessian",
    "make_engine",
]
