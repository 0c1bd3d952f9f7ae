"""The runner's logic on scripted fake algorithms: early stopping, divergence, budgets, failures."""

import numpy as np
import pytest

from mfbench.data import Dataset, make_splits, parse_protocol
from mfbench.runner import Cell, Control, Job, run_cell
from mfbench_datasets.synthetic import generate
from mfbench_plugins.executors import InlineExecutor, LocalExecutor
from mfbench_plugins.metrics import mae, rmse
from support.fakes import Dies, Hangs, Raises, Scripted


@pytest.fixture(scope="module")
def split():
    r, _ = generate(n_users=80, n_items=60, n_ratings=2000, seed=0)
    return next(make_splits(Dataset("tiny", r), parse_protocol("holdout"), valid_fraction=0.2))


def job(split, factory, control=Control(), **params):
    cell = Cell(factory.__name__.lower(), params, "tiny", split.name, "cpu", 0)
    return Job("test", cell, split, factory, {"rmse": rmse, "mae": mae}, control)


def test_record_holds_times_curve_and_metrics(split):
    rec = run_cell(job(split, Scripted))
    assert rec["status"] == "ok" and rec["epochs"] == 6 and rec["stopped"] == "completed"
    assert len(rec["epoch_seconds"]) == 6 and rec["fit_seconds"] == pytest.approx(sum(rec["epoch_seconds"]))
    assert [p["epoch"] for p in rec["curve"]] == [1, 2, 3, 4, 5, 6]
    assert all("valid_rmse" in p and "train_mse" in p for p in rec["curve"])
    assert rec["prepare_seconds"] >= 0 and rec["predict_seconds"] >= 0 and rec["peak_rss_bytes"] > 0
    assert set(rec["metrics"]) == {"rmse", "mae"}
    assert rec["split"]["n_valid"] == len(split.valid)


def test_fit_cpu_seconds_counts_the_process_working_not_waiting(split):
    asleep = run_cell(job(split, Scripted, sleep=0.02))  # 6 epochs of 20 ms asleep
    assert asleep["fit_seconds"] >= 0.12 and 0 <= asleep["fit_cpu_seconds"] < asleep["fit_seconds"] / 2


def test_early_stopping_restores_the_best_epoch(split):
    rec = run_cell(job(split, Scripted, Control(patience=2)))
    assert rec["stopped"] == "early_stopping" and rec["epochs"] == 5 and rec["best_epoch"] == 3
    # the scored model is the epoch-3 one: mu + 0.2
    mu = float(split.train.values.mean())
    expect = rmse(split.test.values, np.clip(np.full(len(split.test), mu + 0.2), 1, 5))
    assert rec["metrics"]["rmse"] == pytest.approx(expect, rel=1e-5)


def test_nan_loss_is_recorded_as_diverged(split):
    rec = run_cell(job(split, Scripted, nan_at=2))
    assert rec["status"] == "diverged" and rec["epochs"] == 2 and "epoch 2" in rec["error"]
    assert "metrics" not in rec


def test_time_budget_stops_training(split):
    rec = run_cell(job(split, Scripted, Control(time_budget=0.05), sleep=0.03))
    assert rec["status"] == "ok" and rec["stopped"] == "time_budget" and rec["epochs"] == 2


def test_max_epochs(split):
    rec = run_cell(job(split, Scripted, Control(max_epochs=3)))
    assert rec["epochs"] == 3 and rec["stopped"] == "max_epochs"


def test_exception_is_recorded_with_traceback(split):
    rec = run_cell(job(split, Raises))
    assert rec["status"] == "failed" and "boom in epoch 2" in rec["error"]
    assert "RuntimeError" in rec["traceback"]


def test_inline_executor_yields_one_record_per_job(split):
    events = []
    recs = list(InlineExecutor().run([job(split, Scripted), job(split, Raises)], events.append))
    assert [r["status"] for r in recs] == ["ok", "failed"]
    assert sum(e["event"] == "epoch" for e in events) == 6 + 1


def test_local_executor_isolates_crashes_and_timeouts(split):
    events = []
    jobs = [job(split, Dies), job(split, Hangs, Control(timeout=1.0)), job(split, Scripted)]
    recs = list(LocalExecutor().run(jobs, events.append))
    assert recs[0]["status"] == "failed" and "exit code 3" in recs[0]["error"]
    assert recs[1]["status"] == "timed_out"
    assert recs[2]["status"] == "ok" and recs[2]["epochs"] == 6
    assert any(e["event"] == "epoch" for e in events), "epoch events cross the process boundary"


def test_predict_goes_in_chunks_and_equals_one_call(monkeypatch):
    """``predict`` hands ``_predict`` bounded chunks; the result does not depend on the chunk size."""
    import mfbench.algorithm as algorithm
    from mfbench_plugins.algorithms.sgd.sgd import SGD

    r, _ = generate(n_users=50, n_items=30, n_ratings=800, seed=1)
    algo = SGD(k=4, epochs=2, seed=0)
    algo.prepare(r)
    list(algo.fit(r))
    whole = algo.predict(r.users, r.items)
    sizes = []
    inner = algo._predict
    monkeypatch.setattr(algorithm, "PREDICT_CHUNK", 97)
    monkeypatch.setattr(algo, "_predict", lambda u, i: sizes.append(len(u)) or inner(u, i))
    np.testing.assert_array_equal(algo.predict(r.users, r.items), whole)
    assert max(sizes) == 97 and sum(sizes) == len(r)


def test_slow_epochs_are_logged_with_their_cell_off_a_terminal():
    """In a log (no terminal), a slow epoch's line names its cell: it comes before the cell's
    closing line, so it must not read as the previous cell's."""
    import io

    from mfbench._progress import SLOW_EPOCH_S, Progress

    out = io.StringIO()
    progress = Progress(total=2, stream=out)
    progress.cell_done({"status": "ok", "metrics": {"rmse": 0.9}, "fit_seconds": 1.0, "epochs": 1}, "a · d · cpu")
    progress.event({"event": "start", "cell_id": "b", "label": "b · d · cpu"})
    progress.event({"event": "epoch", "epoch": 1, "seconds": SLOW_EPOCH_S + 1, "train_mse": 0.5})
    progress.event({"event": "epoch", "epoch": 2, "seconds": 0.1, "train_mse": 0.4})  # fast: not logged
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[1/2] a · d · cpu: ok rmse 0.9000 (fit 1 s, 1 epochs) · about ")
    assert lines[1] == f"    [2/2] b · d · cpu · epoch 1: {SLOW_EPOCH_S + 1:.2f} s train MSE 0.5000"


def test_compiled_bias_passes_equal_numpy_bit_for_bit(monkeypatch):
    """Large data takes ``fit_biases``'s compiled passes, small data numpy's: the same biases to the bit."""
    import mfbench.algorithm as algorithm
    from mfbench.algorithm import fit_biases

    r, _ = generate(n_users=500, n_items=300, n_ratings=20_000, seed=2)
    args = (r.users, r.items, r.values, r.n_users, r.n_items, 10.0, 5.0)
    small = list(fit_biases(np, *args, passes=3))
    monkeypatch.setattr(algorithm, "COMPILED_BIASES_MIN", 0)
    compiled = list(fit_biases(np, *args, passes=3))
    for (mu_a, bu_a, bi_a), (mu_b, bu_b, bi_b) in zip(small, compiled):
        assert mu_a == mu_b
        np.testing.assert_array_equal(bu_a, bu_b)
        np.testing.assert_array_equal(bi_a, bi_b)
    assert not np.array_equal(small[0][1], small[-1][1])  # the passes do move the biases


def test_monitoring_is_off_the_epoch_clock(split):
    """A callable in an epoch's info (an objective over the training set) and the runner's
    train_mse are computed after the clock stops: 0.3 s of each per epoch, epochs of ~0 s."""
    from support.fakes import SlowMonitor

    rec = run_cell(job(split, SlowMonitor, sleep=0.3))
    assert rec["status"] == "ok", rec["error"]
    assert [p["objective"] for p in rec["curve"]] == [1.0, 1.0, 1.0]
    assert all(p["train_mse"] > 0 for p in rec["curve"])
    assert max(rec["epoch_seconds"]) < 0.15, rec["epoch_seconds"]


def test_train_mse_is_measured_alike_for_every_algorithm(split):
    """train_mse is the runner's: the mean squared error of the algorithm's predictions over the
    training ratings (all of them on a split this small), whatever the algorithm reports itself."""
    from mfbench.runner import train_sample

    a = run_cell(job(split, Scripted, offsets=(0.0,)))
    mu = float(split.train.values.mean())
    want = float(np.mean((split.train.values.astype(np.float64) - np.float32(mu)) ** 2))
    assert a["curve"][0]["train_mse"] == pytest.approx(want, rel=1e-6)
    assert len(train_sample(split.train)) == len(split.train)


def test_train_mse_sample_is_fixed_and_bounded(monkeypatch):
    """Past ``TRAIN_MSE_SAMPLE`` ratings, a fixed draw of about that many distinct ratings."""
    from mfbench import runner

    monkeypatch.setattr(runner, "TRAIN_MSE_SAMPLE", 1000)
    big = list(range(50_000))
    a, b = runner.train_sample(big), runner.train_sample(big)
    assert np.array_equal(a, b) and 900 <= len(a) <= 1000 and len(np.unique(a)) == len(a)
    assert a.min() >= 0 and a.max() < 50_000


def test_tree_peak_counts_a_child_process():
    """A cell's peak memory counts what its children hold (a peer's JVM): 200 MB in a child."""
    import subprocess
    import sys as _sys
    import time

    from mfbench.measure import TreePeak, current_rss_bytes, peak_rss_bytes

    if not _sys.platform.startswith("linux"):
        pytest.skip("TreePeak reads /proc")
    before = current_rss_bytes()
    with TreePeak(interval=0.02) as tree:
        child = subprocess.Popen(
            [
                _sys.executable,
                "-c",
                "import time; b = bytearray(200 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)",
            ]
        )
        time.sleep(1.0)
        sampled = tree.sampled_bytes
    child.wait()
    assert sampled >= before + 180 * 2**20, (sampled, before)
    assert tree.peak_bytes >= max(sampled, peak_rss_bytes())
    with TreePeak() as alone:
        pass
    assert alone.sampled_bytes == 0 or alone.sampled_bytes <= alone.peak_bytes


def test_threads_hold_for_a_blas_the_algorithm_loads_in_prepare(split):
    # als imports scipy (and scipy its own OpenBLAS) in prepare, after the cell set its threads
    from mfbench_plugins.algorithms.als.als import ALS

    rec = LocalExecutor().run_one(job(split, ALS, Control(threads=1), epochs=1), lambda e: None)
    assert rec["status"] == "ok", rec["error"]
    assert rec["threads_in_force"]["blas"] == 1


def test_an_algorithm_defined_in_main_fails_its_cell_clearly(split):
    Local = type("Local", (Scripted,), {"__module__": "__main__"})
    rec = LocalExecutor().run_one(job(split, Local), lambda e: None)
    assert rec["status"] == "failed"
    assert rec["error"] == (
        "local is defined in the script that runs mfbench (__main__), which a cell's process does "
        "not import: define it in a module of its own"
    )


def test_an_executor_specs_options_preset_its_factory_and_the_user_overrides_them():
    """``ExecutorSpec.options`` were never read: a spec presetting ``workers`` got the default."""
    from mfbench.specs import ExecutorSpec

    def factory(workers=1, scheduler=None):
        return {"workers": workers, "scheduler": scheduler}

    spec = ExecutorSpec("pool", factory, options={"workers": 4})
    assert spec.defaults == {"workers": 4, "scheduler": None}
    assert spec.make() == {"workers": 4, "scheduler": None}
    assert spec.make(workers=2, scheduler="tcp://h:1") == {"workers": 2, "scheduler": "tcp://h:1"}
