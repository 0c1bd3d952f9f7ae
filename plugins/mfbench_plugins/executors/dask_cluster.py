"""``dask``: cells over a dask.distributed cluster (the ``dask`` extra).

``--executor dask`` connects to a running scheduler (``--executor-param dask.scheduler=tcp://HOST:8786``
or ``MFBENCH_DASK_SCHEDULER``); without one it starts a ``distributed.LocalCluster`` here, one
worker per core with one thread each. Timing stays what ``local`` measures:

- **One cell at a time per worker.** Every worker offers one unit of the resource
  ``mfbench-cell`` and every cell asks for one, so two cells never share a worker's cores.
  Workers of a cluster of your own are started with it:
  ``dask worker tcp://HOST:8786 --nthreads 1 --resources mfbench-cell=1``.
- **Each cell in its own process on the worker**, from the same fork server ``local`` uses: its
  peak RSS is its own, ``--timeout`` kills it, a crash takes only that cell, and it runs in the
  environment ``local`` gives a cell (without the variables a dask nanny adds for its workers).
- **No split travels from the client.** A worker loads the dataset itself, through its own
  registry, cache and data folder (the run's ``--data-dir``, so the folder must exist on the
  workers' machines), checks its content digest against the client's (a mismatch fails the
  cell, naming both digests), and cuts the split from (protocol, split seed, fold).
- **Records come back as cells finish** and are appended to ``runs.jsonl`` at once; ``--resume``
  works as with ``local``. A worker that dies mid-cell fails that cell, naming the worker; the
  others go on. (The cluster started here gives a task no second try on another worker; a
  scheduler of your own retries it ``distributed.scheduler.allowed-failures`` times first.)
- **Each record names its worker** (address, host, CPU, cores, memory) and carries that
  worker's calibration, so ``gate`` and ``compare`` divide each cell's time by the calibration of
  the machine that ran it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import platform
import queue
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from mfbench.data import Dataset
from mfbench.errors import MfbenchError
from mfbench.records import new_record
from mfbench.runner import Emit, Job

__all__ = ["DaskExecutor", "RESOURCE", "SCHEDULER_ENV"]

#: the worker resource a cell asks for one unit of
RESOURCE = "mfbench-cell"
#: the environment variable naming a scheduler when ``scheduler`` is not given
SCHEDULER_ENV = "MFBENCH_DASK_SCHEDULER"
_INSTALL = 'the dask executor needs dask.distributed: pip install "mfbench[dask]"'


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MfbenchError(_INSTALL) from None
    return distributed


class DaskExecutor:
    """Run cells on the workers of a dask.distributed cluster (see the module docstring).

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://HOST:8786``); default ``MFBENCH_DASK_SCHEDULER``,
        else a ``LocalCluster`` started here for the run.
    workers
        Workers of that local cluster (default: one per core). Its cells run on the cores
        divided among the workers (``--threads`` overrides).
    """

    def __init__(self, scheduler: str | None = None, workers: int | None = None):
        _distributed()
        self.scheduler = scheduler or os.environ.get(SCHEDULER_ENV) or None
        if workers is not None and workers < 1:
            raise MfbenchError(f"--executor-param dask.workers={workers}: at least 1")
        self.workers = workers

    def _connect(self, stack: contextlib.ExitStack) -> tuple[Any, Any]:
        """``(client, cluster)``, closed with ``stack``; ``cluster`` is ``None`` for a scheduler of
        the user's."""
        import dask

        distributed = _distributed()
        if self.scheduler:
            try:
                client = distributed.Client(self.scheduler, timeout="20s")
            except OSError as exc:
                raise MfbenchError(
                    f"dask scheduler {self.scheduler}: cannot connect ({exc}); start one with "
                    "`dask scheduler`, or leave dask.scheduler unset for a cluster on this machine"
                ) from None
            stack.callback(client.close)
            return client, None
        # a worker's cell runs in a process of its own, which a daemonic worker may not start (the
        # setting is read whenever a nanny starts its worker again: it holds for the whole run); a
        # worker that dies mid-cell fails that cell instead of handing it to the next worker
        stack.enter_context(
            dask.config.set({"distributed.worker.daemon": False, "distributed.scheduler.allowed-failures": 0})
        )
        cluster = stack.enter_context(
            distributed.LocalCluster(
                n_workers=self.workers or os.cpu_count() or 1,
                threads_per_worker=1,
                processes=True,
                resources={RESOURCE: 1},
                dashboard_address=None,
                silence_logs=logging.ERROR,
            )
        )
        client = stack.enter_context(distributed.Client(cluster))
        return client, cluster

    def run(self, jobs: Iterable[Job], emit: Emit) -> Iterator[dict[str, Any]]:
        jobs = list(jobs)
        if not jobs:
            return
        for job in jobs:
            if job.source is None:
                raise MfbenchError(
                    f"{job.cell.id}: the dask executor needs the job's split source (plan it with "
                    "mfbench.plan.plan_run)"
                )
        distributed = _distributed()
        with contextlib.ExitStack() as stack:
            client, cluster = self._connect(stack)
            yield from self._run(jobs, emit, client, cluster, distributed)

    def _run(
        self, jobs: list[Job], emit: Emit, client: Any, cluster: Any, distributed: Any
    ) -> Iterator[dict[str, Any]]:
        topic = f"mfbench-{jobs[0].run_id}-{os.getpid()}"
        events: queue.SimpleQueue = queue.SimpleQueue()
        try:
            client.wait_for_workers(1, timeout=60)
            self._check_resources(client)
            client.subscribe_topic(topic, lambda event: events.put(event[1]))
            share = None
            if cluster is not None:  # this machine's cores, shared by its workers: no oversubscription
                share = max(1, (os.cpu_count() or 1) // len(cluster.workers))
            waiting = list(reversed(jobs))
            in_flight: dict[Any, Job] = {}
            done = distributed.as_completed()
            while waiting or in_flight:
                # no more cells in flight than cell slots: a cell waits here, not in a worker's
                # queue, so a worker that dies takes only the cell it was running with it
                free = self._slots(client) - len(in_flight)
                while waiting and free > 0:
                    job = waiting.pop()
                    shipped = replace(job, split=None)  # the worker cuts the split itself
                    if share is not None and job.control.threads is None:
                        shipped = replace(shipped, control=replace(job.control, threads=share))
                    future = client.submit(
                        run_on_worker,
                        shipped,
                        topic,
                        key=f"mfbench-cell-{time.time_ns()}",
                        resources={RESOURCE: 1},
                        pure=False,
                        retries=0,
                    )
                    in_flight[future] = job
                    done.add(future)
                    free -= 1
                while not events.empty():
                    emit(events.get())
                if not done.has_ready():
                    time.sleep(0.05)
                    continue
                for future in done.next_batch(block=False):
                    yield _record(future, in_flight.pop(future))
            while not events.empty():
                emit(events.get())
        finally:
            try:
                client.unsubscribe_topic(topic)
            except Exception:  # noqa: BLE001 - closing: the client may already be gone
                pass

    @staticmethod
    def _slots(client: Any) -> int:
        """How many cells the cluster's workers can run at once (at least one, so that a run
        whose workers are restarting waits for them)."""
        workers = client.scheduler_info().get("workers", {}).values()
        return max(1, int(sum(w.get("resources", {}).get(RESOURCE, 0) for w in workers)))

    def _check_resources(self, client: Any) -> None:
        workers = client.scheduler_info().get("workers", {})
        if not any(w.get("resources", {}).get(RESOURCE) for w in workers.values()):
            raise MfbenchError(
                f"no worker of the dask scheduler {self.scheduler} offers the {RESOURCE} resource, so "
                f"no cell could start: start workers with `dask worker {self.scheduler} --nthreads 1 "
                f"--resources {RESOURCE}=1`"
            )


def _record(future: Any, job: Job) -> dict[str, Any]:
    """The record of a finished future: the cell's own, or a failed one saying why."""
    distributed = _distributed()
    try:
        kind, payload, worker = future.result()
    except distributed.KilledWorker as exc:
        last = exc.args[1] if len(exc.args) > 1 else None
        address = getattr(last, "address", last)
        rec = new_record(job)
        rec.update(
            status="failed",
            error=f"dask worker {address} died while running the cell (killed, or out of memory?) before reporting",
            worker={"address": address},
        )
        return rec
    except Exception as exc:  # noqa: BLE001 - the cell's failure, recorded
        rec = new_record(job)
        rec.update(status="failed", error=f"the dask task failed: {type(exc).__name__}: {exc}")
        return rec
    if kind == "record":
        payload["worker"] = worker
        return payload
    rec = new_record(job)
    rec.update(status="failed", error=payload, worker=worker)
    return rec


# --- on the worker -------------------------------------------------------------------------

_DATASETS: dict[tuple, Dataset] = {}  # the last dataset this worker loaded, by (name, options, data folder)
_LOCAL: list[Any] = []  # this worker's LocalExecutor
_WORKER_INFO: dict[str, Any] = {}


def _worker_info(address: str) -> dict[str, Any]:
    """This worker's machine, and its calibration (timed once, on the first cell)."""
    if not _WORKER_INFO:
        from mfbench.calibrate import calibration_seconds
        from mfbench.devices import memory_info
        from mfbench.results import cpu_model

        _WORKER_INFO.update(
            host=platform.node(),
            cpu=cpu_model(),
            cores=os.cpu_count(),
            memory_total_bytes=memory_info("cpu")[1],
            calibration_seconds=calibration_seconds(),
        )
    return {"address": address, **_WORKER_INFO}


def _dataset(job: Job) -> Dataset:
    from pathlib import Path

    from mfbench.plan import load_dataset
    from mfbench.registry import get_registry

    source = job.source
    key = (source.dataset, json.dumps(source.options, sort_keys=True, default=str), source.data_dir)
    if key not in _DATASETS:
        _DATASETS.clear()  # one dataset in memory at a time
        spec = get_registry().dataset(source.dataset)
        _DATASETS[key] = load_dataset(
            source.dataset, spec, None if source.data_dir is None else Path(source.data_dir), source.options
        )
    return _DATASETS[key]


def _nanny_environment() -> list[str]:
    """The variables a dask nanny added to this worker's environment
    (``distributed.nanny.pre-spawn-environ`` and ``environ``), which the cells' fork server is
    started without: cells run in the environment ``local`` gives them. (A nanny sets
    ``MALLOC_TRIM_THRESHOLD_``, which disables glibc's adaptive mmap threshold: ``als``'s fit
    on 1M ratings took about 1.5x as long under it.) A variable the user set to the nanny's own
    value is left out too."""
    import dask

    added = {
        **(dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}),
        **(dask.config.get("distributed.nanny.environ", {}) or {}),
    }
    return [k for k, v in added.items() if os.environ.get(k) == str(v)]


def _plain(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` with numpy scalars as Python numbers (what the event stream carries)."""
    return json.loads(json.dumps(event, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def run_on_worker(job: Job, topic: str) -> tuple[str, Any, dict[str, Any]]:
    """Run ``job`` (sent without its split) on this worker: ``("record", record, worker)``, or
    ``("failed", why, worker)`` when the cell could not start."""
    from distributed import get_worker

    from .local import LocalExecutor

    worker = get_worker()
    info = _worker_info(worker.address)
    if mp.current_process().daemon:
        return (
            "failed",
            (
                f"dask worker {worker.address} is a daemonic process and cannot start the cell's own "
                "process: start workers with `dask worker ... --no-nanny`, or set "
                "DASK_DISTRIBUTED__WORKER__DAEMON=False where they start"
            ),
            info,
        )
    source = job.source
    try:
        dataset = _dataset(job)
    except Exception as exc:  # noqa: BLE001 - the cell's failure, recorded
        return (
            "failed",
            f"dask worker {worker.address} could not load {source.dataset}: {type(exc).__name__}: {exc}",
            info,
        )
    if dataset.digest != source.digest:
        return (
            "failed",
            (
                f"dataset {source.dataset} on dask worker {worker.address} has digest {dataset.digest}, "
                f"the client's has {source.digest}: the two machines hold different copies; point "
                "--data-dir (or the dataset cache) at the same files"
            ),
            info,
        )
    if not _LOCAL:
        _LOCAL.append(LocalExecutor(drop_environ=_nanny_environment()))
    record = _LOCAL[0].run_one(
        replace(job, split=source.cut(dataset)), lambda event: worker.log_event(topic, _plain(event))
    )
    return "record", record, info
