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
dataset with cold users and items in its test part, then runs the checks below. The data is
read-only: an algorithm that writes into its input fails every check. An expected failure is a
strict ``xfail``: once the check passes it reports XPASS(strict) and fails, so that the list
stays true. The suite needs the harness alone, not mfbench's built-in plugins.
"""

from __future__ import annotations

import functools
import os
from typing import Any, ClassVar

import numpy as np
import pytest

from .algorithm import AlgorithmProtocol
from .data import Ratings, Split
from .errors import DeviceUnavailable
from .registry import get_registry

__all__ = ["AlgorithmChecks", "planted_ratings", "planted_split", "require_device"]


def require_device(device: str) -> None:
    """Skip (with the reason) when ``device`` is not usable here; fail instead when the
    environment sets ``MFBENCH_REQUIRE_GPU=1`` (a GPU machine's check, where a skip would hide
    a broken install)."""
    if device == "cpu":
        return
    from . import devices

    try:
        devices.require(device)
    except DeviceUnavailable as exc:
        if os.environ.get("MFBENCH_REQUIRE_GPU") == "1":
            pytest.fail(f"MFBENCH_REQUIRE_GPU=1 and {exc}")
        pytest.skip(str(exc))


def planted_ratings(
    seed: int = 0,
    n_users: int = 300,
    n_items: int = 200,
    n_ratings: int = 15_000,
    rank: int = 4,
    noise: float = 0.3,
    step: float = 0.5,
) -> Ratings:
    """``mu + b_u + b_i + p_u . q_i`` plus normal noise of sd ``noise``, rounded to ``step`` and
    clipped to 1..5, on ``n_ratings`` distinct pairs drawn with mildly skewed (log-normal, sigma
    0.3) user and item activity; ``mu`` 3.5, biases of sd 0.4, ``var(p_u . q_i)`` 0.64."""
    rng = np.random.default_rng(seed)
    if n_ratings > n_users * n_items:
        raise ValueError(f"{n_ratings} ratings do not fit {n_users} x {n_items} pairs")
    sd = np.sqrt(0.8 / np.sqrt(rank))
    P, Q = rng.normal(0, sd, (n_users, rank)), rng.normal(0, sd, (n_items, rank))
    bu, bi = rng.normal(0, 0.4, n_users), rng.normal(0, 0.4, n_items)
    weight = np.outer(rng.lognormal(0, 0.3, n_users), rng.lognormal(0, 0.3, n_items)).ravel()
    keys = rng.exponential(size=weight.size) / weight  # weighted sampling without replacement
    pairs = np.sort(np.argpartition(keys, n_ratings - 1)[:n_ratings])
    users, items = np.divmod(pairs, n_items)
    clean = 3.5 + bu[users] + bi[items] + np.einsum("nk,nk->n", P[users], Q[items])
    values = np.clip(np.round((clean + rng.normal(0, noise, n_ratings)) / step) * step, 1.0, 5.0)
    return Ratings(
        users.astype(np.int32),
        items.astype(np.int32),
        values.astype(np.float32),
        np.arange(n_users),
        np.arange(n_items),
        None,
        (1.0, 5.0),
    )


def planted_split(
    seed: int = 0, n_users: int = 300, n_items: int = 200, n_ratings: int = 15_000, rank: int = 4, noise: float = 0.3
) -> Split:
    """A rank-``rank`` problem with 1..5 ratings; user 0 and item 0 appear only in test (cold)."""
    r = planted_ratings(seed, n_users, n_items, n_ratings, rank, noise)
    rng = np.random.default_rng(seed)
    test = rng.random(len(r)) < 0.2
    test |= (r.users == 0) | (r.items == 0)
    return Split(train=r.take(~test), test=r.take(test), name="planted")


def _read_only(split: Split) -> Split:
    for part in (split.train, split.valid, split.test):
        if part is not None:
            for array in (part.users, part.items, part.values, part.timestamps):
                if array is not None:
                    array.flags.writeable = False
    return split


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
    #: Relative tolerance between two runs' test RMSE of one seed on a device the algorithm does
    #: not declare reproducible (``AlgorithmSpec.reproducible_on``).
    rerun_rmse_rtol: ClassVar[float] = 0.02
    #: Devices where one seed gives identical bits; ``None``: the registered spec's
    #: (``AlgorithmSpec.reproducible_on``), or every device for an unregistered factory.
    reproducible_on: ClassVar[tuple[str, ...] | None] = None

    # -- fixtures ------------------------------------------------------------------------------
    @pytest.fixture(scope="class")
    @classmethod
    def split(cls) -> Split:
        return _read_only(planted_split())

    @pytest.fixture(scope="class")
    @classmethod
    def factory(cls) -> Any:
        for module in cls.requires:
            pytest.importorskip(module, reason=f"{cls.algorithm} needs {module}, which is not installed")
        return get_registry().algorithm(cls.algorithm).factory

    @classmethod
    def _train(cls, factory: Any, split: Split, device: str, seed: int = 0) -> tuple[AlgorithmProtocol, list[Any]]:
        algo = factory(**cls.params, device=device, seed=seed)
        algo.prepare(split.train)
        infos = list(algo.fit(split.train, split.valid))
        return algo, infos

    def pytest_generate_tests(self, metafunc: Any) -> None:
        """One case per device the algorithm declares (a GPU case skips, with its reason, without a GPU)."""
        if "device" in metafunc.fixturenames:
            metafunc.parametrize("device", list(self.devices), scope="class")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Each check named in ``expected_failures`` becomes a strict ``xfail`` on the subclass: it
        runs, and a pass fails the suite (XPASS(strict)), so that a stale expectation shows."""
        super().__init_subclass__(**kwargs)
        for check, reason in cls.expected_failures.items():
            base = getattr(cls, f"test_{check}", None)
            if base is None:
                raise TypeError(f"{cls.__name__}.expected_failures names no check {check!r}")

            @functools.wraps(base)
            def expected_to_fail(self: Any, *args: Any, _check: Any = base, **kw: Any) -> None:
                _check(self, *args, **kw)

            setattr(cls, f"test_{check}", pytest.mark.xfail(reason=reason, strict=True)(expected_to_fail))

    @pytest.fixture(scope="class")
    @classmethod
    def trained(cls, device: str, factory: Any, split: Split) -> tuple[str, AlgorithmProtocol, list[Any]]:
        require_device(device)
        algo, infos = cls._train(factory, split, device)
        return device, algo, infos

    # -- checks --------------------------------------------------------------------------------
    def test_check_params_round_trip(self, factory: Any) -> None:
        algo = factory(**self.params, device="cpu", seed=0)
        assert isinstance(algo, AlgorithmProtocol), (
            f"{type(algo).__name__} lacks a method of mfbench.algorithm.AlgorithmProtocol"
        )
        params = algo.params()
        again = factory(**params, device="cpu", seed=0)
        assert again.params() == params
        for key, value in self.params.items():
            assert params[key] == value, f"{key} was changed by __init__: {value!r} -> {params[key]!r}"

    def test_check_parameter_constraints(self, factory: Any) -> None:
        """Declared constraints (``mfbench.params``) name real parameters, and accept the defaults
        and the class's ``params``."""
        from .params import check_params, constraints_of
        from .specs import signature_defaults

        declared, defaults = constraints_of(factory), signature_defaults(factory)
        unknown = sorted(set(declared) - set(defaults))
        assert not unknown, f"constraints declared for parameters {factory.__name__} does not take: {unknown}"
        check_params(self.algorithm, {**defaults, **self.params}, defaults, declared)

    def test_check_fit_yields_once_per_epoch(self, trained: Any) -> None:
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
        _, algo, _ = trained
        pred = algo.predict(split.test.users, split.test.items)
        assert isinstance(pred, np.ndarray) and pred.dtype == np.float32
        assert pred.shape == (len(split.test),)
        assert np.isfinite(pred).all()
        assert split.train.rating_scale is not None
        low, high = split.train.rating_scale
        assert pred.min() >= low and pred.max() <= high

    def test_check_unseen_rule(self, trained: Any, split: Split) -> None:
        """Cold users get ``mu + b_i``, cold items ``mu + b_u``, both cold ``mu`` (clipped)."""
        _, algo, _ = trained
        assert split.cold["cold_users"] >= 1 and split.cold["cold_items"] >= 1
        base = algo.baseline_
        warm_item = int(split.train.items[0])
        warm_user = int(split.train.users[0])
        pred = algo.predict(np.array([0, warm_user, 0]), np.array([warm_item, 0, 0]))
        expect = np.array(
            [base.mu + base.item_bias[warm_item], base.mu + base.user_bias[warm_user], base.mu], np.float32
        )
        assert split.train.rating_scale is not None
        low, high = split.train.rating_scale
        np.testing.assert_allclose(pred, np.clip(expect, low, high), rtol=1e-6)

    def test_check_training_data_not_mutated(self, factory: Any, split: Split) -> None:
        train = split.train
        before = [a.copy() for a in (train.users, train.items, train.values)]
        self._train(factory, split, "cpu")
        for a, b in zip(before, (train.users, train.items, train.values)):
            np.testing.assert_array_equal(a, b)

    @classmethod
    def _reproducible_devices(cls) -> tuple[str, ...]:
        """``reproducible_on`` of the class, else of the registered algorithm's spec, else every
        device (a plugin's test class may supply its factory without registering it)."""
        if cls.reproducible_on is not None:
            return cls.reproducible_on
        from .errors import UnknownNameError

        try:
            return get_registry().algorithm(cls.algorithm).reproducible_devices
        except UnknownNameError:
            return ("cpu", "gpu")

    def test_check_same_seed_same_result(self, trained: Any, factory: Any, split: Split) -> None:
        """Bit-identical predictions on the devices the algorithm declares reproducible; the
        same test RMSE within ``rerun_rmse_rtol`` on the others (``AlgorithmSpec.reproducible_on``)."""
        device, algo, _ = trained
        again, _ = self._train(factory, split, device)
        first = algo.predict(split.test.users, split.test.items)
        second = again.predict(split.test.users, split.test.items)
        if device in self._reproducible_devices():
            np.testing.assert_array_equal(first, second)
            return
        truth = split.test.values.astype(np.float64)
        rmse = [float(np.sqrt(np.mean((truth - p) ** 2))) for p in (first, second)]
        assert abs(rmse[0] - rmse[1]) <= self.rerun_rmse_rtol * rmse[0], (
            f"{self.algorithm} on {device}: two runs of one seed reach test RMSE {rmse[0]:.4f} and {rmse[1]:.4f}"
        )

    def test_check_state_round_trip(self, trained: Any, factory: Any, split: Split) -> None:
        device, algo, _ = trained
        state = algo.state()
        assert all(isinstance(v, np.ndarray) for v in state.values())
        fresh = factory(**self.params, device=device, seed=123)
        fresh.load_state(state)
        np.testing.assert_array_equal(
            fresh.predict(split.test.users, split.test.items), algo.predict(split.test.users, split.test.items)
        )

    def test_check_recommend(self, trained: Any, split: Split) -> None:
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
        if self.expected_rmse is None:
            pytest.skip(f"{self.algorithm}: no expected_rmse declared for the planted data")
        _, algo, _ = trained
        pred = algo.predict(split.test.users, split.test.items)
        got = float(np.sqrt(np.mean((split.test.values.astype(np.float64) - pred) ** 2)))
        low, high = self.expected_rmse
        assert low <= got <= high, f"held-out RMSE {got:.4f} outside the expected [{low}, {high}]"

    def test_check_devices_agree(self, factory: Any, split: Split) -> None:
        """The GPU path predicts what the CPU path predicts, on the same seed."""
        if "gpu" not in self.devices:
            pytest.skip(f"{self.algorithm} runs on cpu only")
        require_device("gpu")
        cpu, _ = self._train(factory, split, "cpu")
        gpu, _ = self._train(factory, split, "gpu")
        np.testing.assert_allclose(
            gpu.predict(split.test.users, split.test.items),
            cpu.predict(split.test.users, split.test.items),
            rtol=self.device_rtol,
            atol=1e-3,
        )
