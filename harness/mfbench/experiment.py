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
from .plan import DEFAULT_ALGORITHMS, RunRequest
from .ranking import DEFAULT_THRESHOLD
from .runner import Control

__all__ = ["load_experiment", "TOP_KEYS", "CONTROL_KEYS"]

_STR, _INT, _NUM, _BOOL = "a string", "an integer", "a number", "true or false"
_STRS = "a list of strings (or one comma-separated string)"
#: top-level keys: what each must be
TOP_KEYS = {
    "algorithms": "a table of algorithm tables: [algorithms.NAME]",
    "datasets": "a table of dataset tables: [datasets.NAME]",
    "devices": _STRS, "seeds": "a count or a list of integers", "folds": _STR, "metrics": _STRS,
    "repeats": _INT, "split_seed": _INT, "relevance": _NUM, "run_id": _STR, "out": _STR, "executor": _STR,
    "checkpoint": _BOOL, "calibrate": _BOOL, "data_dir": _STR, "control": "a table: [control]",
    "executors": "a table of executor tables: [executors.NAME]",
}
#: keys of the [control] table
CONTROL_KEYS = {"valid": _NUM, "patience": _INT, "min_delta": _NUM, "max_epochs": _INT, "time_budget": _NUM,
                "timeout": _NUM, "threads": _INT}


def _fits(value: Any, kind: str) -> bool:
    if kind == _STR:
        return isinstance(value, str)
    if kind == _INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == _NUM:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == _BOOL:
        return isinstance(value, bool)
    if kind == _STRS:
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    return True


def _strings(value: str | list[str]) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)


def _tables(doc: dict[str, Any], key: str, where: str) -> dict[str, dict[str, Any]]:
    raw = doc.get(key, {})
    if not isinstance(raw, dict):
        raise MfbenchError(f"{where}: {key} must be {TOP_KEYS[key]}; got {raw!r}")
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise MfbenchError(f"{where}: {key}.{name} must be a table ([{key}.{name}] with its settings under it); "
                               f"got {table!r}")
    return raw


def load_experiment(path: str | Path) -> RunRequest:
    """The ``RunRequest`` an experiment file describes."""
    path = Path(path)
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MfbenchError(f"{where}: no such experiment file") from None
    except UnicodeDecodeError as exc:
        raise MfbenchError(f"{where}: not a UTF-8 text file ({exc.reason} at byte {exc.start})") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MfbenchError(f"{where}: not valid TOML: {exc}") from None

    for key, value in doc.items():
        if key not in TOP_KEYS:
            raise MfbenchError(f"{where}: unknown key {key!r}; an experiment file takes: {', '.join(TOP_KEYS)}")
        if key not in ("algorithms", "datasets", "executors", "control", "seeds") and not _fits(value, TOP_KEYS[key]):
            raise MfbenchError(f"{where}: {key} must be {TOP_KEYS[key]}; got {value!r}")
    seeds = doc.get("seeds", 1)
    if isinstance(seeds, int) and not isinstance(seeds, bool) and seeds >= 1:
        seed_list = list(range(seeds))
    elif isinstance(seeds, list) and seeds and all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        seed_list = list(seeds)
    else:
        raise MfbenchError(f"{where}: seeds must be a count (3 means seeds 0, 1, 2) or a list of integers; got {seeds!r}")

    control_raw = doc.get("control", {})
    if not isinstance(control_raw, dict):
        raise MfbenchError(f"{where}: control must be a table ([control]); got {control_raw!r}")
    for key, value in control_raw.items():
        if key not in CONTROL_KEYS:
            raise MfbenchError(f"{where}: unknown key control.{key}; [control] takes: {', '.join(CONTROL_KEYS)}")
        if not _fits(value, CONTROL_KEYS[key]):
            raise MfbenchError(f"{where}: control.{key} must be {CONTROL_KEYS[key]}; got {value!r}")
    valid = float(control_raw.get("valid", 0.0))
    control = Control(**{k: v for k, v in control_raw.items() if k != "valid"})

    algos = _tables(doc, "algorithms", where)
    datasets = _tables(doc, "datasets", where)
    executors = _tables(doc, "executors", where)
    sources = {f"{a}.{k}": f"{where}: algorithms.{a}.{k} = {v!r}" for a, kv in algos.items() for k, v in kv.items()}
    data_sources = {f"{d.split(':', 1)[0]}.{k}": f"{where}: datasets.{d}.{k} = {v!r}"
                    for d, kv in datasets.items() for k, v in kv.items()}
    # a dataset's options are keyed by its base name (``file`` for ``file:PATH``), as --data-param's
    data_params: dict[str, dict[str, Any]] = {}
    for name, options in datasets.items():
        data_params.setdefault(name.split(":", 1)[0], {}).update(options)

    return RunRequest(
        algorithms=list(algos) or list(DEFAULT_ALGORITHMS),
        datasets=list(datasets) or ["synthetic"],
        devices=_strings(doc.get("devices", "cpu")),
        seeds=seed_list,
        folds=doc.get("folds"),
        params={a: dict(kv) for a, kv in algos.items() if kv},
        data_params=data_params,
        data_dir=Path(doc["data_dir"]) if "data_dir" in doc else None,
        metrics=_strings(doc.get("metrics", "rmse,mae")),
        split_seed=doc.get("split_seed", 42),
        valid_fraction=valid,
        repeats=doc.get("repeats", 1),
        relevance=float(doc.get("relevance", DEFAULT_THRESHOLD)),
        control=control,
        checkpoint=doc.get("checkpoint", False),
        calibrate=doc.get("calibrate", True),
        out=Path(doc.get("out", "results")),
        run_id=doc.get("run_id"),
        executor=doc.get("executor", "local"),
        executor_params={e: dict(kv) for e, kv in executors.items() if kv},
        sources=sources,
        data_sources=data_sources,
        executor_sources={f"{e}.{k}": f"{where}: executors.{e}.{k} = {v!r}" for e, kv in executors.items()
                          for k, v in kv.items()},
    )
