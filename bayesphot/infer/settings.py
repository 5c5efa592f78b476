"""What both sampler drivers (numpyro and pyro) are asked to do."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SamplerSettings:
    """Options shared by the numpyro and pyro drivers (see :class:`bayesphot.infer.NUTS`)."""

    kernel: str
    dense_mass: bool
    adapt_mass_matrix: bool
    warmup: int
    draws: int
    seed: int
    device: str | None
    progress: bool
    target_accept: float
    max_tree_depth: int
    trajectory_length: float | None
    num_steps: int | None
    #: seconds of the run (start search and sampling) after which no further chunk is started; None: no limit
    time_limit: float | None = None
    #: seconds of ``time_limit`` already spent before sampling began (the start search)
    time_spent: float = 0.0


def tree_depth(steps: np.ndarray) -> np.ndarray:
    """Tree depth of NUTS trajectories with ``steps`` leapfrog steps: ⌈log2(steps + 1)⌉."""
    return np.ceil(np.log2(steps + 1)).astype(np.int64)
