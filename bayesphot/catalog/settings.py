"""Every setting of a catalog run, in one frozen record (written to the catalog header)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

from ..errors import BayesphotError
from .choose import TYPES
from .sample import SAMPLERS

CRITERIA = ("dchi2", "evidence")


@dataclass(frozen=True)
class CatalogSettings:
    """How groups are fitted and sampled.

    Attributes
    ----------
    types : tuple of str
        Candidate source types (subset of "point", "exp", "dev", "sersic").
    criterion : {"dchi2", "evidence"}
        Which criterion sets the ``type`` column (both are computed; see
        :mod:`bayesphot.catalog.choose`).
    sampler : {"laplace", "nuts"}
    draws : int
        Posterior draws per group (over all chains).
    chains, warmup : int
        NUTS chains and warm-up iterations.
    nuts_seconds : float
        NUTS time limit per group (s, start search and warm-up included): past warm-up the draws so far
        are kept (and flagged); a group still in warm-up gets Laplace draws instead,
        flagged ``SAMPLER``, so one pathological group cannot hold up a catalog.
    seed : int
        Base seed; group g uses ``seed + g`` (so a resumed run draws the same numbers).
    window_scale, window_border, window_min : float, int, int
        Source windows: bounding box × scale + 2 border, at least ``window_min`` pixels.
    max_group_size : int
        Larger groups are still fitted, but flagged (their fit is slow and
        more often poor).
    max_iterations : int
        LM iterations per fit.
    chi2_flag : float
        Flag groups with χ²/ndf above this.
    chi2_p_flag : float
        Also flag groups whose χ² is this improbable for their ndf (survival
        probability of the χ² distribution): a small window with χ²/ndf 2 is a
        misfit (a cosmic ray fitted as a star) although below ``chi2_flag``.
    """

    types: tuple[str, ...] = TYPES
    criterion: str = "dchi2"
    sampler: str = "laplace"
    draws: int = 1000
    chains: int = 2
    warmup: int = 200
    nuts_seconds: float = 300.0
    seed: int = 0
    window_scale: float = 2.0
    window_border: int = 3
    window_min: int = 9
    max_group_size: int = 25
    max_iterations: int = 60
    chi2_flag: float = 3.0
    chi2_p_flag: float = 1e-3
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "types", tuple(self.types))
        if any(t not in TYPES for t in self.types) or not self.types:
            raise BayesphotError(f"types must be a non-empty subset of {TYPES}, got {self.types}")
        if self.criterion not in CRITERIA:
            raise BayesphotError(f"criterion must be one of {CRITERIA}, got {self.criterion!r}")
        if self.sampler not in SAMPLERS:
            raise BayesphotError(f"sampler must be one of {SAMPLERS}, got {self.sampler!r}")
        if not self.nuts_seconds > 0:
            raise BayesphotError(f"nuts_seconds must be positive, got {self.nuts_seconds}")
        if self.draws < 2 or self.chains < 1:
            raise BayesphotError(f"need draws ≥ 2 and chains ≥ 1, got {self.draws}, {self.chains}")

    def to_dict(self) -> dict:
        return asdict(self)

    def digest(self) -> str:
        """Short hash of the settings (a resumed run must use the same ones)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]


__all__ = ["CRITERIA", "CatalogSettings"]
