"""``local`` runs each cell in a fresh process, one at a time; ``inline`` in this one.

``local`` is the default: a cell that crashes or runs out of memory takes only its own process
down, its peak RSS is its own, and ``--timeout`` can kill it. Cells run one after another, never
side by side, so that they do not compete for cores and memory bandwidth while they are timed.
Processes come from a fork server that has imported the harness once, so a cell starts in
milliseconds and inherits neither the parent's datasets nor its memory high-water mark.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
import types
from collections.abc import Iterable, Iterator
from typing import Any

from mfbench._cell_path import ENV_VAR as CELL_PATH_VAR
from mfbench.errors import Interrupted
from mfbench.records import crashed_record, interrupted_record, timed_out_record
from mfbench.runner import Emit, Job, run_cell

__all__ = ["InlineExecutor", "LocalExecutor"]


class InlineExecutor:
    """Run cells in this process: for debugging and tests (peak RSS is the whole process's)."""

    def run(self, jobs: Iterable[Job], emit: Emit) -> Iterator[dict[str, Any]]:
        for job in jobs:
            yield run_cell(job, emit)


def _worker(job: Job, events: Any) -> None:
    # a process group of its own: the parent stops the cell and whatever it started (a peer's
    # JVM) in one signal, and Ctrl-C at the terminal reaches the parent, which decides
    os.setpgrp()
    record = run_cell(job, lambda e: events.put(("event", e)))
    events.put(("record", record))


@contextlib.contextmanager
def _startable() -> Iterator[None]:
    """Start a cell's process from wherever mfbench runs: without the parent's ``__main__``, and
    from a daemonic process too.

    multiprocessing tells a new process where the parent's ``__main__`` came from (a script's
    path, ``<stdin>``, a module name), and the process runs it again as ``__mp_main__`` before
    its target: a script without an ``if __name__ == "__main__":`` guard then starts a run inside
    its own cell and dies in bootstrapping, ``python - < script.py`` dies on a file named
    ``<stdin>``, and a notebook's or IPython's main module is re-imported. A cell needs none of
    it (its job carries everything), so while it starts, ``__main__`` is a bare module.

    multiprocessing refuses children to a daemonic process (a dask worker, a pool's worker), lest
    they outlive it. A cell's process is daemonic itself and killed when ``run_one`` ends, however
    it ends, so that rule's reason holds; while the cell starts, the flag is lifted."""
    main = sys.modules.get("__main__")
    config = mp.current_process()._config  # noqa: SLF001 - the daemon flag has no public setter
    daemon = config.get("daemon")
    sys.modules["__main__"] = types.ModuleType("__main__")
    config["daemon"] = False
    try:
        yield
    finally:
        config["daemon"] = daemon
        if main is not None:
            sys.modules["__main__"] = main


def _kill_tree(proc: Any) -> None:
    """Kill a cell's process and its descendants (its process group), and reap it; nothing once
    it has been reaped (its id may then be another's)."""
    if proc.pid is None or proc.exitcode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.is_alive():  # before its setpgrp, the cell is in the fork server's group
        proc.kill()
    proc.join()


def _start_forkserver(drop_environ: Iterable[str] = (), preload: Iterable[str] = ()) -> None:
    """Start the fork server with this process's ``sys.path``, and without the environment
    variables ``drop_environ`` (which its cells then do not inherit).

    The server is a ``python -c`` process, which puts the current folder first on its path (and
    Python 3.11's server ignores the path it is sent): started from a folder that holds a folder
    named ``mfbench``, every cell would import that folder instead of the installed package.
    ``PYTHONSAFEPATH`` keeps the current folder off, and ``mfbench._cell_path``, preloaded
    first, puts this process's path in place and restores the environment the cells inherit;
    it also imports ``preload`` (the modules of the run's algorithms and metrics).
    """
    from multiprocessing import forkserver

    saved = {key: os.environ.get(key) for key in ("PYTHONSAFEPATH", CELL_PATH_VAR)}
    dropped = {key: os.environ.pop(key) for key in drop_environ if key in os.environ}
    os.environ["PYTHONSAFEPATH"] = "1"
    os.environ[CELL_PATH_VAR] = json.dumps({"sys_path": sys.path, "restore": saved, "preload": list(preload)})
    try:
        forkserver.ensure_running()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.environ.update(dropped)


class LocalExecutor:
    """Run each cell in its own process from a fork server; record crashes and timeouts."""

    def __init__(self, start_method: str = "forkserver", drop_environ: Iterable[str] = ()):
        self.ctx = mp.get_context(start_method)
        self.drop_environ = tuple(drop_environ)
        self.server_started = start_method != "forkserver"

    def _start(self, jobs: list[Job]) -> None:
        """Start the fork server (once a process), with the modules ``jobs`` need preloaded."""
        if self.server_started:
            return
        modules = dict.fromkeys(
            m
            for job in jobs
            for m in (
                getattr(job.factory, "__module__", None),
                *(getattr(f, "__module__", None) for f in job.metrics.values()),
            )
            if m and m != "__main__"
        )
        self.ctx.set_forkserver_preload(["mfbench._cell_path", "mfbench.runner", "numpy"])
        _start_forkserver(self.drop_environ, modules)
        self.server_started = True

    def run(self, jobs: Iterable[Job], emit: Emit) -> Iterator[dict[str, Any]]:
        jobs = list(jobs)
        self._start(jobs)
        for job in jobs:
            yield self.run_one(job, emit)

    def run_one(self, job: Job, emit: Emit) -> dict[str, Any]:
        """Run ``job`` in a process of its own and return its record (a crash or timeout is a
        failed record)."""
        self._start([job])
        if getattr(job.factory, "__module__", None) == "__main__":
            rec = crashed_record(job, None)
            rec["error"] = (
                f"{job.cell.algorithm} is defined in the script that runs mfbench (__main__), which a "
                "cell's process does not import: define it in a module of its own"
            )
            return rec
        events = self.ctx.Queue()
        proc = self.ctx.Process(
            target=_worker, args=(job, events), name=f"mfbench-cell {job.cell.algorithm}", daemon=True
        )
        with _startable():
            proc.start()
        deadline = None if job.control.timeout is None else time.monotonic() + job.control.timeout
        record = None
        try:
            while record is None:
                try:
                    kind, payload = events.get(timeout=0.2)
                except queue.Empty:
                    if deadline is not None and time.monotonic() > deadline:
                        _kill_tree(proc)
                        return timed_out_record(job, job.control.timeout)
                    if not proc.is_alive():
                        # the process may have put its record just before exiting
                        try:
                            kind, payload = events.get(timeout=1.0)
                        except queue.Empty:
                            proc.join()
                            return crashed_record(job, proc.exitcode)
                    else:
                        continue
                if kind == "event":
                    emit(payload)
                else:
                    record = payload
            proc.join(timeout=30)
            return record
        except KeyboardInterrupt as exc:
            _kill_tree(proc)
            name = exc.signal_name if isinstance(exc, Interrupted) else "SIGINT"
            raise Interrupted(name, interrupted_record(job, name)) from None
        finally:
            _kill_tree(proc)
            events.close()
