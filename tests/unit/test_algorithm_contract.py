"""The algorithm contract: the protocol the harness relies on, the abstract base class, one
state mechanism, and ranking as a function over ``_score_block``."""

from __future__ import annotations

import numpy as np
import pytest

from mfbench.algorithm import Algorithm, AlgorithmProtocol
from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import generate


class Means(Algorithm):
    """Item means, with a dict-valued and a None-valued learned attribute."""

    state_attrs = ("tables_", "missing_")

    def fit(self, train, valid=None):
        sums = np.bincount(train.items, train.values, minlength=train.n_items)
        counts = np.maximum(np.bincount(train.items, minlength=train.n_items), 1)
        self.tables_ = {"item_mean": (sums / counts).astype(np.float32), "scale": np.float32(1.0)}
        self.missing_ = None
        yield {}

    def _predict(self, users, items):
        return self.tables_["item_mean"][items] * self.tables_["scale"]


@pytest.fixture(scope="module")
def train():
    ratings, _ = generate(n_users=40, n_items=30, n_ratings=600, seed=1)
    return ratings


def test_a_subclass_without_fit_or_predict_cannot_be_built():
    class Half(Algorithm):
        def fit(self, train, valid=None):
            yield {}

    with pytest.raises(TypeError, match="_predict"):
        Half()


def test_the_base_class_fulfils_the_protocol_and_a_plain_object_can_too():
    assert isinstance(Means(), AlgorithmProtocol)
    assert not isinstance(object(), AlgorithmProtocol)


def test_dicts_and_none_round_trip_through_one_state_mechanism(train):
    algo = Means(device="cpu", seed=0)
    algo.prepare(train)
    list(algo.fit(train))
    state = algo.state()
    assert "tables_.item_mean" in state and "tables_.scale" in state and "missing_" not in state
    again = Means(device="cpu", seed=0)
    again.load_state(state)
    assert again.missing_ is None and set(again.tables_) == {"item_mean", "scale"}
    np.testing.assert_array_equal(again.predict(train.users, train.items), algo.predict(train.users, train.items))


def test_an_algorithm_without_state_says_why(train):
    class Outside(Means):
        state_attrs = None
        state_note = "its model lives in a library's objects"

    algo = Outside()
    algo.prepare(train)
    with pytest.raises(MfbenchError, match="Outside offers no state\\(\\): its model lives in a library's objects"):
        algo.state()


def test_recommend_is_the_ranking_function_over_the_model(train):
    from mfbench import ranking

    algo = Means(device="cpu", seed=0)
    algo.prepare(train)
    list(algo.fit(train))
    users = np.arange(train.n_users, dtype=np.int32)
    got = algo.recommend(users, n=5, train=train)
    want = ranking.recommend(algo, users, 5, True, train)
    np.testing.assert_array_equal(got[0], want[0])
    seen = set(zip(train.users.tolist(), train.items.tolist()))
    assert not any((u, i) in seen for u, row in zip(users.tolist(), got[0].tolist()) for i in row if i >= 0)


def test_the_same_seed_check_holds_only_reproducible_devices_to_identical_bits(stand_in_gpu, monkeypatch):
    """Lock-free or atomic GPU paths cannot give identical bits on a rerun: the conformance check
    holds them to the same test RMSE instead, where the spec says so (``reproducible_on``)."""
    import types

    import mfbench.testing as testing
    from mfbench.specs import AlgorithmSpec

    runs = iter(range(100))

    class Jittery(Means):
        def _predict(self, users, items):  # each object adds its own rounding-sized noise
            jitter = 1e-4 * next(runs)
            return super()._predict(users, items) + np.float32(jitter)

    spec = AlgorithmSpec("jittery", Jittery, devices=("cpu", "gpu"), reproducible_on=("cpu",))
    monkeypatch.setattr(testing, "get_registry", lambda: types.SimpleNamespace(algorithm=lambda name: spec))

    class Checks(testing.AlgorithmChecks):
        algorithm = "jittery"

    split = testing.planted_split()
    checks = Checks()
    for device in ("cpu", "gpu"):
        algo, infos = Checks._train(Jittery, split, device)
        if device == "gpu":
            checks.test_check_same_seed_same_result((device, algo, infos), Jittery, split)
        else:
            with pytest.raises(AssertionError):
                checks.test_check_same_seed_same_result((device, algo, infos), Jittery, split)
