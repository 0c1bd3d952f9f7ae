"""One pass of ``fit_biases`` compiled for the CPU: the numpy version's arithmetic, in its order.

numpy takes a pass as two weighted ``bincount``s over gathered residuals, each a float64 copy of
the ratings; this loop sums the same float32 residuals into float64 accumulators in rating order,
as ``bincount`` does, so its biases are bit-identical, without the temporaries.
"""

import numpy as np
from numba import njit


@njit(cache=True)
def bias_pass(users, items, values, mu, n_u, n_i, reg_user, reg_item, bu, bi):
    """Items given users, then users given items; overwrites ``bi`` and ``bu`` (float32)."""
    acc_i = np.zeros(len(bi), np.float64)
    for j in range(len(values)):
        acc_i[items[j]] += np.float64((values[j] - mu) - bu[users[j]])
    for i in range(len(bi)):
        bi[i] = np.float32(acc_i[i] / (reg_item + n_i[i]))
    acc_u = np.zeros(len(bu), np.float64)
    for j in range(len(values)):
        acc_u[users[j]] += np.float64((values[j] - mu) - bi[items[j]])
    for u in range(len(bu)):
        bu[u] = np.float32(acc_u[u] / (reg_user + n_u[u]))
