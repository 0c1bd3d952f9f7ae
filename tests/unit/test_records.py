"""The record: ``mfbench.records.Record`` matches docs/RECORDS.md and what a cell writes."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from mfbench.data import Dataset, make_splits, parse_protocol
from mfbench.records import STATUSES, Record, cell_key, crashed_record, group_by_cell, new_record
from mfbench.request import Control
from mfbench.runner import Cell, Job, run_cell
from mfbench_datasets.synthetic import generate

DOCS = Path(__file__).resolve().parents[2] / "docs" / "RECORDS.md"


def _documented_fields() -> set[str]:
    """The fields named in the first column of RECORDS.md's tables of record fields."""
    text = DOCS.read_text()
    names: set[str] = set()
    for section in re.split(r"\n## ", text):
        title = section.splitlines()[0]
        names.update(re.findall(r"`([a-z_]+)`", title))  # ## The learning curve (`curve`, ...)
        if title.startswith(("The learning curve", "Schema history", "mfbench records")) or "| field |" not in section:
            continue
        for line in section.splitlines():
            if line.startswith("| `"):
                names.update(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return names


def test_the_typed_record_and_the_docs_name_the_same_fields():
    typed = set(Record.__annotations__)
    documented = _documented_fields() | {"status"}
    assert typed - documented == set(), f"fields of Record that docs/RECORDS.md does not explain: {typed - documented}"
    assert documented - typed == set(), f"fields docs/RECORDS.md explains that Record lacks: {documented - typed}"


def _tiny_job(tmp_path, algorithm="biases"):
    from mfbench.registry import get_registry

    ratings, _ = generate(n_users=80, n_items=60, n_ratings=2000, seed=0)
    split = next(make_splits(Dataset("tiny", ratings), parse_protocol("holdout")))
    spec = get_registry().algorithm(algorithm)
    cell = Cell(algorithm, dict(spec.defaults), "tiny", split.name, "cpu", 0, 0)
    metrics = {"rmse": get_registry().metric("rmse").function}
    return Job("r", cell, split, spec.factory, metrics, Control(), "v", str(tmp_path), {}, 4.0, None)


def _is(value, annotation) -> bool:
    """Whether a JSON-like ``value`` fits a ``Record`` annotation."""
    origin = typing.get_origin(annotation)
    if annotation is typing.Any:
        return True
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if origin in (typing.Union, __import__("types").UnionType):
        return any(_is(value, a) for a in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if origin in (list, dict):
        return isinstance(value, origin)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, annotation)


def test_a_cells_record_has_only_typed_fields_of_their_types(tmp_path):
    rec = run_cell(_tiny_job(tmp_path))
    assert rec["status"] == "ok", rec["error"]
    hints = typing.get_type_hints(Record)
    assert set(rec) <= set(hints), f"untyped fields: {set(rec) - set(hints)}"
    for name, value in rec.items():
        assert _is(value, hints[name]), f"{name} = {value!r} is not {hints[name]}"
    assert {"prepare_seconds", "fit_seconds", "epoch_seconds", "metrics", "finished_at", "checkpoint"} <= set(rec)


def test_builders_and_keys(tmp_path):
    job = _tiny_job(tmp_path)
    base = new_record(job)
    assert base["status"] == "failed" and base["cell_id"] == job.cell.id
    crashed = crashed_record(job, -9)
    assert crashed["status"] in STATUSES and "out of memory" in crashed["error"]
    repeat = dict(base, cell_id=base["cell_id"] + "|repeat=1")
    assert cell_key(repeat) == cell_key(base)
    assert list(group_by_cell([base, repeat])) == [cell_key(base)]
