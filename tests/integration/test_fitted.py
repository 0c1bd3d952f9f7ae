"""The winner, ready to use: a cell's fitted model from its checkpoint predicts what the cell
scored, ranks by the dataset's own ids, exports its factors, and refuses a damaged or foreign
checkpoint in one line."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mfbench
from mfbench.data import make_splits, parse_protocol
from mfbench.errors import MfbenchError
from mfbench.registry import get_registry
from mfbench_plugins.metrics import rmse
from support.cli import run_cli

SMALL = {"synthetic": {"n_ratings": 4000}}


def _builtins_with_state() -> list[str]:
    names = []
    for entry in get_registry().listing("algorithm"):
        factory = entry.spec.factory
        if (
            factory.__module__.startswith("mfbench_plugins.algorithms")
            and getattr(factory, "state_attrs", None) is not None
        ):
            names.append(entry.spec.name)
    return names


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("fitted")
    res = mfbench.run(
        _builtins_with_state(),
        ["synthetic"],
        data_params=SMALL,
        max_epochs=2,
        checkpoint=True,
        out=out,
        run_id="r",
        executor="inline",
        calibrate=False,
    )
    assert res.ok, res.to_pandas()[["algorithm", "status", "error"]]
    return res


@pytest.fixture(scope="module")
def split():
    dataset = get_registry().dataset("synthetic").loader(None, None, **SMALL["synthetic"])
    return next(make_splits(dataset, parse_protocol("holdout:0.2"), 42))


def test_every_checkpointing_builtin_reproduces_its_recorded_rmse_exactly(run, split):
    assert len(run.records) >= 10
    for rec in run.records:
        model = run.model(rec["cell_id"])
        pred = model.algorithm.predict(split.test.users, split.test.items)
        assert rmse(split.test.values, pred) == rec["metrics"]["rmse"], rec["algorithm"]
        by_ids = model.predict(split.train.user_ids[split.test.users], split.train.item_ids[split.test.items])
        np.testing.assert_array_equal(by_ids, pred)


def test_recommend_speaks_the_datasets_ids_and_leaves_out_rated_items(run, split, capsys):
    model = run.model("als")
    users = split.train.user_ids[:3].tolist()
    table = model.recommend(users, n=5)
    assert list(table.columns[:4]) == ["user", "rank", "item", "score"] and len(table) == 15
    rated = set(zip(split.train.user_ids[split.train.users].tolist(), split.train.item_ids[split.train.items].tolist()))
    assert not any((u, i) in rated for u, i in zip(table["user"], table["item"]))
    code, out, err = run_cli(
        [
            "recommend",
            "r",
            "als",
            "--users",
            ",".join(map(str, users)),
            "-n",
            "5",
            "--out",
            str(run.path.parent),
            "--format",
            "csv",
        ],
        capsys,
    )
    assert code == 0, err
    assert pd.read_csv(__import__("io").StringIO(out))["item"].tolist() == table["item"].tolist()


def test_export_writes_factors_and_biases_with_ids(run, tmp_path, capsys):
    code, out, err = run_cli(
        ["export", "r", "sgd", "--to", str(tmp_path / "f.csv"), "--out", str(run.path.parent)], capsys
    )
    assert code == 0, err
    users, items = pd.read_csv(tmp_path / "f.users.csv"), pd.read_csv(tmp_path / "f.items.csv")
    model = run.model("sgd")
    f = model.algorithm.export_factors()
    assert users["id"].tolist() == model.user_ids.tolist() and len(items) == len(model.item_ids)
    np.testing.assert_allclose(
        users[[f"f{c}" for c in range(f["user_factors"].shape[1])]].to_numpy(), f["user_factors"], rtol=1e-6
    )
    np.testing.assert_allclose(items["bias"].to_numpy(), f["item_bias"], rtol=1e-6)


def test_a_damaged_or_foreign_checkpoint_is_refused_in_one_line(run, tmp_path):
    import shutil

    rec = next(r for r in run.records if r["algorithm"] == "biases")
    path = run.path / "checkpoints" / rec["checkpoint"].rsplit("/", 1)[1]
    saved = tmp_path / "saved.npz"
    shutil.copy(path, saved)
    try:
        path.write_bytes(saved.read_bytes()[:200])
        with pytest.raises(MfbenchError, match="a damaged checkpoint"):
            run.model(rec["cell_id"])
        arrays = dict(np.load(saved, allow_pickle=False))
        arrays["_meta.code_version"] = np.asarray("0123456789ab")
        np.savez(path, **arrays)
        with pytest.raises(MfbenchError, match="written by another version of biases's code"):
            run.model(rec["cell_id"])
    finally:
        shutil.copy(saved, path)
    with pytest.raises(MfbenchError, match="no cell 'nope' with a checkpoint"):
        run.model("nope")
    with pytest.raises(MfbenchError, match="user 'abc' is not in the model's training data"):
        run.model("als").recommend(["abc"])
