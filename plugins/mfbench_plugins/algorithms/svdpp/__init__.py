"""``svdpp``: SVD++, biased MF plus the rated items' implicit rows, SGD grouped by user (``_numba``)."""

from .svdpp import SVDpp

__all__ = ["SVDpp"]
