"""``global_mean`` and ``biases``: the baselines every factorization has to beat."""

from .baselines import Biases, GlobalMean

__all__ = ["GlobalMean", "Biases"]
