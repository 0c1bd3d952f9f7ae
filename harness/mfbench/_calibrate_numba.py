"""The numba part of the calibration workload (cached on disk like the algorithm kernels)."""

import numpy as np
from numba import njit


@njit(cache=True)
def gather_dot(idx, table):
    k = table.shape[1]
    acc = np.float32(0.0)
    for j in range(len(idx)):
        row = table[idx[j]]
        for f in range(k):
            acc += row[f] * row[(f + 1) % k]
    return acc
