"""``bpmf``: Bayesian MF by Gibbs sampling (its conditional draws in ``_numba``; the normal equations shared with ``als`` in ``rows``)."""

from .bpmf import BPMF

__all__ = ["BPMF"]
