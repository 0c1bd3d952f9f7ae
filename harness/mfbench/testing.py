"""A conformance suite for algorithm plugins, importable by third-party packages.

Write one class per algorithm with data, no code::

    # conftest.py of your package:  pytest.register_assert_rewrite("mfbench.testing")
    from mfbench.testing import AlgorithmChecks

    class TestMyMF(AlgorithmChecks):
        algorithm = "my_mf"                 # the registered name
        devices = ("cpu", "gpu")            # a missing GPU shows as a skip with its reason
        params = {"epochs": 5}              # small settings that keep the checks fast
        expected_rmse = (0.30, 0.45)        # held-out RMSE on the planted data (noise 0.3)
        expected_failures = {"check_same_seed_same_result": "uses atomics on GPU"}

Each class trains once per device (class-scoped fixtures) on a small planted low-rank
dataset with cold users and items in its test part, then runs the checks below.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from .algorithm import Algorithm
from .data import Split
from .errors import DeviceUnavailable
from .plugins import get_registry

__all__ = ["AlgorithmChecks", "planted_split", "require_device"]


def require_device(device: str) -> None:
    """Skip (with the reason) when ``device`` is not usable here."""
    if device == "cpu":
        return
    from . import devices

    try:
        devices.require(device)
    except DeviceUnavailable as exc:
        pytest.skip(str(exc))


def planted_split(seed: int = 0, n_users: int = 300, n_items: int = 200, n_ratings: int = 15_000, rank: int = 4,
                  noise: float = 0.3) -> Split:
    """A rank-``rank`` problem with 1..5 ratings; user 0 and item 0 appear only in test (cold)."""
    from mfbench_datasets.synthetic import generate

    r, _ = generate(n_users=n_users, n_items=n_items, n_ratings=n_ratings, rank=rank, noise=noise, seed=seed,
                    user_sigma=0.3, item_sigma=0.3, step=0.5)
    rng = np.random.default_rng(seed)
    test = rng.random(len(r)) < 0.2
    test |= (r.users == 0) | (r.items == 0)
    return Split(train=r.take(~test), test=r.take(test), name="planted")


class AlgorithmChecks:
    """Checks every algorithm must pass; subclass with ``algorithm = "name"``."""

    algorithm: ClassVar[str] = ""
    devices: ClassVar[tuple[str, ...]] = ("cpu",)
    params: ClassVar[dict[str, Any]] = {}
    expected_rmse: ClassVar[tuple[float, float] | None] = None
    expected_failures: ClassVar[dict[str, str]] = {}
    #: Modules the algorithm needs (an optional extra); the checks skip, with the reason, without them.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Relative tolerance of the cross-device comparison (cpu vs gpu predictions).
    device_rtol: ClassVar[float] = 1e-3

    # -- fixtures ------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def split(cls) -> Split:
        return planted_split()

    @pytest.fixture(scope="class")
    @classmethod
    def factory(cls) -> Any:
        for module in cls.requires:
            pytest.importorskip(module, reason=f"{cls.algorithm} needs {module}, which is not installed")
        return get_registry().algorithm(cls.algorithm).factory

    @classmethod
    def _train(cls, factory: Any, split: Split, device: str, seed: int = 0) -> tuple[Algorithm, list[Any]]:
        algo = factory(**cls.params, device=device, seed=seed)
        algo.prepare(split.train)
        infos = list(algo.fit(split.train, split.valid))
        return algo, infos

    def pytest_generate_tests(self, metafunc: Any) -> None:
        """One case per device the algorithm declares (a GPU case skips, with its reason, without a GPU)."""
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", list(self.devices), scope="class")

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls, device: str, factory: Any, split: Split) -> tuple[str, Algorithm, list[Any]]:
        require_device(device)
        algo, infos = cls._train(factory, split, device)
        return device, algo, infos

    def _xfail(self, check: str) -> None:
        if check in self.expected_failures:
            pytest.xfail(self.expected_failures[check])

    # -- checks --------------------------------------------------------------------------------
    def test_check_params_round_trip(self, factory: Any) -> None:
        self._xfail("check_params_round_trip")
        algo = factory(**self.params, device="cpu", seed=0)
        params = algo.params()
        again = factory(**params, device="cpu", seed=0)
        assert again.params() == params
        for key, value in self.params.items():
            assert params[key] == value, f"{key} was changed by __init__: {value!r} -> {params[key]!r}"

    def test_check_fit_yields_once_per_epoch(self, trained: Any) -> None:
        self._xfail("check_fit_yields_once_per_epoch")
        _, algo, infos = trained
        assert len(infos) >= 1
        epochs = algo.params().get("epochs")
        if isinstance(epochs, int):
            assert len(infos) == epochs, f"fit yielded {len(infos)} times for epochs={epochs}"
        for info in infos:
            assert isinstance(info, dict)
            for key, value in info.items():
                value = value() if callable(value) else value  # monitoring the runner evaluates off the clock
                assert np.isfinite(float(value)), f"epoch info {key}={value} is not finite"

    def test_check_predictions_finite_float32(self, trained: Any, split: Split) -> None:
        self._xfail("check_predictions_finite_float32")
        _, algo, _ = trained
        pred = algo.predict(split.test.users, split.test.items)
        assert isinstance(pred, np.ndarray) and pred.dtype == np.float32
        assert pred.shape == (len(split.test),)
        assert np.isfinite(pred).all()
        low, high = split.train.rating_scale
        assert pred.min() >= low and pred.max() <= high

    def test_check_unseen_rule(self, trained: Any, split: Split) -> None:
        """Cold users get ``mu + b_i``, cold items ``mu + b_u``, both cold ``mu`` (clipped)."""
        self._xfail("check_unseen_rule")
        _, algo, _ = trained
        assert split.cold["cold_users"] >= 1 and split.cold["cold_items"] >= 1
        base = algo.baseline_
        warm_item = int(split.train.items[0])
        warm_user = int(split.train.users[0])
        pred = algo.predict(np.array([0, warm_user, 0]), np.array([warm_item, 0, 0]))
        expect = np.array([base.mu + base.item_bias[warm_item], base.mu + base.user_bias[warm_user], base.mu], np.float32)
        np.testing.assert_allclose(pred, np.clip(expect, *split.train.rating_scale), rtol=1e-6)

    def test_check_training_data_not_mutated(self, factory: Any, split: Split) -> None:
        self._xfail("check_training_data_not_mutated")
        train = split.train
        before = [a.copy() for a in (train.users, train.items, train.values)]
        self._train(factory, split, "cpu")
        for a, b in zip(before, (train.users, train.items, train.values)):
            np.testing.assert_array_equal(a, b)

    def test_check_same_seed_same_result(self, trained: Any, factory: Any, split: Split) -> None:
        self._xfail("check_same_seed_same_result")
        device, algo, _ = trained
        again, _ = self._train(factory, split, device)
        np.testing.assert_array_equal(algo.predict(split.test.users, split.test.items),
                                      again.predict(split.test.users, split.test.items))

    def test_check_state_round_trip(self, trained: Any, factory: Any, split: Split) -> None:
        self._xfail("check_state_round_trip")
        device, algo, _ = trained
        state = algo.state()
        assert all(isinstance(v, np.ndarray) for v in state.values())
        fresh = factory(**self.params, device=device, seed=123)
        fresh.load_state(state)
        np.testing.assert_array_equal(fresh.predict(split.test.users, split.test.items),
                                      algo.predict(split.test.users, split.test.items))

    def test_check_recommend(self, trained: Any, split: Split) -> None:
        self._xfail("check_recommend")
        _, algo, _ = trained
        users = np.arange(5, dtype=np.int32)
        items, scores = algo.recommend(users, n=7, exclude_seen=True, train=split.train)
        assert items.shape == scores.shape == (5, 7)
        assert (np.diff(scores, axis=1) <= 1e-6).all(), "scores must be in descending order"
        for row, u in enumerate(users):
            seen = set(split.train.items[split.train.users == u].tolist())
            assert not seen & set(items[row].tolist()), f"user {u} was recommended an item already rated"
            np.testing.assert_allclose(scores[row], algo.predict(np.full(7, u), items[row]), rtol=1e-5)

    def test_check_planted_structure(self, trained: Any, split: Split) -> None:
        self._xfail("check_planted_structure")
        if self.expected_rmse is None:
            pytest.skip(f"{self.algorithm}: no expected_rmse declared for the planted data")
        _, algo, _ = trained
        from mfbench_plugins.metrics import rmse

        got = rmse(split.test.values, algo.predict(split.test.users, split.test.items))
        low, high = self.expected_rmse
        assert low <= got <= high, f"held-out RMSE {got:.4f} outside the expected [{low}, {high}]"

    def test_check_devices_agree(self, factory: Any, split: Split) -> None:
        """The GPU path predicts what the CPU path predicts, on the same seed."""
        self._xfail("check_devices_agree")
        if "gpu" not in self.devices:
            pytest.skip(f"{self.algorithm} runs on cpu only")
        require_device("gpu")
        cpu, _ = self._train(factory, split, "cpu")
        gpu, _ = self._train(factory, split, "gpu")
        np.testing.assert_allclose(gpu.predict(split.test.users, split.test.items),
                                   cpu.predict(split.test.users, split.test.items), rtol=self.device_rtol, atol=1e-3)
