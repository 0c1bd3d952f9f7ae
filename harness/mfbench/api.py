"""mfbench from Python: ``mfbench.run(...)`` runs an experiment and returns its ``Results``;
``mfbench.load(run)`` reads a past run. Both work on the same run folders as the command line.

    import mfbench

    res = mfbench.run(algos=["sgd", "als"], datasets=["ml-100k"], folds="official@1",
                      params={"sgd": {"k": [32, 64, 128]}})
    res.to_pandas()       # one tidy row per cell
    res.curves()          # one row per epoch
    print(res.table())    # the table mfbench run prints

``execute`` is the one way a run happens: the command line, an experiment file and ``run`` all
build a ``RunRequest`` and hand it here.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Interrupted, MfbenchError
from .plan import Plan, check_assignments, plan_run
from .request import DEFAULT_ALGORITHMS, OPTIONS, RunRequest, coerce, validate
from .results import Results, RunStore, capture_environment, new_run_id, read_environment

__all__ = ["run", "request", "load", "execute", "Results", "Execution"]


@dataclass
class Execution:
    """What ``execute`` did: the run folder, the plan, and whether it was interrupted."""

    store: RunStore
    plan: Plan
    interrupted: bool = False
    exit_code: int = 0  # 130 after Ctrl-C, 143 after SIGTERM


#: a plan of more cells than this asks ``confirm`` first (``mfbench run`` from a terminal: --yes)
CONFIRM_ABOVE = 1000


def execute(
    request: RunRequest,
    *,
    quiet: bool = True,
    echo: Callable[[str], None] | None = None,
    argv: Sequence[str] | None = None,
    confirm: Callable[[int], bool] | None = None,
) -> Execution:
    """Plan ``request`` (everything validated before any work), write the run folder, run its
    cells through the executor and append each record the moment it ends. ``echo`` receives
    the progress lines meant for stderr (``None``: none). A plan of more than ``CONFIRM_ABOVE``
    cells runs only if ``confirm(cells)`` says so (``None``: it does). The run folder has one
    writer at a time (``RunStore.locked``)."""
    from .registry import get_registry

    say = echo or (lambda line: None)
    registry = get_registry()
    validate(request)
    run_id = request.resume or request.run_id or new_run_id()
    store = RunStore(Path(request.out), run_id)
    if request.resume and not store.records_path.exists():
        raise MfbenchError(f"--resume {request.resume}: no run at {store.records_path}")
    exec_spec = registry.executor(request.executor)
    exec_options = check_assignments(
        request.executor_params, {request.executor: exec_spec.defaults}, request.executor_sources, "--executor-param"
    ).get(request.executor, {})
    plan = plan_run(request, registry, run_id, str(store.path / "checkpoints") if request.checkpoint else None)
    for name, ds in plan.datasets.items():
        for note in ds.notes:
            say(f"{name}: {note}")
    if confirm is not None and len(plan.jobs) > CONFIRM_ABOVE and not confirm(len(plan.jobs)):
        raise MfbenchError(
            f"{len(plan.jobs):,} cells planned and not confirmed: nothing ran (mfbench run --yes "
            "starts them without asking)"
        )

    with store.locked(say):
        return _run(request, store, plan, exec_spec, exec_options, quiet, say, argv)


def _run(
    request: RunRequest,
    store: RunStore,
    plan: Plan,
    exec_spec: Any,
    exec_options: dict[str, Any],
    quiet: bool,
    say: Callable[[str], None],
    argv: Sequence[str] | None,
) -> Execution:
    """``execute``'s work once the run folder is held: environment, request, the cells."""
    from ._progress import Progress

    done = store.finished_ok() if request.resume else set()
    if request.resume and (note := store.damage_note()):
        say(note)
    jobs = [j for j in plan.jobs if j.cell.id not in done]
    store.create()
    env = capture_environment(request.devices)
    if request.calibrate:
        from .calibrate import calibration_seconds

        env["calibration_seconds"] = calibration_seconds()
    if request.resume and (store.path / "environment.json").exists():
        previous = read_environment(store.path)
        env.setdefault("calibration_seconds", previous.get("calibration_seconds"))
        env["resumed_from"] = previous.get("created_at")
    store.write_environment(env)
    store.write_json(
        "request.json",
        {"argv": list(argv if argv is not None else sys.argv), "cwd": os.getcwd(), "cells": [c.id for c in plan.cells]},
    )
    if not quiet:
        skipped = f", {len(plan.jobs) - len(jobs)} already done" if request.resume else ""
        say(f"run {store.run_id}: {len(jobs)} cells{skipped} -> {store.records_path}")

    progress = Progress(len(jobs), quiet=quiet)
    labels = {j.cell.id: j.cell.label() for j in jobs}
    try:
        with _sigterm_as_interrupt():
            for record in exec_spec.make(**exec_options).run(jobs, progress.event):
                store.append(record)
                progress.cell_done(record, labels.get(record["cell_id"], record["cell_id"]))
    except KeyboardInterrupt as exc:
        progress.close()
        if isinstance(exc, Interrupted) and exc.record is not None:
            store.append(exc.record)
        return Execution(
            store, plan, interrupted=True, exit_code=exc.exit_code if isinstance(exc, Interrupted) else 130
        )
    progress.close()
    if request.calibrate and jobs:
        _calibrate_again(store, env)
    return Execution(store, plan)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While cells run, SIGTERM stops the run as Ctrl-C does (the running cell killed, the finished
    ones kept, ``--resume`` to go on) instead of ending this process and orphaning the cell."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise Interrupted("SIGTERM")

    old = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _calibrate_again(store: RunStore, env: dict[str, Any]) -> None:
    """Time the calibration again after the cells and keep the faster of the two.

    On a shared machine the workload sometimes runs several times slower for a few seconds (a
    neighbour, the hypervisor): one such burst during the first calibration made a CI gate see
    every cell at 0.38x its baseline (calibration 0.376 s against 0.133 s, the cells at their
    usual speed). A burst slows a calibration down, never speeds it up, so the faster of two
    taken minutes apart is the machine's speed; both are kept in ``environment.json``."""
    from .calibrate import calibration_seconds

    before = env.get("calibration_seconds")
    after = calibration_seconds()
    env["calibration_runs"] = [before, after]
    env["calibration_seconds"] = min(after, before) if before else after
    store.write_environment(env)


def load(run: str | os.PathLike, out: str | os.PathLike = "results") -> Results:
    """A past run's ``Results``: ``run`` is a run id under ``out`` or a run folder's path."""
    store = RunStore.open(str(run), Path(out))
    records = store.latest()
    if not records:
        raise MfbenchError(f"run {run!r} has no records yet ({store.records_path})")
    return Results(store.path, records)


#: ``mfbench.run`` keywords that are not run options: ``{NAME: {KEY: value}}`` tables
_TABLE_ARGS = ("params", "data_params", "executor_params")


def request(
    algos: str | Sequence[str] = DEFAULT_ALGORITHMS, datasets: str | Sequence[str] = ("synthetic",), **options: Any
) -> RunRequest:
    """The ``RunRequest`` of ``run``'s arguments (``run`` documents them, ``mfbench.request.OPTIONS``
    lists them), checked when planned. ``None`` for an option means its default; ``data_dir``'s is
    ``MFBENCH_DATA_DIR``."""
    by_arg = {o.arg: o for o in OPTIONS if o.arg}
    for name in options:
        if name not in by_arg and name not in _TABLE_ARGS:
            raise MfbenchError(
                f"mfbench.run({name}=...): no such option; it takes: {', '.join([*by_arg, *_TABLE_ARGS])}"
            )
    given = {"algos": algos, "datasets": datasets, **options}
    if given.get("data_dir") is None and os.environ.get("MFBENCH_DATA_DIR"):
        given["data_dir"] = os.environ["MFBENCH_DATA_DIR"]
    values, origins = {}, {}
    for arg, value in given.items():
        if arg in _TABLE_ARGS or value is None:
            continue
        opt = by_arg[arg]
        values[opt.name] = coerce(opt, value, f"mfbench.run({arg}=...)")
        origins[opt.name] = f"mfbench.run({arg}={value!r})"
    params, data_params = options.get("params") or {}, options.get("data_params") or {}
    executor_params = options.get("executor_params") or {}
    executor = values.get("executor", RunRequest.executor)
    for arg, table in (("params", params), ("data_params", data_params), ("executor_params", executor_params)):
        if not isinstance(table, Mapping):
            raise MfbenchError(f"mfbench.run({arg}=...): give a dict, not {type(table).__name__}")
    base = RunRequest(
        params={a: dict(kv) for a, kv in params.items()},
        data_params={d: dict(kv) for d, kv in data_params.items()},
        executor_params={executor: dict(executor_params)} if executor_params else {},
        sources={
            f"{a}.{k}": f"mfbench.run(params={{{a!r}: {{{k!r}: {v!r}}}}})"
            for a, kv in params.items()
            for k, v in kv.items()
        },
        data_sources={
            f"{d}.{k}": f"mfbench.run(data_params={{{d!r}: {{{k!r}: {v!r}}}}})"
            for d, kv in data_params.items()
            for k, v in kv.items()
        },
        executor_sources={
            f"{executor}.{k}": f"mfbench.run(executor_params={{{k!r}: {v!r}}})" for k, v in executor_params.items()
        },
    )
    return base.set(values, origins)


def _signature(extra: Sequence[inspect.Parameter] = ()) -> inspect.Signature:
    """``request``'s and ``run``'s signature as ``help()`` and editors show it: from the table."""
    kw = inspect.Parameter.KEYWORD_ONLY
    positional = [
        inspect.Parameter("algos", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=DEFAULT_ALGORITHMS),
        inspect.Parameter("datasets", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=("synthetic",)),
    ]
    keywords = [inspect.Parameter(name, kw, default=None) for name in _TABLE_ARGS]
    keywords += [
        inspect.Parameter(o.arg, kw, default=1 if o.kind == "seeds" else o.default)
        for o in OPTIONS
        if o.arg and o.arg not in ("algos", "datasets")
    ]
    return inspect.Signature([*positional, *extra, *keywords])


request.__signature__ = _signature()  # type: ignore[attr-defined]


def run(
    algos: str | Sequence[str] = DEFAULT_ALGORITHMS,
    datasets: str | Sequence[str] = ("synthetic",),
    *,
    quiet: bool = True,
    **options: Any,
) -> Results:
    """Run an experiment, as ``mfbench run`` does, and return its ``Results``.

    ``params`` maps an algorithm to hyper-parameters; a list of values is a grid:
    ``{"sgd": {"k": [32, 64], "lr": [0.01, 0.05]}}`` runs four sgd settings. ``data_params`` maps
    a dataset to its options. ``seeds`` is a count (``3``: seeds 0, 1, 2) or a list. The other
    keyword arguments are ``mfbench run``'s options of the same names (``valid`` is ``--valid``,
    ``devices`` ``--device``): ``folds``, ``metrics``, ``repeats``, ``patience``, ``min_delta``,
    ``max_epochs``, ``time_budget``, ``timeout``, ``threads``, ``relevance``, ``split_seed``,
    ``data_dir`` (default: ``MFBENCH_DATA_DIR``), ``out``, ``run_id``, ``resume``, ``executor``,
    ``checkpoint``, ``calibrate``; ``executor_params`` are the executor's options
    (``executor="dask", executor_params={"scheduler": "tcp://HOST:8786"}``).

    Cells that fail are in the results with their status and error; ``MfbenchError`` is raised
    for a request that cannot run (an unknown name, a bad value), before any work.
    ``KeyboardInterrupt`` propagates once the finished cells are saved."""
    req = request(algos, datasets, **options)
    done = execute(
        req, quiet=quiet, echo=None if quiet else (lambda line: print(line, file=sys.stderr)), argv=["mfbench.run"]
    )
    if done.interrupted:
        raise KeyboardInterrupt(
            f"interrupted: the finished cells are in {done.store.records_path}; "
            f"continue with mfbench.run(..., resume={done.store.path.name!r})"
        )
    wanted = {c.id for c in done.plan.cells}
    return Results(done.store.path, [r for r in done.store.latest() if r["cell_id"] in wanted], done.plan.metric_names)


run.__signature__ = _signature([inspect.Parameter("quiet", inspect.Parameter.KEYWORD_ONLY, default=True)])  # type: ignore[attr-defined]
