"""Parameters and their transforms to an unconstrained space."""

from .parameter import Parameter
from .transforms import Transform

__all__ = ["Parameter", "Transform"]
