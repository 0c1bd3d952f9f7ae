"""Expand the matrix into cells, run each cell (isolated by the executor), record the results.

A *cell* is one algorithm with its parameters, on one split of one dataset, on one device, with
one seed. ``run_cell`` does the work of a cell wherever the executor puts it: it builds the
algorithm, times ``prepare`` apart from the epochs, drives ``fit`` epoch by epoch (timing each,
computing the validation RMSE outside the epoch's clock, stopping early or on divergence),
predicts the test split and scores it. Whatever happens, it returns a record.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from . import devices
from .algorithm import AlgorithmProtocol
from .data import Dataset, Split, make_splits, parse_protocol
from .measure import Stopwatch, TreePeak, current_rss_bytes
from .ranking import DEFAULT_THRESHOLD, TopN, relevant_items
from .records import cell_id, crashed_record, digest, finish, interrupted_record, new_record, timed_out_record
from .request import Control

__all__ = [
    "Cell",
    "Control",
    "Job",
    "SplitSource",
    "Executor",
    "run_cell",
    "train",
    "score",
    "Training",
    "BestEpoch",
    "cell_id",
    # the record builders an executor needs, from mfbench.records
    "crashed_record",
    "interrupted_record",
    "timed_out_record",
]

Emit = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, eq=False)
class Cell:
    algorithm: str
    params: dict[str, Any]
    dataset: str
    split: str
    device: str
    seed: int
    repeat: int = 0

    @property
    def id(self) -> str:
        return cell_id(self.algorithm, self.params, self.dataset, self.split, self.device, self.seed, self.repeat)

    def label(self) -> str:
        rep = f" · repeat {self.repeat + 1}" if self.repeat else ""
        return f"{self.algorithm} · {self.dataset} {self.split} · {self.device} · seed {self.seed}{rep}"


@dataclass(frozen=True)
class SplitSource:
    """Where a job's split comes from, so that a worker on another machine can load the dataset
    through its own registry, cache and data folder and cut the same split, instead of receiving
    the split's arrays. ``digest`` is the client's ``Dataset.digest``: the worker checks its own
    load against it."""

    dataset: str
    """The dataset's name as the run asked for it (``NAME`` or ``NAME:ARG``)."""
    options: dict[str, Any]
    data_dir: str | None
    protocol: str
    split_seed: int
    valid_fraction: float
    split: str
    """The split's name (``official/u1``)."""
    digest: str

    def cut(self, dataset: Dataset) -> Split:
        """This source's split of ``dataset`` (already checked against ``digest``)."""
        for split in make_splits(dataset, parse_protocol(self.protocol), self.split_seed, self.valid_fraction):
            if split.name == self.split:
                return split
        raise LookupError(f"{self.dataset} has no split {self.split!r} under --folds {self.protocol}")


@dataclass(eq=False)
class Job:
    """All a worker needs to run a cell, picklable: no registry lookup happens in the worker."""

    run_id: str
    cell: Cell
    split: Split
    factory: Callable[..., Any]
    metrics: dict[str, Callable[..., float]]
    control: Control = field(default_factory=Control)
    code_version: str = ""
    checkpoint_dir: str | None = None
    """Where to save the best (or last) state as ``<cell digest>.npz``; ``None``: no checkpoint."""
    ranking: dict[str, tuple[Callable[..., float], int]] = field(default_factory=dict)
    """Ranking metrics by column name (``ndcg@10``): the function and its cut-off ``k``."""
    relevance: float = DEFAULT_THRESHOLD
    """The test rating at or above which an item is relevant to the ranking metrics."""
    source: SplitSource | None = None
    """How to cut ``split`` again elsewhere (executors that send jobs to other machines)."""


class Executor(Protocol):
    """Runs jobs and yields one record per job; a crash or timeout is that job's failed record."""

    def run(self, jobs: Iterable[Job], emit: Emit) -> Iterator[dict[str, Any]]: ...


def code_version(factory: Callable[..., Any]) -> str:
    """Hash of the source of the module that defines the algorithm (asv's benchmark version)."""
    try:
        module = inspect.getmodule(factory)
        return hashlib.sha1(inspect.getsource(module).encode()).hexdigest()[:12] if module else ""
    except (OSError, TypeError):
        return ""


#: what the thread pools of libraries not loaded yet read when they load
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def _set_threads(threads: int | None) -> None:
    """Limit numba and BLAS threads when ``threads`` is given (numba is imported only then):
    the libraries loaded now through threadpoolctl, those an algorithm loads later (scipy's own
    OpenBLAS, imported in ``prepare``) through the variables they read when they load."""
    if threads is None:
        return
    import os

    import numba
    from threadpoolctl import threadpool_limits

    os.environ.update({name: str(threads) for name in _THREAD_VARIABLES})
    threadpool_limits(limits=threads)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


def _threads_in_force(used: int | None = None) -> dict[str, Any]:
    """numba's thread count and threading layer (when the cell used numba) and BLAS's thread
    count, as the cell ran; ``used``: the threads the algorithm's kernels ran on where it says
    (``threads_used_``: fewer than numba's count, say, where its tables fit in one core's cache)."""
    import sys

    from threadpoolctl import threadpool_info

    blas = [i.get("num_threads") for i in threadpool_info() if i.get("user_api") == "blas"]
    numba = sys.modules.get("numba")
    layer = None
    if numba is not None:
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel region ran in this cell
            pass
    threads = used if used is not None else numba.get_num_threads() if numba else None
    return {"numba": threads, "numba_layer": layer, "blas": max(blas) if blas else None}


def save_checkpoint(
    directory: str, cell: Cell, state: dict[str, Any], extra: dict[str, np.ndarray] | None = None
) -> str:
    """Write ``state`` (and ``extra``: the ids, training pairs and names that ``mfbench.fitted``
    reads back) to ``directory/<digest>.npz`` atomically; returns the path."""
    import os
    import tempfile

    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{digest(cell.id)}.npz")
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".npz.tmp")
    with os.fdopen(fd, "wb") as fh:
        arrays: dict[str, Any] = {**state, **(extra or {})}
        np.savez(fh, **arrays)
    os.replace(tmp, path)
    return path


def top_n(algo: AlgorithmProtocol, split: Split, n: int, threshold: float) -> TopN:
    """The top-``n`` lists of the test users with a relevant test item (see ``mfbench.ranking``)."""
    users, indptr, items = relevant_items(split.test, threshold)
    if len(users) == 0:
        raise ValueError(f"no test rating reaches the relevance threshold {threshold:g}; lower it with --relevance")
    recs, _ = algo.recommend(users, n=n, exclude_seen=True, train=split.train)
    return TopN(users, recs, indptr, items, split.train.n_items, threshold)


#: ``train_mse`` is measured on at most this many training ratings (all of them below it)
TRAIN_MSE_SAMPLE = 1 << 20
#: the curve values whose non-finite value means divergence
WATCHED = ("train_mse", "objective", "valid_rmse")


def train_sample(train: Any) -> np.ndarray:
    """The training ratings ``train_mse`` is measured on: all of them up to ``TRAIN_MSE_SAMPLE``,
    else about that many (distinct draws) with a fixed seed, so that every algorithm on a split is
    measured on the same ratings. Drawn in O(sample), not O(ratings)."""
    n = len(train)
    if n <= TRAIN_MSE_SAMPLE:
        return np.arange(n)
    return np.unique(np.random.default_rng(0).integers(0, n, TRAIN_MSE_SAMPLE))


def _mse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((y.astype(np.float64) - p) ** 2))


def _rmse(y: np.ndarray, p: np.ndarray) -> float:
    return math.sqrt(_mse(y, p))


@dataclass
class BestEpoch:
    """The epoch early stopping keeps: its validation RMSE, number and the model's state then."""

    valid_rmse: float = math.inf
    epoch: int = -1
    state: dict[str, Any] | None = None


@dataclass
class Training:
    """What ``train`` did: one curve point per epoch, the training time, why it stopped."""

    curve: list[dict[str, Any]] = field(default_factory=list)
    fit_seconds: float = 0.0
    fit_cpu_seconds: float = 0.0
    stopped: str = "completed"
    best: BestEpoch = field(default_factory=BestEpoch)

    @property
    def epochs(self) -> int:
        return len(self.curve)


def train(
    algo: AlgorithmProtocol,
    split: Split,
    control: Control,
    clock: Stopwatch,
    cell_id: str = "",
    emit: Emit = lambda e: None,
    curve: list[dict[str, Any]] | None = None,
) -> Training:
    """Drive ``algo.fit`` epoch by epoch: each epoch timed alone; then, off the clock, its
    monitoring values, ``train_mse`` and ``valid_rmse``; stop on divergence, early stopping,
    ``max_epochs`` or ``time_budget``. The model is left as the last epoch made it. Points are
    appended to ``curve`` as they come, so that a caller keeps them if an epoch raises."""
    out = Training(curve=curve if curve is not None else [])
    sample = train_sample(split.train)
    s_users, s_items, s_values = (a[sample] for a in (split.train.users, split.train.items, split.train.values))
    gen = algo.fit(split.train, split.valid)
    try:
        while True:
            t0, cpu0 = clock.now(), time.process_time()
            try:
                info = next(gen)
            except StopIteration:
                break
            seconds = clock.now() - t0
            out.fit_cpu_seconds += time.process_time() - cpu0
            out.fit_seconds += seconds
            epoch = out.epochs + 1
            point: dict[str, Any] = {"epoch": epoch, "seconds": seconds, "elapsed_seconds": out.fit_seconds}
            # callables are monitoring, evaluated here, outside the epoch's clock; so is train_mse
            point.update({k: float(v() if callable(v) else v) for k, v in (info or {}).items()})
            point["train_mse"] = _mse(s_values, algo.predict(s_users, s_items))
            if split.valid is not None:
                point["valid_rmse"] = _rmse(split.valid.values, algo.predict(split.valid.users, split.valid.items))
            out.curve.append(point)
            emit({"event": "epoch", "cell_id": cell_id, **point})
            if any(not math.isfinite(v) for k, v in point.items() if k in WATCHED):
                out.stopped = "diverged"
                break
            if control.patience is not None and split.valid is not None:
                if point["valid_rmse"] < out.best.valid_rmse - control.min_delta:
                    out.best = BestEpoch(point["valid_rmse"], epoch, algo.state())
                elif epoch - out.best.epoch >= control.patience:
                    out.stopped = "early_stopping"
                    break
            if control.max_epochs is not None and epoch >= control.max_epochs:
                out.stopped = "max_epochs"
                break
            if control.time_budget is not None and out.fit_seconds >= control.time_budget:
                out.stopped = "time_budget"
                break
    finally:
        close = getattr(gen, "close", None)  # a generator's cleanup; a plain iterator has none
        if close is not None:
            close()
    return out


def score(algo: AlgorithmProtocol, job: Job, clock: Stopwatch) -> dict[str, Any]:
    """Predict the test split and score it (rating metrics; ranking metrics on top-n lists when
    asked for): the record's ``predict_seconds``, ``metrics`` and, with ranking,
    ``recommend_seconds`` and ``ranked_users``."""
    split = job.split
    out: dict[str, Any] = {}
    t0 = clock.now()
    pred = algo.predict(split.test.users, split.test.items)
    out["predict_seconds"] = clock.now() - t0
    if pred.shape != split.test.values.shape or pred.dtype != np.float32:
        raise TypeError(f"predict returned {pred.dtype}{pred.shape}, expected float32{split.test.values.shape}")
    out["metrics"] = {name: float(fn(split.test.values, pred)) for name, fn in job.metrics.items()}
    if job.ranking:
        t0 = clock.now()
        topn = top_n(algo, split, max(k for _, k in job.ranking.values()), job.relevance)
        out["recommend_seconds"] = clock.now() - t0
        out["ranked_users"] = len(topn.users)
        out["metrics"].update({name: float(fn(topn, k)) for name, (fn, k) in job.ranking.items()})
    return out


def run_cell(job: Job, emit: Emit = lambda e: None) -> dict[str, Any]:
    """Run one cell here and return its record (never raises for the cell's own failures):
    build the algorithm, time ``prepare``, ``train``, keep the best epoch (early stopping) and
    checkpoint it, ``score``."""
    rec = new_record(job)
    cell, split, control = job.cell, job.split, job.control
    rec["rss_at_start_bytes"] = current_rss_bytes()
    emit({"event": "start", "cell_id": cell.id, "label": cell.label()})
    gpu_peak = None
    memory = TreePeak().__enter__()  # the cell's processes: a peer's JVM counts
    try:
        _set_threads(control.threads)
        clock = Stopwatch(cell.device)
        if cell.device == "gpu":
            gpu_peak = devices.GpuPeakMemory().__enter__()
        algo = job.factory(**cell.params, device=cell.device, seed=cell.seed)

        t0 = clock.now()
        algo.prepare(split.train)
        rec["prepare_seconds"] = clock.now() - t0
        epoch_emit = emit
        if gpu_peak is not None:
            probe = gpu_peak
            probe.sample()

            def epoch_emit(event: dict[str, Any]) -> None:  # after each epoch, off its clock
                probe.sample()
                emit(event)

        rec["curve"] = []
        training = train(algo, split, control, clock, cell.id, epoch_emit, curve=rec["curve"])
        rec.update(
            curve=training.curve,
            stopped=training.stopped,
            fit_seconds=training.fit_seconds,
            fit_cpu_seconds=training.fit_cpu_seconds,
            epochs=training.epochs,
            epoch_seconds=[p["seconds"] for p in training.curve],
        )
        best = training.best
        if best.state is not None:
            algo.load_state(best.state)
            rec["best_epoch"] = best.epoch
        if job.checkpoint_dir is not None and training.stopped != "diverged":
            from .fitted import checkpoint_arrays

            rec["checkpoint"] = save_checkpoint(
                job.checkpoint_dir,
                cell,
                best.state if best.state is not None else algo.state(),
                checkpoint_arrays(cell.algorithm, job.code_version, cell.id, split.train),
            )
        if training.stopped == "diverged":
            rec["status"] = "diverged"
            rec["error"] = f"training diverged at epoch {training.epochs} (non-finite loss)"
        else:
            rec.update(score(algo, job, clock))
            rec["status"] = "ok"
        rec["threads_in_force"] = _threads_in_force(getattr(algo, "threads_used_", None))
    except Exception as exc:  # noqa: BLE001 - any error of a plugin is its cell's failure, recorded
        rec["status"] = "failed"
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc()
    finally:
        memory.__exit__(None, None, None)
        if gpu_peak is not None:
            gpu_peak.__exit__(None, None, None)
            rec["peak_gpu_bytes"] = gpu_peak.peak_bytes
            rec["nvml_used_bytes"] = devices.nvml_used_bytes()
    rec["peak_rss_bytes"] = memory.peak_bytes
    return finish(rec)
