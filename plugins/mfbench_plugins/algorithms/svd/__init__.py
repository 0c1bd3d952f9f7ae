"""``svd``: truncated SVD of the baseline-imputed matrix, never densified."""

from .svd import ImputedSVD

__all__ = ["ImputedSVD"]
