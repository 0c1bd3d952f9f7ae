"""Measurement end to end: repeats, curves, checkpoints, compare, gate, plots."""

import json
import shutil

import numpy as np
import pytest

from mfbench.cli import main
from support.cli import records, run_cli


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two runs of the same cells (biases, sgd on synthetic), with repeats and calibration."""
    out = tmp_path_factory.mktemp("runs")
    for run_id in ("a", "b"):
        try:
            main(
                [
                    "run",
                    "--algos",
                    "biases,sgd",
                    "--param",
                    "sgd.k=8",
                    "--param",
                    "sgd.epochs=4",
                    "--repeats",
                    "2",
                    "--valid",
                    "0.1",
                    "--out",
                    str(out),
                    "--run-id",
                    run_id,
                    "-q",
                ]
            )
        except SystemExit as exc:
            assert exc.code == 0
    return out


def test_repeats_and_curves_are_recorded(two_runs):
    recs = records(two_runs / "a" / "runs.jsonl")
    assert sorted((r["algorithm"], r["repeat"]) for r in recs) == [("biases", 0), ("biases", 1), ("sgd", 0), ("sgd", 1)]
    sgd = [r for r in recs if r["algorithm"] == "sgd"]
    for r in sgd:
        assert r["epochs"] == 4 and len(r["epoch_seconds"]) == 4
        assert [p["epoch"] for p in r["curve"]] == [1, 2, 3, 4]
        assert all({"seconds", "elapsed_seconds", "train_mse", "valid_rmse"} <= set(p) for p in r["curve"])
        assert r["prepare_seconds"] > 0 and r["predict_seconds"] > 0 and r["peak_rss_bytes"] > 10 * 2**20
        assert r["threads_in_force"]["numba"] >= 1
    env = json.loads((two_runs / "a" / "environment.json").read_text())
    assert env["calibration_seconds"] > 0


def test_compare_marks_rows(two_runs, capsys):
    code, out, _ = run_cli(["compare", "a", "b", "--out", str(two_runs)], capsys)
    assert code == 0
    rows = [line.split() for line in out.splitlines() if line.split()[1:2] in (["biases"], ["sgd"])]
    assert {r[1] for r in rows} == {"biases", "sgd"}
    assert all(r[0] in "+-~" for r in rows)  # same code, same accuracy: never ! or x
    assert "+0.0000" in out  # identical seeds give identical RMSE


def test_compare_flags_a_new_failure_and_changed_code(two_runs, tmp_path, capsys):
    shutil.copytree(two_runs / "b", tmp_path / "c")
    path = tmp_path / "c" / "runs.jsonl"
    recs = records(path)
    for r in recs:
        if r["algorithm"] == "sgd":
            r.update(status="failed", error="RuntimeError: planted")
        else:
            r["code_version"] = "changed"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, out, _ = run_cli(["compare", str(two_runs / "a"), str(tmp_path / "c")], capsys)
    marks = {
        line.split()[1]: line.split()[0] for line in out.splitlines() if line.split()[1:2] in (["biases"], ["sgd"])
    }
    assert marks == {"sgd": "!", "biases": "x"}


def test_gate_passes_an_unchanged_run_and_fails_a_doctored_one(two_runs, tmp_path, capsys):
    base = tmp_path / "baseline.json"
    code, out, _ = run_cli(["gate", "a", "--out", str(two_runs), "--baseline", str(base), "--update"], capsys)
    assert code == 0 and base.exists()
    code, out, _ = run_cli(["gate", "a", "--out", str(two_runs), "--baseline", str(base), "--min-seconds", "0"], capsys)
    assert code == 0 and "0 regression(s)" in out

    shutil.copytree(two_runs / "a", tmp_path / "slow")
    path = tmp_path / "slow" / "runs.jsonl"
    recs = records(path)
    for r in recs:
        if r["algorithm"] == "sgd":
            r["fit_seconds"] *= 2.0  # a planted slowdown
        if r["algorithm"] == "biases":
            r["metrics"]["rmse"] += 0.01  # a planted accuracy loss
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, out, _ = run_cli(["gate", str(tmp_path / "slow"), "--baseline", str(base), "--min-seconds", "0"], capsys)
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 2
    assert any(line.startswith("FAIL  sgd[") and "2.00x slower" in line for line in fails)
    assert any(line.startswith("FAIL  biases[") and "RMSE" in line for line in fails)


def test_gate_refuses_to_time_cells_run_on_other_thread_counts(two_runs, tmp_path, capsys):
    base = tmp_path / "baseline.json"
    run_cli(["gate", "a", "--out", str(two_runs), "--baseline", str(base), "--update"], capsys)
    stored = json.loads(base.read_text())
    assert all(c["threads_in_force"]["blas"] >= 1 for c in stored["cells"].values())
    shutil.copytree(two_runs / "a", tmp_path / "wider")
    path = tmp_path / "wider" / "runs.jsonl"
    recs = records(path)
    for r in recs:
        if r["algorithm"] == "sgd":
            r["threads_in_force"]["numba"] = r["threads_in_force"]["numba"] + 3  # as if run on more threads
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    code, out, _ = run_cli(["gate", str(tmp_path / "wider"), "--baseline", str(base), "--min-seconds", "0"], capsys)
    assert code == 1
    fails = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 1 and fails[0].startswith("FAIL  sgd[")
    numba = recs[-1]["threads_in_force"]["numba"]
    assert f"ran on {numba} numba" in fails[0] and f"run with --threads {numba - 3}" in fails[0]


def test_gate_calibration_absorbs_a_slower_machine(two_runs, tmp_path, capsys):
    base = tmp_path / "baseline.json"
    run_cli(["gate", "a", "--out", str(two_runs), "--baseline", str(base), "--update"], capsys)
    shutil.copytree(two_runs / "a", tmp_path / "slowbox")
    path = tmp_path / "slowbox" / "runs.jsonl"
    recs = records(path)
    for r in recs:
        r["fit_seconds"] *= 3.0
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    env_path = tmp_path / "slowbox" / "environment.json"
    env = json.loads(env_path.read_text())
    env["calibration_seconds"] *= 3.0  # the whole machine is three times slower
    env_path.write_text(json.dumps(env))
    code, out, _ = run_cli(["gate", str(tmp_path / "slowbox"), "--baseline", str(base), "--min-seconds", "0"], capsys)
    assert code == 0, out


def test_plot_writes_pngs_that_open(two_runs, tmp_path, capsys):
    pytest.importorskip("matplotlib", reason="the plot extra is part of the test extras")
    import matplotlib.image as mpimg

    code, out, err = run_cli(["plot", "a", "--out", str(two_runs), "--to", str(tmp_path)], capsys)
    assert code == 0, err
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["costs.png", "curves_by_epoch.png", "curves_by_time.png"]
    for p in tmp_path.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert mpimg.imread(p).shape[0] > 100


def test_checkpoint_restores_the_model(tmp_path, capsys):
    code, _, err = run_cli(
        [
            "run",
            "--algos",
            "sgd",
            "--param",
            "sgd.k=4",
            "--param",
            "sgd.epochs=3",
            "--checkpoint",
            "--out",
            str(tmp_path),
            "--run-id",
            "ck",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    (rec,) = records(tmp_path / "ck" / "runs.jsonl")
    state = dict(np.load(rec["checkpoint"]))
    from mfbench_plugins.algorithms.sgd.sgd import SGD

    algo = SGD(k=4)
    algo.load_state({k.replace("__", "."): v for k, v in state.items()})
    assert algo.P_.shape[1] == 4 and np.isfinite(algo.predict(np.array([0, 1]), np.array([0, 1]))).all()


@pytest.mark.realdata
def test_ml100k_records_hold_epoch_times_memory_and_curves(tmp_path, capsys, data_dir):
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "biases,als",
            "--param",
            "als.epochs=3",
            "--dataset",
            "ml-100k",
            "--folds",
            "official@1",
            "--valid",
            "0.05",
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path),
            "--run-id",
            "m",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    for r in records(tmp_path / "m" / "runs.jsonl"):
        assert r["split"]["name"] == "official/u1" and r["split"]["n_test"] == 20_000
        assert r["peak_rss_bytes"] > 0 and len(r["epoch_seconds"]) == r["epochs"] >= 1
        assert all(0.5 < p["valid_rmse"] < 1.5 for p in r["curve"])
    als = next(r for r in records(tmp_path / "m" / "runs.jsonl") if r["algorithm"] == "als")
    assert all(p["users_seconds"] > 0 and p["items_seconds"] > 0 for p in als["curve"])
