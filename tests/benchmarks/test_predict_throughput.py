"""Factor-model predictions on the CPU: the compiled pass (``pair_scores``) against the numpy
gather expression (``predict_pairs``), on 4M pairs of the Netflix shape's factor tables at
k = 32 and 128, in one run; prints M pairs/s and the ratio."""

import time

import numpy as np
import pytest
from _bench import SCALE

from mfbench_plugins.algorithms.kernels.predict import pair_scores
from mfbench_plugins.algorithms.model import Factors, predict_pairs


def _best_of(fn, rounds=3):
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


@pytest.mark.parametrize("k", [32, 128])
def test_compiled_predictions_against_numpy(k):
    rng = np.random.default_rng(0)
    n_users, n_items, n = 480_189, 17_770, int(4_000_000 * SCALE)
    f = Factors(
        rng.standard_normal((n_users, k), dtype=np.float32),
        rng.standard_normal((n_items, k), dtype=np.float32),
        rng.standard_normal(n_users, dtype=np.float32),
        rng.standard_normal(n_items, dtype=np.float32),
        3.6,
    )
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    chunk = 1 << 20  # the harness's PREDICT_CHUNK

    def compiled():
        return pair_scores(users, items, f.P, f.Q, f.bu, f.bi, f.mu)

    def array_code():
        return np.concatenate(
            [predict_pairs(np, f, users[s : s + chunk], items[s : s + chunk]) for s in range(0, n, chunk)]
        )

    np.testing.assert_allclose(compiled(), array_code(), rtol=1e-4, atol=1e-4)  # also compiles
    fast, slow = _best_of(compiled), _best_of(array_code)
    print(
        f"\npredict k={k}: compiled {n / fast / 1e6:.1f} M pairs/s, numpy {n / slow / 1e6:.1f} M pairs/s, "
        f"{slow / fast:.1f}x"
    )
    assert slow / fast >= 2.0
