"""The GPU paths' planning, sizing and accounting, tested on the host: ALS batch plans on the
presets' degree sequences, the CUDA SGD grid (warps capped by the data, blocks by occupancy),
the memory probe, and the install hint. Numerical parity of the GPU paths is in
``test_gpu_paths.py``; the CUDA kernel itself in ``test_gpu_sgd.py``."""

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import PRESETS, _popularity, _user_degrees
from mfbench_plugins.algorithms._als_batched import SYSTEM_COPIES, plan_batches
from mfbench_plugins.algorithms.als import ALS

DEVICE_BUDGET = 1 << 27


def preset_degrees(name):
    """Ratings per user (as the generator draws them) and per item (their expected spread)."""
    shape = PRESETS[name]
    rng = np.random.default_rng(0)
    users = _user_degrees(shape["n_users"], shape["n_items"], shape["n_ratings"], 1.5,
                          shape.get("min_user_ratings", 20), rng)
    items = rng.multinomial(shape["n_ratings"], _popularity(shape["n_items"], 2.0, rng))
    return {"users": users, "items": items}


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("side", ["users", "items"])
@pytest.mark.parametrize("k", [65, 129])
def test_als_batches_are_greedy_and_near_the_fewest(name, side, k):
    """Each batch holds as many rows as the budget allows (the next row would break it), so the
    count is close to the lower bound ``sum of costs / budget``: a plan that fixed the batch size
    at the longest row's (as the first planner did) needed 2,851 item batches on the ML-20M shape
    where 17 fit."""
    degrees = preset_degrees(name)[side]
    counts = np.sort(degrees[degrees > 0])
    cost = counts * k + SYSTEM_COPIES * k * k
    plan = plan_batches(counts, k, DEVICE_BUDGET)
    assert plan[0][0] == 0 and plan[-1][1] == len(counts)
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:]))
    for start, stop in plan:
        assert (stop - start) * cost[stop - 1] <= DEVICE_BUDGET or stop - start == 1
        if stop < len(counts):
            assert (stop + 1 - start) * cost[stop] > DEVICE_BUDGET
    lower = cost.sum() / DEVICE_BUDGET
    assert len(plan) <= 1.25 * lower + 2, (len(plan), lower)


def test_als_plan_counts_the_systems():
    """A row with one rating still costs its k x k systems (1,000 of them at k=100 go 26 to a
    batch of 2^20 entries, not 10,485), and a row larger than the budget is a batch alone."""
    counts = np.ones(1000, np.int64)
    plan = plan_batches(counts, 100, 1 << 20)
    per_row = 100 + SYSTEM_COPIES * 100 * 100
    assert all(stop - start == (1 << 20) // per_row for start, stop in plan[:-1])
    assert plan_batches(np.array([1, 10**9]), 8, 1 << 10) == [(0, 1), (1, 2)]


@pytest.mark.parametrize("k, biased, size", [(256, True, 257), (257, False, 257)])
def test_als_refuses_systems_cupy_would_solve_row_by_row(stand_in_gpu, k, biased, size):
    from mfbench.testing import planted_split

    train = planted_split(n_users=30, n_items=20, n_ratings=200).train
    with pytest.raises(MfbenchError, match=f"makes {size} x {size} row systems.*use k <= {256 - biased}"):
        ALS(k=k, biased=biased, device="gpu").prepare(train)
    ALS(k=255 if biased else 256, biased=biased, epochs=1, device="gpu").prepare(train)  # the largest allowed
