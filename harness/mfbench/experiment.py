"""Experiment files: ``mfbench run experiment.toml``.

An experiment file holds what ``mfbench run``'s options hold, as TOML::

    run_id = "grid-k"                 # optional, like every key
    seeds = 3                         # a count (seeds 0, 1, 2) or a list: [1, 5, 7]
    folds = "holdout:0.2"
    metrics = ["rmse", "mae"]

    [control]                         # valid, patience, min_delta, max_epochs, time_budget, timeout, threads
    valid = 0.1

    [datasets.synthetic]              # one table a dataset, holding its options
    n_ratings = 50000

    [algorithms.biases]               # one table an algorithm, holding its hyper-parameters

    [algorithms.sgd]
    k = [16, 32, 64]                  # a list is a grid: one cell per value, the product over keys

Every key is checked before any work: an unknown key, or a value of the wrong kind, is an error
naming the file, the key and what is allowed. Relative paths (``out``, ``data_dir``) are taken
from the current folder, as on the command line.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from .errors import MfbenchError
from .request import OPTIONS, Option, RunRequest, coerce

__all__ = ["load_experiment", "TOP_KEYS", "CONTROL_KEYS"]

_TABLES = {
    "algorithms": "a table of algorithm tables: [algorithms.NAME]",
    "datasets": "a table of dataset tables: [datasets.NAME]",
    "executors": "a table of executor tables: [executors.NAME]",
}
_FILE_OPTIONS: dict[str, Option] = {o.key: o for o in OPTIONS if o.key}
#: top-level keys: what each must be
TOP_KEYS = {
    **{k: v for k, v in _TABLES.items() if k != "executors"},
    **{k: o.kind_text for k, o in _FILE_OPTIONS.items() if not k.startswith("control.")},
    "control": "a table: [control]",
    "executors": _TABLES["executors"],
}
#: keys of the [control] table
CONTROL_KEYS = {k.removeprefix("control."): o.kind_text for k, o in _FILE_OPTIONS.items() if k.startswith("control.")}


def _tables(doc: dict[str, Any], key: str, where: str) -> dict[str, dict[str, Any]]:
    raw = doc.get(key, {})
    if not isinstance(raw, dict):
        raise MfbenchError(f"{where}: {key} must be {TOP_KEYS[key]}; got {raw!r}")
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise MfbenchError(
                f"{where}: {key}.{name} must be a table ([{key}.{name}] with its settings under it); got {table!r}"
            )
    return raw


def _read(path: Path) -> dict[str, Any]:
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MfbenchError(f"{where}: no such experiment file") from None
    except IsADirectoryError:
        raise MfbenchError(f"{where}: a folder, not an experiment file") from None
    except UnicodeDecodeError as exc:
        raise MfbenchError(f"{where}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MfbenchError(f"{where}: not valid TOML: {exc}") from None


def load_experiment(path: str | Path) -> RunRequest:
    """The ``RunRequest`` an experiment file describes: every key checked against the run
    options' table (``mfbench.request.OPTIONS``)."""
    path = Path(path)
    where = str(path)
    doc = _read(path)
    for key in doc:
        if key not in TOP_KEYS:
            raise MfbenchError(f"{where}: unknown key {key!r}; an experiment file takes: {', '.join(TOP_KEYS)}")
    control = doc.get("control", {})
    if not isinstance(control, dict):
        raise MfbenchError(f"{where}: control must be a table ([control]); got {control!r}")
    for key in control:
        if key not in CONTROL_KEYS:
            raise MfbenchError(f"{where}: unknown key control.{key}; [control] takes: {', '.join(CONTROL_KEYS)}")
    flat = {k: v for k, v in doc.items() if k not in (*_TABLES, "control")}
    flat.update({f"control.{k}": v for k, v in control.items()})
    values, origins = {}, {}
    for key, value in flat.items():
        opt = _FILE_OPTIONS[key]
        values[opt.name] = coerce(opt, value, f"{where}: {key}")
        origins[opt.name] = f"{where}: {key} = {value!r}"

    algos = _tables(doc, "algorithms", where)
    datasets = _tables(doc, "datasets", where)
    executors = _tables(doc, "executors", where)
    if algos:
        values["algorithms"] = list(algos)
    if datasets:
        values["datasets"] = list(datasets)
    # a dataset's options are keyed by its base name (``file`` for ``file:PATH``), as --data-param's
    data_params: dict[str, dict[str, Any]] = {}
    for name, options in datasets.items():
        data_params.setdefault(name.split(":", 1)[0], {}).update(options)
    request = RunRequest(
        params={a: dict(kv) for a, kv in algos.items() if kv},
        data_params=data_params,
        executor_params={e: dict(kv) for e, kv in executors.items() if kv},
        sources={f"{a}.{k}": f"{where}: algorithms.{a}.{k} = {v!r}" for a, kv in algos.items() for k, v in kv.items()},
        data_sources={
            f"{d.split(':', 1)[0]}.{k}": f"{where}: datasets.{d}.{k} = {v!r}"
            for d, kv in datasets.items()
            for k, v in kv.items()
        },
        executor_sources={
            f"{e}.{k}": f"{where}: executors.{e}.{k} = {v!r}" for e, kv in executors.items() for k, v in kv.items()
        },
    )
    return request.set(values, origins)
