"""What a run is asked for: ``RunRequest``, ``Control``, and the one table of run options.

A run is asked for through three doors: the command line (``mfbench run --repeats 3``), an
experiment file (``repeats = 3``) and Python (``mfbench.run(repeats=3)``). Each option is one
row of ``OPTIONS``: its type, default, help, command-line flag, experiment-file key, keyword of
``mfbench.run`` and constraint. The click options of ``mfbench run``, the keys an experiment file
takes and the keywords ``mfbench.run`` accepts are all made from it, and ``validate`` checks a
request against it, whichever door built it. Adding an option is one row here (and its use
where the run reads it).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import MfbenchError
from .ranking import DEFAULT_THRESHOLD

__all__ = [
    "RunRequest",
    "Control",
    "Option",
    "OPTIONS",
    "DEFAULT_ALGORITHMS",
    "option",
    "coerce",
    "validate",
    "split_list",
    "parse_seeds",
]

#: what ``mfbench run`` runs when no algorithm is named: the main families, on the synthetic set
DEFAULT_ALGORITHMS = ("biases", "sgd", "als", "svd", "adam_sgd", "masked_gd")


@dataclass(frozen=True)
class Control:
    """Training control of every cell.

    Parameters
    ----------
    patience
        Stop after this many epochs without a validation-RMSE improvement of ``min_delta``, and
        restore the best epoch's state (needs a validation split); ``None`` disables it.
    max_epochs
        Stop after this many epochs whatever the algorithm's own setting.
    time_budget
        Stop training after this many seconds of epochs (the cell still predicts and scores).
    timeout
        Kill the cell after this many seconds in all (the executor enforces it); recorded as
        ``timed_out``.
    threads
        numba and BLAS threads in the cell; ``None`` leaves the libraries' defaults.
    """

    patience: int | None = None
    min_delta: float = 0.0
    max_epochs: int | None = None
    time_budget: float | None = None
    timeout: float | None = None
    threads: int | None = None


@dataclass(frozen=True)
class RunRequest:
    """Everything a run was asked for, before validation: built alike by the command line
    (``--algos``, ``--param``, ...), an experiment file (``mfbench.experiment``) and the Python
    API (``mfbench.run``). ``OPTIONS`` documents each field.

    ``params`` maps an algorithm to its hyper-parameters; a list of values is a grid (one cell
    per value, the product over keys), except for a parameter whose default is itself a list,
    where a list of lists is. ``data_params`` maps a dataset to its options, ``executor_params``
    an executor to its own. ``sources`` says where each ``ALGO.KEY`` (``DATASET.KEY`` in
    ``data_sources``, ``EXECUTOR.KEY`` in ``executor_sources``) was set, and ``origins`` where
    each option was (``--repeats 0``, ``exp.toml: repeats = 0``), for error messages.
    """

    algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    datasets: Sequence[str] = ("synthetic",)
    devices: Sequence[str] = ("cpu",)
    seeds: Sequence[int] = (0,)
    folds: str | None = None
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    data_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    data_dir: Path | None = None
    metrics: Sequence[str] = ("rmse", "mae")
    split_seed: int = 42
    valid_fraction: float = 0.0
    repeats: int = 1
    relevance: float = DEFAULT_THRESHOLD
    control: Control = field(default_factory=Control)
    checkpoint: bool = False
    calibrate: bool = True
    out: Path = Path("results")
    run_id: str | None = None
    resume: str | None = None
    executor: str = "local"
    executor_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    data_sources: Mapping[str, str] = field(default_factory=dict)
    executor_sources: Mapping[str, str] = field(default_factory=dict)
    origins: Mapping[str, str] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        """The value of option ``name`` (a field of the request or of its ``control``)."""
        return getattr(self.control if option(name).control else self, name)

    def set(self, values: Mapping[str, Any], origins: Mapping[str, str] | None = None) -> RunRequest:
        """A copy with options set by name (control options included), and where each was set."""
        control = {k: v for k, v in values.items() if option(k).control}
        plain = {k: v for k, v in values.items() if k not in control}
        if control:
            plain["control"] = replace(self.control, **control)
        return replace(self, **plain, origins={**self.origins, **(origins or {})})


#: the largest count of seeds (a typo such as ``--seeds 1000000`` is refused, not planned)
MAX_SEEDS = 10_000


# -- kinds: what a value may be, said once for every door ----------------------------------------------------------

_KINDS = {
    "str": "a string",
    "int": "an integer",
    "number": "a number",
    "bool": "true or false",
    "path": "a path (a string)",
    "names": "a list of names (or one comma-separated string)",
    "seeds": f"a count from 1 to {MAX_SEEDS:,} (3 means seeds 0, 1, 2) or a list of integers (1,5,7)",
}


def split_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the one reading of a comma-separated list."""
    return [t.strip() for t in text.split(",") if t.strip()]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_seeds(text: str) -> list[int]:
    """``3`` means seeds 0, 1, 2; ``1,5,7`` means those seeds."""
    if "," in text:
        return [int(s) for s in split_list(text)]
    return _count(int(text))


def _count(n: int) -> list[int]:
    if not 1 <= n <= MAX_SEEDS:
        raise ValueError(n)
    return list(range(n))


@dataclass(frozen=True)
class Option:
    """One run option: where it lives in the request, what it may be, how each door names it.

    ``flag`` is its command-line option (``None``: not on the command line), ``key`` its
    experiment-file key (``control.valid`` for one in the ``[control]`` table; ``None``: not in
    files), ``arg`` its keyword of ``mfbench.run``. ``rule`` says in words what ``check``
    accepts."""

    name: str
    kind: str
    default: Any
    help: str
    flag: str | None = None
    key: str | None = None
    arg: str | None = None
    rule: str | None = None
    check: Callable[[Any], bool] | None = None
    control: bool = False
    metavar: str | None = None
    envvar: str | None = None
    secondary_flag: str | None = None
    """For a ``bool``: the flag that sets it false (``--no-calibrate``)."""
    cli_default: Any = None
    """The default as the command line writes it, where it differs (``--seeds 1``)."""

    def describe(self, value: Any) -> str:
        return f"{self.kind_text}; got {value!r}"

    @property
    def kind_text(self) -> str:
        return _KINDS[self.kind]


def _at_least(n: float) -> tuple[str, Callable[[Any], bool]]:
    return f"at least {n:g}", lambda v: v >= n


def _positive() -> tuple[str, Callable[[Any], bool]]:
    return "must be more than 0 seconds", lambda v: math.isfinite(v) and v > 0


def _opt(
    name: str,
    kind: str,
    default: Any,
    help: str,
    *,
    flag: str | None = None,
    key: str | None = "",
    arg: str | None = "",
    check: tuple[str, Callable[[Any], bool]] | None = None,
    **more: Any,
) -> Option:
    """An ``Option`` whose file key and API keyword are its name unless given (``None``: none)."""
    prefix = "control." if more.get("control") else ""
    rule, test = check if check else (None, None)
    return Option(
        name,
        kind,
        default,
        help,
        flag,
        prefix + name if key == "" else key,
        name if arg == "" else arg,
        rule,
        test,
        **more,
    )


#: every option of a run, in the order ``mfbench run --help`` lists them
OPTIONS: tuple[Option, ...] = (
    _opt(
        "algorithms",
        "names",
        DEFAULT_ALGORITHMS,
        "Algorithms, comma-separated (mfbench list).",
        flag="--algos",
        key=None,
        arg="algos",
        check=("give at least one algorithm (see mfbench list)", bool),
    ),
    _opt(
        "datasets",
        "names",
        ("synthetic",),
        "Datasets, comma-separated: synthetic, ml-100k, ml-latest-small, file:PATH, ...",
        flag="--dataset",
        key=None,
        check=("give at least one dataset (see mfbench list datasets)", bool),
    ),
    _opt(
        "devices",
        "names",
        ("cpu",),
        "cpu, gpu, or both: cpu,gpu.",
        flag="--device",
        check=("give at least one device: cpu, gpu", bool),
    ),
    _opt(
        "seeds",
        "seeds",
        (0,),
        "A count (3 = seeds 0,1,2) or a list (1,5,7).",
        flag="--seeds",
        cli_default="1",
        check=("give at least one seed", bool),
    ),
    _opt(
        "folds",
        "str",
        None,
        "official | holdout[:FRACTION] | kfold[:K] | last, optionally @1,3 to keep some "
        "folds [default: the dataset's own, e.g. official for ml-100k, holdout:0.2 for synthetic].",
        flag="--folds",
        metavar="PROTOCOL",
    ),
    _opt(
        "data_dir",
        "path",
        None,
        "Folder with local dataset copies (ml-100k/, ml-latest-small/) [env: MFBENCH_DATA_DIR].",
        flag="--data-dir",
        envvar="MFBENCH_DATA_DIR",
    ),
    _opt(
        "metrics",
        "names",
        ("rmse", "mae"),
        "Metrics, comma-separated: rating metrics (rmse, mae, accuracy) and "
        "ranking metrics at a cut-off (ndcg@10, precision@5, recall@20, map@10, hit_rate@10, coverage@10).",
        flag="--metrics",
        check=("give at least one metric (see mfbench list metrics)", bool),
    ),
    _opt(
        "relevance",
        "number",
        DEFAULT_THRESHOLD,
        "Ranking metrics: a test rating at or above this is a relevant item.",
        flag="--relevance",
        check=("the relevance threshold must be a finite number", math.isfinite),
    ),
    _opt("out", "path", Path("results"), "Folder for run folders.", flag="--out"),
    _opt(
        "run_id",
        "str",
        None,
        "Name of the run folder [default: the start time].",
        flag="--run-id",
        check=(
            "a run id is a folder name: no '/', not '.' or '..'",
            lambda v: "/" not in v and v not in ("", ".", ".."),
        ),
    ),
    _opt(
        "resume",
        "str",
        None,
        "Continue a run: skip its cells already recorded ok.",
        flag="--resume",
        metavar="RUN_ID",
        key=None,
    ),
    _opt(
        "executor",
        "str",
        "local",
        "local (a process per cell, one at a time), dask (cells over a "
        "dask.distributed cluster: the dask extra) or inline; `mfbench list executors`.",
        flag="--executor",
    ),
    _opt(
        "valid_fraction",
        "number",
        0.0,
        "Fraction of train held out for validation RMSE curves and early stopping.",
        flag="--valid",
        key="control.valid",
        arg="valid",
        check=("the validation fraction must be in [0, 1)", lambda v: 0 <= v < 1),
    ),
    _opt(
        "patience",
        "int",
        None,
        "Early stopping after N epochs without validation gain.",
        flag="--patience",
        control=True,
        check=_at_least(1),
    ),
    _opt(
        "min_delta",
        "number",
        0.0,
        "Smallest validation-RMSE gain that counts.",
        flag="--min-delta",
        control=True,
        check=("must be a finite number >= 0", lambda v: math.isfinite(v) and v >= 0),
    ),
    _opt(
        "max_epochs",
        "int",
        None,
        "Stop every cell after this many epochs.",
        flag="--max-epochs",
        control=True,
        check=_at_least(1),
    ),
    _opt(
        "time_budget",
        "number",
        None,
        "Stop training a cell after this many seconds of epochs.",
        flag="--time-budget",
        control=True,
        check=_positive(),
    ),
    _opt(
        "timeout",
        "number",
        None,
        "Kill a cell after this many seconds (local and dask executors).",
        flag="--timeout",
        control=True,
        check=_positive(),
    ),
    _opt(
        "threads",
        "int",
        None,
        "numba and BLAS threads per cell [default: all cores].",
        flag="--threads",
        control=True,
        check=_at_least(1),
    ),
    _opt(
        "repeats",
        "int",
        1,
        "Run each cell N times; the table shows median [min, max] times.",
        flag="--repeats",
        check=_at_least(1),
    ),
    _opt(
        "checkpoint", "bool", False, "Save each cell's best (or last) state to RUN/checkpoints/.", flag="--checkpoint"
    ),
    _opt(
        "calibrate",
        "bool",
        True,
        "Time a fixed workload, an index of the machine's speed (environment.json); "
        "`mfbench gate RUN --baseline` divides by it.",
        flag="--calibrate",
        secondary_flag="--no-calibrate",
    ),
    _opt("split_seed", "int", 42, "Seed of random splits (not of algorithms).", flag="--split-seed"),
)

_BY_NAME = {o.name: o for o in OPTIONS}
_CONTROL_FIELDS = {f.name for f in fields(Control)}
assert {o.name for o in OPTIONS if o.control} == _CONTROL_FIELDS, "every Control field is an option"


def option(name: str) -> Option:
    """The option called ``name`` (a field of ``RunRequest`` or ``Control``)."""
    return _BY_NAME[name]


def coerce(opt: Option, value: Any, label: str) -> Any:
    """``value`` as the request holds option ``opt`` (a list of names, seeds, a ``Path``), or an
    ``MfbenchError`` that starts with ``label`` (how the door names it) and says what is allowed."""
    kind = opt.kind
    if value is None and opt.default is None:
        return None
    if kind == "names":
        if isinstance(value, str):
            return split_list(value)
        if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value if v.strip()]
    elif kind == "seeds":
        try:
            if _is_int(value):
                return _count(value)
            if isinstance(value, str):
                return parse_seeds(value)
        except ValueError:
            pass
        if isinstance(value, (list, tuple)) and all(_is_int(v) for v in value):
            return list(value)
    elif kind == "int" and _is_int(value):
        return value
    elif kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    elif kind == "bool" and isinstance(value, bool):
        return value
    elif kind == "str" and isinstance(value, str):
        return value
    elif kind == "path" and isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise MfbenchError(f"{label} must be {opt.describe(value)}")


def validate(request: RunRequest) -> None:
    """Check every option's constraint and the rules between options; an ``MfbenchError`` names
    where the bad value was set (``--repeats 0``, ``exp.toml: repeats = 0``)."""
    for opt in OPTIONS:
        value = request.value(opt.name)
        if opt.check is not None and value is not None and not opt.check(value):
            where = request.origins.get(opt.name) or f"{opt.flag} {_shown(value)}"
            raise MfbenchError(f"{where}: {opt.rule}")
    if request.resume and request.run_id and request.resume != request.run_id:
        raise MfbenchError("give --resume RUN_ID or --run-id RUN_ID, not two different ids")
    if request.control.patience is not None and request.valid_fraction <= 0:
        raise MfbenchError("--patience needs a validation split: add --valid 0.1 (say)")


def _shown(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
