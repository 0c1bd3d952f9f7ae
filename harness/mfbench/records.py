"""The record of a cell: its fields (docs/RECORDS.md), id and key, builders, schema and upgrades.

A record is one JSON object of ``runs.jsonl``, a plain ``dict`` in memory. ``Record`` types its
fields (a test holds it to docs/RECORDS.md and to what ``run_cell`` writes); everything that
builds, upgrades or reads records goes through this module: the runner builds them
(``new_record`` and the ``*_record`` builders), ``RunStore`` upgrades them as it reads, and the
report, ``compare`` and ``gate`` read their times and calibrations here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
from collections.abc import Callable, Iterable
from pathlib import Path
from statistics import median
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .errors import MfbenchError

if TYPE_CHECKING:
    from .runner import Job

__all__ = [
    "Record",
    "STATUSES",
    "SCHEMAS",
    "SCHEMA_VERSION",
    "cell_id",
    "cell_key",
    "digest",
    "group_by_cell",
    "new_record",
    "timed_out_record",
    "interrupted_record",
    "crashed_record",
    "upgrade",
    "upgrade_record",
    "median_epoch_seconds",
    "TIME_FIELDS",
    "calibration_of",
]

Status = Literal["ok", "failed", "timed_out", "diverged", "interrupted"]
#: what a record's ``status`` may be (docs/RECORDS.md, Status)
STATUSES: tuple[Status, ...] = ("ok", "failed", "timed_out", "diverged", "interrupted")


class Record(TypedDict, total=False):
    """The fields of a cell's record, as docs/RECORDS.md explains them. Every record has the
    fields ``new_record`` writes; the others come as the cell gets that far."""

    # who and where (new_record)
    schema: int
    run_id: str
    cell_id: str
    algorithm: str
    params: dict[str, Any]
    code_version: str
    dataset: str
    dataset_digest: str | None
    split: dict[str, Any]
    device: str
    seed: int
    repeat: int
    threads: int | None
    status: Status
    error: str | None
    traceback: str | None
    hostname: str
    versions: dict[str, str | None]
    started_at: str
    finished_at: str
    # times, seconds
    prepare_seconds: float
    epoch_seconds: list[float]
    fit_seconds: float
    fit_cpu_seconds: float
    predict_seconds: float
    recommend_seconds: float
    # training
    curve: list[dict[str, Any]]
    epochs: int
    stopped: str | None
    best_epoch: int
    checkpoint: str
    # scores
    metrics: dict[str, float]
    ranked_users: int
    # threads, memory, machine
    threads_in_force: dict[str, Any]
    rss_at_start_bytes: int
    peak_rss_bytes: int
    peak_gpu_bytes: int
    nvml_used_bytes: int | None
    worker: dict[str, Any]


#: The layout version of each kind of file mfbench writes. Bump one when a field changes meaning
#: or name, and add the step from the old version to ``_UPGRADES`` (asv's ``update_to_N``); the
#: tests keep a committed example of every old version (``tests/fixtures/schemas``).
SCHEMAS = {"record": 2, "baseline": 3, "environment": 1}
#: The version of the records in ``runs.jsonl``.
SCHEMA_VERSION = SCHEMAS["record"]


def _record_1_to_2(rec: dict[str, Any]) -> dict[str, Any]:
    """v2: the curve's ``train_loss`` (each algorithm's own quantity) is ``objective``, and the
    runner adds ``train_mse``, measured alike for every algorithm (absent from v1 records)."""
    for point in rec.get("curve") or []:
        if "train_loss" in point:
            point["objective"] = point.pop("train_loss")
    return rec


def _baseline_1_to_2(base: dict[str, Any]) -> dict[str, Any]:
    """v2: each cell records the numba and BLAS thread counts it ran with (``threads_in_force``);
    a v1 cell's are unknown (``None``), and the gate does not check them."""
    for cell in base.get("cells", {}).values():
        cell.setdefault("threads_in_force", None)
    return base


def _baseline_2_to_3(base: dict[str, Any]) -> dict[str, Any]:
    """v3: the baseline names the machine that wrote it (``fingerprint``); a v2 baseline's is
    unknown (``None``), so comparing against it is history, never a verdict."""
    base.setdefault("fingerprint", None)
    return base


_UPGRADES: dict[str, dict[int, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "record": {1: _record_1_to_2},
    "baseline": {1: _baseline_1_to_2, 2: _baseline_2_to_3},
    "environment": {},
}


def upgrade(kind: str, obj: dict[str, Any], source: str | Path = "") -> dict[str, Any]:
    """Bring ``obj``, a ``kind`` (record, baseline, environment) of an older schema, to the
    current one, step by step; a newer one is refused, naming ``source``."""
    current = SCHEMAS[kind]
    version = obj.get("schema", 1)
    if not isinstance(version, int) or version < 1:
        raise MfbenchError(f"{source}: {kind} schema {version!r} is not a version mfbench wrote")
    if version > current:
        raise MfbenchError(
            f"{source}: {kind} schema {version} is newer than this mfbench reads ({current}); upgrade mfbench"
        )
    while version < current:
        obj = _UPGRADES[kind][version](obj)
        version += 1
        obj["schema"] = version
    return obj


def upgrade_record(record: dict[str, Any], source: str | Path = "") -> dict[str, Any]:
    return upgrade("record", record, source)


# -- identity -------------------------------------------------------------------------------------------------------


def digest(obj: Any) -> str:
    """Eight hex digits that stand for ``obj`` (a cell's parameters, its id) across runs."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def cell_id(
    algorithm: str, params: dict[str, Any], dataset: str, split: str, device: str, seed: int, repeat: int = 0
) -> str:
    """A stable id: the same cell in another run (or after ``--resume``) has the same id."""
    return f"{algorithm}[{digest(params)}]|{dataset}|{split}|{device}|seed={seed}" + (
        f"|repeat={repeat}" if repeat else ""
    )


def cell_key(record: dict[str, Any]) -> str:
    """What makes two records comparable across runs: the cell id without the repeat."""
    return str(record["cell_id"]).split("|repeat=")[0]


def group_by_cell(records: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Records by ``cell_key`` (a cell's repeats together), in the order cells first appear."""
    out: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        out.setdefault(cell_key(r), []).append(r)
    return out


# -- builders -------------------------------------------------------------------------------------------------------


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def new_record(job: Job) -> dict[str, Any]:
    """The fields every record has, for ``job``'s cell, as ``failed`` until the cell says otherwise."""
    from .results import library_versions

    c = job.cell
    return {
        "schema": SCHEMA_VERSION,
        "run_id": job.run_id,
        "cell_id": c.id,
        "algorithm": c.algorithm,
        "params": c.params,
        "code_version": job.code_version,
        "dataset": c.dataset,
        "dataset_digest": job.source.digest if job.source else None,
        "split": job.split.describe(),
        "device": c.device,
        "seed": c.seed,
        "repeat": c.repeat,
        "threads": job.control.threads,
        "status": "failed",
        "error": None,
        "traceback": None,
        "hostname": platform.node(),
        "versions": library_versions(),
        "started_at": _now(),
    }


def finish(record: dict[str, Any]) -> dict[str, Any]:
    """Stamp ``finished_at`` on ``record``; returns it."""
    record["finished_at"] = _now()
    return record


def timed_out_record(job: Job, seconds: float) -> dict[str, Any]:
    rec = new_record(job)
    rec.update(status="timed_out", error=f"cell killed after its timeout of {seconds:g} s")
    return rec


def interrupted_record(job: Job, signal_name: str) -> dict[str, Any]:
    rec = new_record(job)
    rec.update(status="interrupted", error=f"cell stopped by {signal_name}; mfbench run --resume runs it again")
    return rec


def crashed_record(job: Job, exitcode: int | None) -> dict[str, Any]:
    rec = new_record(job)
    why = f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"
    hint = " (killed: out of memory?)" if exitcode == -9 else ""
    rec.update(status="failed", error=f"worker process died with {why}{hint} before reporting")
    return rec


# -- readers --------------------------------------------------------------------------------------------------------


def median_epoch_seconds(record: dict[str, Any]) -> float | None:
    """The median of a record's epoch times (``None`` without epochs)."""
    epochs = record.get("epoch_seconds")
    return median(epochs) if epochs else None


#: The timing columns of tables: (column, how to read it from a record, header).
TIME_FIELDS: tuple[tuple[str, Callable[[dict[str, Any]], float | None], str], ...] = (
    ("prepare_s", lambda r: r.get("prepare_seconds"), "prepare s"),
    ("epoch_s", median_epoch_seconds, "epoch s"),
    ("fit_s", lambda r: r.get("fit_seconds"), "fit s"),
    ("predict_s", lambda r: r.get("predict_seconds"), "predict s"),
)


def calibration_of(record: dict[str, Any], run_calibration: float | None) -> float | None:
    """The calibration of the machine that ran ``record``: its dask worker's, else the run's."""
    return (record.get("worker") or {}).get("calibration_seconds") or run_calibration
