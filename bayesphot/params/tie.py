"""Ties: a parameter whose value is a function of other parameters.

A tie is either *affine*, ``value = scale × source + offset`` (a shared centre
is ``scale = 1, offset = 0``; a fixed ratio is ``scale = r``), which can be
saved to YAML, or a Python *function* of one or more source parameters,
written with array-API operations (it is evaluated on numpy arrays for
display and on JAX or torch arrays inside fits and samplers, and
differentiated there), which cannot be saved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .parameter import Parameter


@dataclass(frozen=True, eq=False)
class Tie:
    """How a tied parameter's value follows its sources.

    Attributes
    ----------
    sources : tuple of Parameter
        The parameters the value is computed from (one for affine ties).
    function : callable or None
        ``function(*source_values)``; None for the affine tie.
    scale, offset : float
        Of the affine tie (units: the tied parameter's per source unit, and
        the tied parameter's units).
    """

    sources: tuple[Parameter, ...]
    function: Callable[..., Any] | None = None
    scale: float = 1.0
    offset: float = 0.0

    @property
    def affine(self) -> bool:
        """True for ``scale × source + offset`` (serialisable) ties."""
        return self.function is None

    def evaluate(self, values: Sequence[Any]) -> Any:
        """The tied value for the sources' values (numpy or backend arrays)."""
        if self.function is None:
            value = values[0]
            if self.scale != 1.0:
                value = self.scale * value
            if self.offset != 0.0:
                value = value + self.offset
            return value
        return self.function(*values)

    def key(self) -> tuple[Any, ...]:
        """What a compiled function that evaluates this tie depends on (for caches)."""
        return ("affine", self.scale, self.offset) if self.function is None else ("function", id(self.function))

    def describe(self, names: Sequence[str]) -> str:
        """``"= bulge:x"``, ``"= 2 × bulge:Re"`` or ``"= f(a, b)"`` given the sources' names."""
        if self.function is None:
            text = names[0] if self.scale == 1.0 else f"{self.scale:g} × {names[0]}"
            if self.offset:
                text += f" {'+' if self.offset > 0 else '−'} {abs(self.offset):g}"
            return f"= {text}"
        fname = getattr(self.function, "__name__", "f")
        return f"= {fname if fname != '<lambda>' else 'f'}({', '.join(names)})"


__all__ = ["Tie"]
