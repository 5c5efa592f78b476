"""Posterior sampling: MAP-initialised NUTS and HMC on numpyro (JAX) or pyro (torch).

``bp.infer.NUTS(model).run()`` returns a :class:`Posterior` holding an
``arviz.InferenceData``; see :mod:`bayesphot.infer.samplers` for how the
samplers start (MAP, Laplace mass matrix) and :mod:`bayesphot.infer.posterior`
for what the InferenceData holds and what the diagnostics check.
"""

from .posterior import Posterior, diagnose
from .samplers import HMC, NUTS, write_back
from .start import SamplingWarning, find_map, laplace_inverse_mass

__all__ = ["HMC", "NUTS", "Posterior", "SamplingWarning", "diagnose", "find_map", "laplace_inverse_mass", "write_back"]
