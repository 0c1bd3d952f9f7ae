"""``--executor dask`` on a LocalCluster of two worker processes over loopback: the same cells
and metrics as ``local``, a worker killed mid-cell fails only that cell, ``--resume`` completes a
run, a worker with another copy of the data refuses it, and gate and compare divide each cell's
time by the calibration of the worker that ran it."""

import sys
from dataclasses import replace

import pytest

pytest.importorskip("distributed", reason='the dask executor needs the dask extra: pip install "mfbench[dask]"')

import mfbench  # noqa: E402
from mfbench.api import request  # noqa: E402
from mfbench.errors import MfbenchError  # noqa: E402
from mfbench.plan import plan_run  # noqa: E402
from mfbench.registry import get_registry  # noqa: E402
from mfbench.results import RunStore  # noqa: E402
from mfbench.runner import Cell  # noqa: E402
from mfbench_plugins.executors.dask_cluster import DaskExecutor  # noqa: E402

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the worker-kill fake reads /proc")

SMALL = {"synthetic": {"n_ratings": 4000}}
MATRIX = dict(
    algos=["biases", "sgd", "als"],
    datasets=["synthetic"],
    seeds=[0, 1],
    data_params=SMALL,
    params={"sgd": {"epochs": 5}, "als": {"epochs": 3}},
    threads=1,
    calibrate=False,
)


def _jobs(tmp_path, **changes):
    req = request(**{**MATRIX, "out": tmp_path, **changes})
    return plan_run(req, get_registry(), "jobs").jobs


def test_dask_runs_the_cells_local_runs_with_the_same_metrics(tmp_path):
    local = mfbench.run(**MATRIX, out=tmp_path, run_id="local")
    dask = mfbench.run(**MATRIX, out=tmp_path, run_id="dask", executor="dask", executor_params={"workers": 2})
    assert len(local) == len(dask) == 6
    by_id = {r["cell_id"]: r for r in dask.records}
    assert set(by_id) == {r["cell_id"] for r in local.records}
    for rec in local.records:
        other = by_id[rec["cell_id"]]
        assert other["status"] == rec["status"] == "ok"
        assert other["metrics"]["rmse"] == rec["metrics"]["rmse"]  # one thread each: the same arithmetic
        assert other["dataset_digest"] == rec["dataset_digest"]
    workers = {r["worker"]["address"] for r in dask.records}
    assert 1 <= len(workers) <= 2 and all(a.startswith("tcp://127.0.0.1:") for a in workers)
    for rec in dask.records:
        assert rec["worker"]["calibration_seconds"] > 0 and rec["worker"]["cores"] >= 1
        assert rec["threads_in_force"]["blas"] == 1
        assert rec["peak_rss_bytes"] > 0


def test_a_worker_killed_mid_cell_fails_that_cell_and_the_others_finish(tmp_path):
    from tests.support.fakes import KillsItsDaskWorker, Scripted

    jobs = _jobs(tmp_path)[:4]
    victim = jobs[1]
    jobs[1] = replace(
        victim,
        factory=KillsItsDaskWorker,
        cell=Cell("kills-worker", {}, victim.cell.dataset, victim.cell.split, "cpu", 0),
    )
    jobs.append(
        replace(jobs[0], factory=Scripted, cell=Cell("scripted", {}, victim.cell.dataset, victim.cell.split, "cpu", 0))
    )
    events = []
    records = {r["cell_id"]: r for r in DaskExecutor(workers=2).run(jobs, events.append)}
    killed = records[jobs[1].cell.id]
    assert killed["status"] == "failed"
    assert "died while running the cell" in killed["error"] and killed["worker"]["address"].startswith("tcp://")
    assert killed["split"]["n_train"] > 0, "the client describes the split of a cell it never got back"
    assert [records[j.cell.id]["status"] for j in jobs if j is not jobs[1]] == ["ok"] * 4, [
        r["error"] for r in records.values()
    ]
    assert any(e["event"] == "epoch" for e in events), "epoch events travel from the workers"


def test_resume_runs_only_the_cells_missing(tmp_path):
    first = mfbench.run(**MATRIX, out=tmp_path, run_id="r", executor="dask", executor_params={"workers": 2})
    store = RunStore(tmp_path, "r")
    lines = store.records_path.read_text().splitlines()
    store.records_path.write_text("\n".join(lines[:2]) + "\n")  # as if interrupted after two cells
    again = mfbench.run(**MATRIX, out=tmp_path, resume="r", executor="dask", executor_params={"workers": 2})
    assert len(store.records_path.read_text().splitlines()) == 6, "the two kept cells did not run again"
    assert {r["cell_id"] for r in again.records} == {r["cell_id"] for r in first.records}
    assert again.ok


def test_a_worker_with_other_data_refuses_the_cell_naming_both_digests(tmp_path):
    job = _jobs(tmp_path)[0]
    wrong = replace(job, source=replace(job.source, digest="0" * 64))
    (record,) = DaskExecutor(workers=1).run([wrong], lambda e: None)
    assert record["status"] == "failed"
    assert job.source.digest in record["error"] and "0" * 64 in record["error"]


def test_a_scheduler_whose_workers_lack_the_resource_is_refused(tmp_path):
    from distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        with pytest.raises(MfbenchError, match="--resources mfbench-cell=1"):
            list(DaskExecutor(scheduler=cluster.scheduler_address).run(_jobs(tmp_path)[:1], lambda e: None))


def test_an_unknown_scheduler_option_is_refused_before_any_work(tmp_path):
    with pytest.raises(MfbenchError, match="dask has no parameter 'schedular'"):
        mfbench.run(**MATRIX, out=tmp_path, executor="dask", executor_params={"schedular": "tcp://x:1"})


def test_gate_and_compare_divide_by_each_workers_calibration(tmp_path):
    from mfbench.compare import compare_runs
    from mfbench.gate import _cells

    def rec(fit, cal):
        return {
            "cell_id": "a[x]|d|s|cpu|seed=0",
            "algorithm": "a",
            "params": {},
            "dataset": "d",
            "device": "cpu",
            "status": "ok",
            "fit_seconds": fit,
            "epoch_seconds": [fit],
            "metrics": {"rmse": 1.0},
            "worker": {"calibration_seconds": cal},
        }

    # B's worker is twice as slow as A's, and so is its cell: the same code
    cells = _cells([rec(2.0, 0.5)], run_calibration=9.9)
    assert cells["a[x]|d|s|cpu|seed=0"]["calibrated_fit"] == pytest.approx(4.0)
    (row,) = compare_runs([rec(1.0, 0.25)], [rec(2.0, 0.5)], calibrations=(9.9, 9.9))
    assert row["fit"] == [pytest.approx(1.0)] and row["mark"] == "~"
    (raw,) = compare_runs([{**rec(1.0, 0.25), "worker": None}], [{**rec(2.0, 0.5), "worker": None}])
    assert raw["fit"] == [pytest.approx(2.0)]


def test_the_cli_takes_executor_params(tmp_path, capsys):
    from tests.support.cli import records, run_cli

    code, _, err = run_cli(
        [
            "run",
            "--algos",
            "biases",
            "--executor",
            "dask",
            "--executor-param",
            "dask.workers=1",
            "--data-param",
            "synthetic.n_ratings=2000",
            "--no-calibrate",
            "--out",
            str(tmp_path),
            "--run-id",
            "cli",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    (record,) = records(tmp_path / "cli" / "runs.jsonl")
    assert record["worker"]["address"].startswith("tcp://")
    code, _, err = run_cli(
        ["run", "--algos", "biases", "--executor-param", "dask.workers=1", "--out", str(tmp_path)], capsys
    )
    assert code != 0 and "--executor-param dask.workers=1: 'dask' is not in this run (local)" in err


def test_an_experiment_file_sets_the_executor_and_its_options(tmp_path):
    from mfbench.api import execute
    from mfbench.experiment import load_experiment

    toml = tmp_path / "exp.toml"
    toml.write_text('executor = "dask"\n[executors.dask]\nscheduler = "tcp://10.0.0.5:8786"\n')
    req = load_experiment(toml)
    assert req.executor == "dask" and req.executor_params == {"dask": {"scheduler": "tcp://10.0.0.5:8786"}}
    toml.write_text('[executors.dask]\nschedular = "tcp://10.0.0.5:8786"\n')
    with pytest.raises(
        MfbenchError,
        match=r"exp.toml: executors.dask.schedular = 'tcp://10.0.0.5:8786': 'dask' is "
        r"not in this run \(local\)",
    ):
        execute(replace(load_experiment(toml), out=tmp_path))
