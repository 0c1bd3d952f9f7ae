"""Each built-in's epoch time is training alone: monitoring (its objective over the training
set, the runner's train_mse, validation) is computed outside the clock."""

import time

import numpy as np
import pytest

from mfbench.registry import get_registry
from mfbench.runner import Cell, Job, run_cell
from mfbench.testing import planted_split

SLEEP = 0.4
#: algorithms whose epoch alone takes longer than SLEEP get a longer one: MLlib's fit of the
#: planted data takes 2-3 s (Spark jobs on a JVM)
SLOW_EPOCH = {"spark_als": 10.0}
FAST = {"k": 4, "epochs": 2, "batch_size": 256}


@pytest.fixture(scope="module")
def split():
    return planted_split(n_users=60, n_items=40, n_ratings=1500)


def builtins():
    reg = get_registry()
    return [e.spec for e in reg.listing("algorithm") if e.distribution.startswith("mfbench ")]


@pytest.mark.parametrize("spec", builtins(), ids=lambda s: s.name)
def test_no_builtin_predicts_the_training_set_inside_an_epoch(monkeypatch, split, spec):
    """Predicting over the training ratings is made to cost 0.4 s: an algorithm that computed a
    training loss that way inside ``fit`` (``svd`` and ``biases`` once did) shows it in its epoch
    time; the runner's own train_mse must not."""
    for prefix, module in (("surprise", "surprise"), ("lenskit", "lenskit"), ("spark", "pyspark"), ("myfm", "myfm")):
        if spec.name.startswith(prefix):
            pytest.importorskip(module)
    sleep = SLOW_EPOCH.get(spec.name, SLEEP)
    cls = spec.factory
    original = cls._predict
    n_train = len(split.train)

    def slow_on_the_training_set(self, users, items):
        if len(users) >= n_train:
            time.sleep(sleep)
        return original(self, users, items)

    monkeypatch.setattr(cls, "_predict", slow_on_the_training_set)
    params = {k: v for k, v in FAST.items() if k in spec.defaults}
    rec = run_cell(Job("clock", Cell(spec.name, params, "planted", split.name, "cpu", 0), split, cls, {}))
    assert rec["status"] == "ok", rec["error"]
    assert max(rec["epoch_seconds"]) < sleep, (spec.name, rec["epoch_seconds"])


def test_als_objective_is_off_the_clock(monkeypatch, split):
    """``als`` computed its full regularized loss inside every epoch (8-9% of the epoch at 2M
    ratings); it now yields it as a callable the runner evaluates after the clock stops."""
    from mfbench_plugins.algorithms.als import als

    original = als.ALS._loss
    monkeypatch.setattr(als.ALS, "_loss", lambda self: time.sleep(SLEEP) or original(self))
    rec = run_cell(
        Job("clock", Cell("als", {"k": 4, "epochs": 2}, "planted", split.name, "cpu", 0), split, als.ALS, {})
    )
    assert rec["status"] == "ok", rec["error"]
    assert max(rec["epoch_seconds"]) < SLEEP, rec["epoch_seconds"]
    assert all(np.isfinite(p["objective"]) for p in rec["curve"])
