"""End to end through the CLI: the table, runs.jsonl, errors, resume."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import records, run_cli


def test_default_run_on_synthetic(tmp_path, capsys):
    """No arguments: the main families on the embedded synthetic set, every cell ok, the
    factorizations ahead of the biases, and a pointer to the HTML report at the end."""
    from mfbench.request import DEFAULT_ALGORITHMS

    code, out, err = run_cli(["run", "--out", str(tmp_path), "--run-id", "demo"], capsys)
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header[:6] == ["algorithm", "dataset", "device", "cells", "rmse", "mae"]
    rows = {l.split()[0]: l.split() for l in out.splitlines()[2:] if l.strip()}
    assert list(rows) == list(DEFAULT_ALGORITHMS)
    for mf in ("sgd", "als", "adam_sgd"):
        assert float(rows[mf][4]) < float(rows["biases"][4]) - 0.02, rows
    recs = records(tmp_path / "demo" / "runs.jsonl")
    assert [r["algorithm"] for r in recs] == list(DEFAULT_ALGORITHMS)
    for r in recs:
        assert r["status"] == "ok" and r["dataset"] == "synthetic" and r["device"] == "cpu"
        assert r["split"]["n_train"] + r["split"]["n_test"] == 100_000
        assert r["peak_rss_bytes"] > 0 and r["fit_seconds"] > 0 and r["versions"]["numpy"]
    env = json.loads((tmp_path / "demo" / "environment.json").read_text())
    assert env["cpu_count"] >= 1 and env["memory_total_bytes"] > 0 and env["versions"]["numpy"]
    assert (
        err.strip().splitlines()[-1]
        == f"report with curves and charts: mfbench report demo --out {tmp_path} --html report.html"
    )


@pytest.mark.realdata
def test_biases_on_ml100k_official_folds(tmp_path, capsys, data_dir):
    """User + item biases on the u1..u5 folds reach mean test RMSE <= 0.95 (a known bar)."""
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "global_mean,biases",
            "--dataset",
            "ml-100k",
            "--folds",
            "official",
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path),
            "--run-id",
            "ml",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    recs = records(tmp_path / "ml" / "runs.jsonl")
    assert len(recs) == 10
    assert sorted({r["split"]["name"] for r in recs}) == [f"official/u{n}" for n in range(1, 6)]
    biases = [r["metrics"]["rmse"] for r in recs if r["algorithm"] == "biases"]
    mean_rmse = sum(biases) / len(biases)
    assert mean_rmse <= 0.95, f"biases mean RMSE {mean_rmse:.4f}"
    row = next(l for l in out.splitlines() if l.startswith("biases"))
    assert "ml-100k" in row and "5/5" in row and f"{mean_rmse:.4f}" in row


def test_report_reprints_the_table(tmp_path, capsys):
    run_cli(["run", "--algos", "biases", "--out", str(tmp_path), "--run-id", "r", "-q"], capsys)
    code, out, _ = run_cli(["report", "r", "--out", str(tmp_path), "--format", "csv"], capsys)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("algorithm,dataset,device,cells,rmse,rmse_std")
    assert lines[1].startswith("biases,synthetic,cpu,1/1,")


def test_resume_skips_finished_cells(tmp_path, capsys):
    args = ["run", "--algos", "biases", "--seeds", "2", "--out", str(tmp_path), "--run-id", "res", "-q"]
    run_cli(args, capsys)
    # an interrupted run: drop the second record, leave a torn line behind
    path = tmp_path / "res" / "runs.jsonl"
    first = path.read_text().splitlines()[0]
    path.write_text(first + "\n" + '{"torn": ')
    code, _, err = run_cli(
        ["run", "--algos", "biases", "--seeds", "2", "--out", str(tmp_path), "--resume", "res"], capsys
    )
    assert code == 0, err
    assert "1 cells, 1 already done" in err
    recs = [json.loads(l) for l in path.read_text().splitlines() if l.startswith('{"schema')]
    assert sorted(r["seed"] for r in recs) == [0, 1]


@pytest.mark.parametrize(
    "args,message",
    [
        (["--algos", "biases,nope"], "unknown algorithm 'nope'; known algorithms: adam_sgd, adamax_sgd, als, biases"),
        (["--dataset", "nope"], "unknown dataset 'nope'"),
        (["--metrics", "rmse,auc"], "unknown metric 'auc'"),
        (["--param", "biases.reg=1"], "biases has no parameter 'reg'; its parameters: reg_user, reg_item, epochs"),
        (["--param", "biases.epochs=many"], "--param biases.epochs=many: epochs must be an int >= 1; got 'many'"),
        # declared constraints, checked before any data is loaded
        (
            ["--algos", "als", "--param", "als.solver=foo"],
            "--param als.solver=foo: solver must be one of auto, cholesky, cg, batched; got 'foo'",
        ),
        (["--algos", "als", "--param", "als.k=0"], "--param als.k=0: k must be an int >= 1; got 0"),
        (["--algos", "sgd", "--param", "sgd.lr=-0.1"], "--param sgd.lr=-0.1: lr must be a number > 0; got -0.1"),
        (
            ["--algos", "adam_sgd", "--param", "adam_sgd.beta1=1"],
            "--param adam_sgd.beta1=1: beta1 must be a number in [0, 1); got 1",
        ),
        (
            ["--algos", "svd", "--param", "svd.k=energy:1.5"],
            "--param svd.k=energy:1.5: k must be an int >= 1 or energy:F with 0 < F <= 1; got 'energy:1.5'",
        ),
        (["--dataset", "file"], "needs an argument: --dataset file:VALUE"),
        (["--folds", "random"], "--folds 'random' is not a split protocol"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--patience", "2"], "--patience needs a validation split"),
    ],
)
def test_bad_input_fails_before_work_in_one_line(tmp_path, capsys, args, message):
    code, out, err = run_cli(["run", "--out", str(tmp_path), *args], capsys)
    assert code == 2
    assert message in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir()), "nothing is written before validation passes"


def test_gpu_without_cupy_fails_in_one_line_with_the_hint(tmp_path, capsys):
    try:
        import cupy  # noqa: F401

        pytest.skip("cupy is installed here; the message is for machines without it")
    except ImportError:
        pass
    code, _, err = run_cli(["run", "--device", "gpu", "--out", str(tmp_path)], capsys)
    assert code == 2
    from mfbench.devices import gpu_install_hint

    assert (
        err.strip() == f"mfbench: error: --device gpu needs cupy, which is not installed (cupy); {gpu_install_hint()}"
    )
    assert "mfbench[gpu1" in gpu_install_hint() or "update the driver" in gpu_install_hint()


@pytest.mark.realdata
def test_the_gpu_command_runs_the_device_paths_end_to_end(stand_in_gpu, data_dir, tmp_path, capsys):
    """``mfbench run --algos als,adam_sgd --dataset ml-100k --device gpu`` through the GPU paths
    (on the numpy stand-in here): a table, and records with device memory and epoch times."""
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "als,adam_sgd",
            "--dataset",
            "ml-100k",
            "--folds",
            "official@1",
            "--device",
            "gpu",
            "--param",
            "als.epochs=5",
            "--param",
            "adam_sgd.epochs=5",
            "--executor",
            "inline",
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path),
            "--run-id",
            "g",
        ],
        capsys,
    )
    assert code == 0, err
    assert "als" in out and "adam_sgd" in out and "gpu" in out
    recs = records(tmp_path / "g" / "runs.jsonl")
    assert [(r["algorithm"], r["device"], r["status"]) for r in recs] == [
        ("als", "gpu", "ok"),
        ("adam_sgd", "gpu", "ok"),
    ]
    for rec in recs:
        assert rec["peak_gpu_bytes"] > 0 and "nvml_used_bytes" in rec
        assert rec["prepare_seconds"] > 0 and len(rec["epoch_seconds"]) == rec["epochs"] > 0
        assert rec["metrics"]["rmse"] < 1.0


def test_failed_cell_is_recorded_and_the_run_goes_on(tmp_path, capsys):
    # a rank beyond the data's is found only once the data is there: svd's cell fails, the other does not
    code, out, err = run_cli(
        ["run", "--algos", "global_mean,svd", "--param", "svd.k=5000", "--out", str(tmp_path), "--run-id", "f", "-q"],
        capsys,
    )
    recs = records(tmp_path / "f" / "runs.jsonl")
    assert [r["status"] for r in recs] == ["ok", "failed"]
    assert code == 1 and "not ok:" in out


def test_console_script_help():
    res = subprocess.run([sys.executable, "-m", "mfbench.cli", "run", "--help"], capture_output=True, text=True)
    assert res.returncode == 0
    for opt in ("--algos", "--dataset", "--device", "--seeds", "--folds", "--param", "--out", "--resume"):
        assert opt in res.stdout


@pytest.mark.realdata
def test_describe_ml_latest_small(capsys, data_dir):
    code, out, err = run_cli(["describe", "ml-latest-small", "--data-dir", str(data_dir)], capsys)
    assert code == 0, err
    fields = dict(
        line.split(None, 1) if "  " not in line else (line[:18].strip(), line[18:].strip()) for line in out.splitlines()
    )
    assert fields["ratings"] == "100,836" and fields["users"] == "610" and fields["items"] == "9,724"
    assert fields["rating scale"] == "0.5 .. 5"
    assert fields["ratings per user"].startswith("min 20 · p10 24 · median 70")
    assert fields["time span"] == "1996-03-29 .. 2018-09-24"
    assert "no redistribution" in fields["licence"]
    code, out, _ = run_cli(["describe", "ml-100k", "--data-dir", str(data_dir), "--format", "json"], capsys)
    info = json.loads(out)
    assert info["official_folds"] == [20_000] * 5 and info["rating_counts"]["4"] == 34_174


@pytest.mark.realdata
def test_ranking_metrics_on_ml_latest_small(tmp_path, capsys, data_dir):
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "biases",
            "--dataset",
            "ml-latest-small",
            "--metrics",
            "rmse,ndcg@10",
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path),
            "--run-id",
            "rank",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    assert out.splitlines()[0].split()[4:6] == ["rmse", "ndcg@10"]
    (rec,) = records(tmp_path / "rank" / "runs.jsonl")
    assert 0.8 < rec["metrics"]["rmse"] < 0.95
    assert 0.0 < rec["metrics"]["ndcg@10"] < 1.0
    assert rec["ranked_users"] > 500 and rec["recommend_seconds"] > 0


def test_cells_import_the_installed_package_from_any_folder(tmp_path):
    """Started from a folder that holds a folder named ``mfbench`` (the folder a clone lands
    in), the cells once imported that folder and every cell failed with ``cannot import name
    'hookimpl' from 'mfbench' (unknown location)``: the fork server had the current folder on
    its path. The console script is run there, as a user would."""
    (tmp_path / "mfbench" / "harness").mkdir(parents=True)
    script = Path(sys.executable).with_name("mfbench")
    assert script.exists(), f"no console script beside {sys.executable}"
    res = subprocess.run(
        [
            str(script),
            "run",
            "--algos",
            "biases",
            "--data-param",
            "synthetic.n_ratings=2000",
            "--out",
            str(tmp_path / "out"),
            "--run-id",
            "cwd",
            "-q",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    (rec,) = records(tmp_path / "out" / "cwd" / "runs.jsonl")
    assert rec["status"] == "ok", rec.get("error")


def test_svd_energy_rank_from_the_command_line(tmp_path, capsys):
    """``--param svd.k=energy:0.95`` was refused ("expected a number"): the CLI coerced every value
    to the type of its default. The declared constraint accepts it and svd picks its rank."""
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "svd",
            "--param",
            "svd.k=energy:0.5",
            "--param",
            "svd.k_max=20",
            "--data-param",
            "synthetic.n_ratings=5000",
            "--out",
            str(tmp_path),
            "--run-id",
            "e",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    (rec,) = records(tmp_path / "e" / "runs.jsonl")
    assert rec["status"] == "ok" and rec["params"]["k"] == "energy:0.5"
    assert 1 <= rec["curve"][0]["k"] <= 20


def test_list_shows_an_algorithms_parameters_and_what_they_accept(capsys):
    code, out, err = run_cli(["list", "als"], capsys)
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[2:] if line.strip()}
    assert "one of auto, cholesky, cg, batched" in rows["solver"] and rows["solver"].split()[1] == "auto"
    assert "an int >= 1" in rows["k"] and "a number >= 0" in rows["reg"]
