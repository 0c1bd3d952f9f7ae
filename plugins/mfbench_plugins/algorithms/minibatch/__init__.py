"""The mini-batch gradient family: ``momentum_sgd``, ``adam_sgd``, ``adamax_sgd`` (per-batch kernels on numba, ``_numba``; array code on cupy) and ``masked_gd`` (full-batch Adam on the dense masked error)."""

from .masked_gd import MaskedGD
from .minibatch import AdamaxSGD, AdamSGD, MomentumSGD

__all__ = ["MomentumSGD", "AdamSGD", "AdamaxSGD", "MaskedGD"]
