"""Fake algorithms with scripted behaviour, for the runner's logic (importable by worker processes)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.algorithm import Algorithm


class Scripted(Algorithm):
    """Predicts ``mu + offsets[epoch]``: a scripted validation curve. ``nan_at`` makes the loss NaN."""

    state_attrs = ("mu_", "offset_")

    def __init__(
        self,
        *,
        offsets: tuple = (1.0, 0.5, 0.2, 0.6, 0.9, 1.2),
        nan_at: int = 0,
        sleep: float = 0.0,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.offsets = offsets
        self.nan_at = nan_at
        self.sleep = sleep

    def fit(self, train, valid=None) -> Iterator[dict[str, float]]:
        self.mu_ = float(train.values.mean())
        for epoch, off in enumerate(self.offsets, 1):
            time.sleep(self.sleep)
            self.offset_ = float(off)
            yield {"objective": float("nan") if epoch == self.nan_at else off}

    def _predict(self, users: Any, items: Any) -> Any:
        return np.full(len(users), self.mu_ + self.offset_, np.float32)


class Raises(Scripted):
    def fit(self, train, valid=None):
        self.mu_, self.offset_ = 3.0, 0.0
        yield {"objective": 1.0}
        raise RuntimeError("boom in epoch 2")


class Dies(Scripted):
    def fit(self, train, valid=None):
        os._exit(3)
        yield {}


class Hangs(Scripted):
    def fit(self, train, valid=None):
        while True:
            time.sleep(0.05)
        yield {}


class SlowMonitor(Scripted):
    """Trains instantly; its objective takes ``sleep`` seconds to compute, and so does every
    prediction over more than a handful of pairs (as the runner's train_mse makes)."""

    def fit(self, train, valid=None):
        self.mu_, self.offset_ = float(train.values.mean()), 0.0
        for _ in range(3):
            yield {"objective": lambda: time.sleep(self.sleep) or 1.0}

    def _predict(self, users, items):
        if len(users) > 10:
            time.sleep(self.sleep)
        return super()._predict(users, items)


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


class KillsItsDaskWorker(Scripted):
    """Kills the dask worker process running it (the parent of the fork server that started
    this cell's process), then finishes like ``Scripted``: a worker dying mid-cell."""

    def fit(self, train, valid=None):
        import signal

        os.kill(_parent_of(os.getppid()), signal.SIGKILL)
        time.sleep(2.0)
        yield from super().fit(train, valid)
