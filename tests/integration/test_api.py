"""The three front doors: the Python API, experiment files and the command line build one
request; the API's results as DataFrames."""

import math
import statistics
import textwrap
from pathlib import Path

import pytest

import mfbench
from mfbench.api import request
from mfbench.commands.run import build_request
from mfbench.errors import MfbenchError
from mfbench.experiment import load_experiment
from mfbench.plan import plan_run
from mfbench.registry import get_registry

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SMALL = {"synthetic": {"n_ratings": 3000}}


def cell_ids(req):
    return [c.id for c in plan_run(req, get_registry(), "plan").cells]


def cli_request(args, experiment=None):
    """The request ``mfbench run ARGS [EXPERIMENT]`` builds, through click's own parsing."""
    from click.core import ParameterSource

    from mfbench.commands.run import command as run

    ctx = run.make_context("run", list(args) + ([str(experiment)] if experiment else []))
    opts = dict(ctx.params)
    experiment = opts.pop("experiment")
    opts.pop("fmt"), opts.pop("quiet")
    given = {
        n for n in opts if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    }
    return build_request(opts, given, experiment)


def test_the_three_front_doors_plan_the_same_cells(tmp_path):
    toml = tmp_path / "exp.toml"
    toml.write_text(
        textwrap.dedent("""
        seeds = [0, 3]
        folds = "kfold:3@1,2"
        [datasets.synthetic]
        n_ratings = 3000
        [algorithms.biases]
        [algorithms.sgd]
        k = [8, 16]
        lr = 0.05
    """)
    )
    from_file = load_experiment(toml)
    from_api = request(
        ["biases", "sgd"],
        ["synthetic"],
        seeds=[0, 3],
        folds="kfold:3@1,2",
        params={"sgd": {"k": [8, 16], "lr": 0.05}},
        data_params=SMALL,
    )
    from_cli = cli_request(
        [
            "--algos",
            "biases,sgd",
            "--seeds",
            "0,3",
            "--folds",
            "kfold:3@1,2",
            "--param",
            "sgd.k=[8,16]",
            "--param",
            "sgd.lr=0.05",
            "--data-param",
            "synthetic.n_ratings=3000",
        ]
    )
    ids = cell_ids(from_api)
    assert len(ids) == (1 + 2) * 2 * 2  # (biases + two sgd settings) x two seeds x two folds
    assert cell_ids(from_file) == ids
    assert cell_ids(from_cli) == ids


def test_the_command_line_overrides_the_file(tmp_path):
    toml = tmp_path / "exp.toml"
    toml.write_text(
        "seeds = 2\nrepeats = 3\n[algorithms.sgd]\nk = [8, 16]\nepochs = 4\n[datasets.synthetic]\nn_ratings = 3000\n"
    )
    req = cli_request(["--param", "sgd.epochs=2", "--seeds", "1", "--max-epochs", "5"], toml)
    assert req.seeds == [0] and req.repeats == 3 and req.control.max_epochs == 5
    assert req.params == {"sgd": {"k": [8, 16], "epochs": 2}}
    assert req.algorithms == ["sgd"]  # the file's, not --algos' default
    cells = plan_run(req, get_registry(), "plan").cells
    assert sorted({(c.params["k"], c.params["epochs"]) for c in cells}) == [(8, 2), (16, 2)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("speed = 3\n", r"exp.toml: unknown key 'speed'; an experiment file takes: algorithms, datasets"),
        ("repeats = 'many'\n", r"exp.toml: repeats must be an integer; got 'many'"),
        ("seeds = 0\n", r"exp.toml: seeds must be a count .* got 0"),
        ("[control]\nvalid = 'yes'\n", r"exp.toml: control.valid must be a number; got 'yes'"),
        ("[control]\npatient = 3\n", r"exp.toml: unknown key control.patient; \[control\] takes: valid, patience"),
        ("algorithms = 'sgd'\n", r"exp.toml: algorithms must be a table of algorithm tables"),
        ("[algorithms]\nsgd = 3\n", r"exp.toml: algorithms.sgd must be a table"),
        (
            "[algorithms.sgd]\nkk = 8\n",
            r"exp.toml: algorithms.sgd.kk = 8: sgd has no parameter 'kk'; its parameters: k,",
        ),
        ("[algorithms.sgd]\nk = [8, 0]\n", r"exp.toml: algorithms.sgd.k = \[8, 0\]: k must be an int >= 1; got 0"),
        ("[algorithms.sgd]\nk = []\n", r"exp.toml: algorithms.sgd.k = \[\]: an empty grid"),
        ("[algorithms.nope]\n", r"unknown algorithm 'nope'"),
        (
            "[datasets.synthetic]\nn_ratngs = 5\n",
            r"exp.toml: datasets.synthetic.n_ratngs = 5: synthetic has no parameter",
        ),
        ("[algorithms.sgd\n", r"exp.toml: not valid TOML: .*line 1"),
    ],
)
def test_experiment_file_errors_name_the_file_and_the_key(tmp_path, text, message):
    toml = tmp_path / "exp.toml"
    toml.write_text(text)
    with pytest.raises(MfbenchError, match=message):
        req = load_experiment(toml)
        plan_run(req, get_registry(), "plan")


def test_the_shipped_examples_plan(monkeypatch, data_dir):
    req = load_experiment(EXAMPLES / "grid.toml")
    cells = plan_run(req, get_registry(), "plan").cells
    settings = {(c.algorithm, c.params.get("k")) for c in cells}
    assert settings == {("biases", None), *{(a, k) for a in ("sgd", "als") for k in (8, 32, 128)}}
    assert len(cells) == len(settings) * 2  # two seeds
    req = load_experiment(EXAMPLES / "ml100k.toml")
    req = type(req)(**{**req.__dict__, "data_dir": data_dir})
    cells = plan_run(req, get_registry(), "plan").cells
    assert len(cells) == 5 * 5 * 3  # five algorithms, five official folds, three repeats


def test_mfbench_run_grid_example_runs(tmp_path, capsys):
    from support.cli import run_cli

    code, out, err = run_cli(
        [
            "run",
            str(EXAMPLES / "grid.toml"),
            "--out",
            str(tmp_path),
            "--seeds",
            "1",
            "--data-param",
            "synthetic.n_ratings=3000",
            "--param",
            "sgd.epochs=2",
            "--param",
            "als.epochs=2",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    labels = [line.split()[0] + (" " + line.split()[1] if "(" in line else "") for line in out.splitlines()[2:]]
    assert labels == ["biases", "sgd (k=8)", "sgd (k=32)", "sgd (k=128)", "als (k=8)", "als (k=32)", "als (k=128)"]


def test_a_notebook_session(tmp_path):
    """Run a small grid from Python, look at it as DataFrames, load it again, compare."""
    res = mfbench.run(
        ["biases", "sgd"],
        "synthetic",
        params={"sgd": {"k": [4, 8], "epochs": 3}},
        data_params=SMALL,
        valid=0.1,
        out=tmp_path,
        run_id="nb",
        executor="inline",
    )
    assert res.ok and len(res) == 3 and res.run_id == "nb"
    df = res.to_pandas()
    assert list(df["algorithm"]) == ["biases", "sgd", "sgd"]
    assert [p.get("k") for p in df["params"]] == [None, 4, 8]
    for column in (
        "cell_id",
        "dataset",
        "split",
        "device",
        "seed",
        "status",
        "rmse",
        "mae",
        "prepare_seconds",
        "median_epoch_seconds",
        "fit_seconds",
        "predict_seconds",
        "peak_rss_mb",
        "epochs",
        "stopped",
    ):
        assert column in df.columns, column
    # the record's epoch_seconds is a list; the table's column says it holds their median
    assert "epoch_seconds" not in df.columns
    assert df.loc[1, "median_epoch_seconds"] == pytest.approx(statistics.median(res.records[1]["epoch_seconds"]))
    assert (df["status"] == "ok").all() and (df["rmse"] > 0).all() and (df["fit_seconds"] > 0).all()
    assert list(df["epochs"]) == [3, 3, 3]  # biases' default is 3 epochs as well
    assert df.loc[1, "rmse"] == pytest.approx(res.records[1]["metrics"]["rmse"])

    curves = res.curves()
    assert len(curves) == sum(r["epochs"] for r in res.records)
    assert {"epoch", "seconds", "train_mse", "valid_rmse"} <= set(curves.columns)
    assert curves.groupby("cell_id")["epoch"].max().tolist() == [3, 3, 3]

    table = res.table()
    assert table.splitlines()[2].startswith("biases") and "sgd (k=8)" in table

    again = mfbench.load("nb", out=tmp_path)
    assert [r["cell_id"] for r in again.records] == [r["cell_id"] for r in res.records]
    diff = res.compare(again)
    assert list(diff["mark"]) == ["~", "~", "~"]
    assert diff["fit_ratio"].tolist() == [1.0, 1.0, 1.0] and diff["rmse_diff"].tolist() == [0.0, 0.0, 0.0]
    assert "calibration_seconds" in res.environment()


def test_the_api_refuses_a_bad_request_before_any_work(tmp_path):
    with pytest.raises(MfbenchError, match=r"mfbench.run\(params=\{'sgd': \{'k': -1\}\}\): k must be"):
        mfbench.run(["sgd"], params={"sgd": {"k": -1}}, out=tmp_path)
    with pytest.raises(MfbenchError, match=r"'als' is not in this run"):
        mfbench.run(["sgd"], params={"als": {"k": 3}}, out=tmp_path)
    assert not any(tmp_path.iterdir())
    with pytest.raises(MfbenchError, match="no records yet|no run"):
        mfbench.load("missing", out=tmp_path)


def test_failed_cells_are_rows_with_their_error(tmp_path):
    res = mfbench.run(
        ["sgd"], params={"sgd": {"lr": 1e6, "epochs": 3}}, data_params=SMALL, out=tmp_path, executor="inline"
    )
    df = res.to_pandas()
    assert not res.ok and df.loc[0, "status"] == "diverged"
    assert "diverged" in df.loc[0, "error"]
    assert df.loc[0, "rmse"] is None or math.isnan(df.loc[0, "rmse"])
    assert df.loc[0, "fit_seconds"] is None or math.isnan(df.loc[0, "fit_seconds"])


def test_results_compare_divides_each_side_by_its_calibration_as_the_cli_does(tmp_path):
    """A local run (its calibration in environment.json) against a dask run (each record with its
    worker's): the same code on a machine twice as slow compares as 1.0x, not 2.0x."""
    import json

    from mfbench.compare import compare_runs
    from mfbench.results import Results

    def run(name, fit, run_cal, worker_cal):
        path = tmp_path / name
        path.mkdir()
        (path / "environment.json").write_text(json.dumps({"calibration_seconds": run_cal}))
        rec = {
            "cell_id": "a[x]|d|s|cpu|seed=0",
            "algorithm": "a",
            "params": {},
            "dataset": "d",
            "device": "cpu",
            "status": "ok",
            "fit_seconds": fit,
            "epoch_seconds": [fit],
            "metrics": {"rmse": 1.0},
            "worker": {"calibration_seconds": worker_cal} if worker_cal else None,
        }
        return Results(path, [rec], ["rmse"])

    local, dask = run("local", 1.0, 0.25, None), run("dask", 2.0, 9.9, 0.5)
    (cli_row,) = compare_runs(local.records, dask.records, calibrations=(0.25, 9.9))
    frame = dask.compare(local)
    assert cli_row["fit"] == [pytest.approx(1.0)]
    assert frame["fit_ratio"].tolist() == [pytest.approx(1.0)]
    assert frame["mark"].tolist() == [cli_row["mark"]]


def test_the_relevance_option_defaults_to_the_ranking_modules_threshold():
    """One constant, not a second 4.0 written in the command line's option."""
    from mfbench import ranking
    from mfbench.commands.run import command as run

    (option,) = [p for p in run.params if p.name == "relevance"]
    assert option.default is ranking.DEFAULT_THRESHOLD
