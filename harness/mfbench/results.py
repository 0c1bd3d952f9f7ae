"""Results as plain files: one JSON line per cell, appended and flushed the moment it ends.

A run folder holds ``runs.jsonl`` (one record per finished cell, the last record of a cell wins)
and ``environment.json`` (the machine and library versions, written atomically). An interrupted
run loses only the cell in flight; ``--resume RUN_ID`` skips the cells already recorded ok.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import hashlib
import json
import os
import platform
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MfbenchError
from .records import SCHEMAS, upgrade, upgrade_record

__all__ = [
    "Results",
    "RunStore",
    "write_json_atomic",
    "capture_environment",
    "new_run_id",
    "read_environment",
]


def _read_lock(fd: int) -> dict[str, Any]:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT and SIGTERM while a record is written (a second Ctrl-C waits for the line's
    end); only the main thread can, and only where signals can be held."""
    held = {signal.SIGINT, signal.SIGTERM}
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "pthread_sigmask"):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def new_run_id() -> str:
    return dt.datetime.now().strftime("%Y%m%d-%H%M%S")


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(obj, fh, indent=2, default=_jsonable)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def read_environment(folder: Path) -> dict[str, Any]:
    """A run's ``environment.json``, upgraded; ``{}`` when there is none."""
    path = Path(folder) / "environment.json"
    return upgrade("environment", json.loads(path.read_text()), path) if path.exists() else {}


#: what every record has, as strings: a line without them is not a record
_RECORD_KEYS = ("cell_id", "algorithm", "status")


class RunStore:
    """The files of one run: ``<out>/<run_id>/runs.jsonl`` and ``environment.json``."""

    def __init__(self, out: Path, run_id: str):
        self.run_id = run_id
        self.path = Path(out) / run_id
        self.records_path = self.path / "runs.jsonl"
        self.damaged_lines: list[int] = []  # of runs.jsonl, as the last records() found them

    @classmethod
    def open(cls, ref: str | Path, out: Path = Path("results")) -> RunStore:
        """A run by folder path or by id under ``out``; a clear error when it does not exist."""
        ref_path = Path(ref)
        if (ref_path / "runs.jsonl").exists():
            return cls(ref_path.parent, ref_path.name)
        if (Path(out) / str(ref) / "runs.jsonl").exists():
            return cls(Path(out), str(ref))
        raise MfbenchError(
            f"no run {str(ref)!r}: neither {ref_path}/runs.jsonl nor {Path(out) / str(ref)}/runs.jsonl exists"
        )

    def create(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)

    @contextlib.contextmanager
    def locked(self, say: Callable[[str], None] = lambda line: None) -> Iterator[None]:
        """Hold the run folder for one writer: ``.lock`` names the holder (PID, host, start) and
        is locked with ``flock``, which the system releases when the holder dies however it
        dies. A live holder is refused by name; a lock file left by a holder that died is taken
        over, with a note. Where ``flock`` does not exist (Windows), nothing is locked."""
        try:
            import fcntl
        except ImportError:
            yield
            return
        self.create()
        lock_path = self.path / ".lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = _read_lock(fd)
                raise MfbenchError(
                    f"{self.path} is in use by another mfbench run (PID {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')}, since {holder.get('started', '?')}): wait for it to "
                    "end, or give another --run-id"
                ) from None
            previous = _read_lock(fd)
            if previous:
                say(
                    f"{self.path}: the run that held it (PID {previous.get('pid', '?')} on {previous.get('host', '?')}) "
                    "ended without releasing it; taken over"
                )
            os.ftruncate(fd, 0)
            os.pwrite(
                fd,
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "host": platform.node(),
                        "started": dt.datetime.now().isoformat(timespec="seconds"),
                    }
                ).encode(),
                0,
            )
            try:
                yield
            finally:
                with contextlib.suppress(OSError):
                    os.unlink(lock_path)
        finally:
            os.close(fd)

    def append(self, record: dict[str, Any]) -> None:
        """Append one record as a JSON line, flushed and synced before returning."""
        line = json.dumps(record, default=_jsonable, allow_nan=True)
        try:
            with _signals_held(), open(self.records_path, "a+b") as fh:
                if fh.tell() > 0:  # a run killed mid-write leaves a torn line: start on a fresh one
                    fh.seek(-1, os.SEEK_END)
                    torn = fh.read(1) != b"\n"
                else:
                    torn = False
                fh.write((("\n" if torn else "") + line + "\n").encode())
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # a full disk fails in flush, where Python names no file
            raise OSError(exc.errno, exc.strerror, str(self.records_path)) from None

    def records(self) -> list[dict[str, Any]]:
        """Every record in file order. Lines that are not a whole record (torn by a run killed
        mid-write, damaged on disk) are skipped; their numbers are in ``damaged_lines``."""
        self.damaged_lines = []
        if not self.records_path.exists():
            return []
        out = []
        for number, raw in enumerate(self.records_path.read_bytes().splitlines(), 1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw.decode())
            except (UnicodeDecodeError, json.JSONDecodeError):
                rec = None
            if not (isinstance(rec, dict) and all(isinstance(rec.get(k), str) for k in _RECORD_KEYS)):
                self.damaged_lines.append(number)
                continue
            out.append(upgrade_record(rec, self.records_path))
        return out

    def damage_note(self) -> str | None:
        """One line about the damaged lines the last ``records()`` skipped, or ``None``."""
        lines = self.damaged_lines
        if not lines:
            return None
        shown = ", ".join(map(str, lines[:10])) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
        return (
            f"{self.records_path}: line{'s' if len(lines) > 1 else ''} {shown} not a whole record (a run killed "
            "mid-write, or damage on disk): skipped; --resume runs their cells again"
        )

    def latest(self) -> list[dict[str, Any]]:
        """The last record of each cell, in the order cells first appeared."""
        by_cell: dict[str, dict[str, Any]] = {}
        for rec in self.records():
            by_cell[rec["cell_id"]] = rec  # a re-run replaces the record, keeps the position
        return list(by_cell.values())

    def finished_ok(self) -> set[str]:
        return {r["cell_id"] for r in self.latest() if r.get("status") == "ok"}

    def write_environment(self, env: dict[str, Any]) -> None:
        write_json_atomic(self.path / "environment.json", env)

    def write_json(self, name: str, obj: Any) -> None:
        write_json_atomic(self.path / name, obj)


def _versions(names: Iterable[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


@functools.lru_cache(maxsize=1)
def _library_versions() -> dict[str, str | None]:
    return _versions(
        ["mfbench", "numpy", "scipy", "numba", "pandas", "llvmlite", "cupy-cuda12x", "cupy-cuda13x", "cupy"]
    )


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries that shape the numbers (without importing cupy). Read once a
    process (the package metadata's parse took a tenth of a cell's harness time); a fork server
    reads them before it forks its cells."""
    return dict(_library_versions())


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags_digest() -> str | None:
    """A short digest of the CPU's feature flags (``/proc/cpuinfo``): two CPUs of one model name can
    differ in what their hypervisor exposes (AVX-512, say), and numba compiles for what it sees."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    flags = " ".join(sorted(line.split(":", 1)[1].split()))
                    return hashlib.sha256(flags.encode()).hexdigest()[:12]
    except OSError:
        pass
    return None


def capture_environment(devices_used: Iterable[str] = ("cpu",)) -> dict[str, Any]:
    """The machine and software a run measured on, for ``environment.json``."""
    from threadpoolctl import threadpool_info

    from .devices import describe_gpu, memory_info

    _, total = memory_info("cpu")
    env: dict[str, Any] = {
        "schema": SCHEMAS["environment"],
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_flags_digest": cpu_flags_digest(),
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "memory_total_bytes": total,
        "blas": [
            {k: info.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer", "architecture")}
            for info in threadpool_info()
            if info.get("user_api") == "blas"
        ],
        "versions": library_versions(),
        "gpu": describe_gpu() if "gpu" in devices_used else None,
    }
    return env


@dataclass
class Results:
    """The records of one run (its latest record of each cell), as tables.

    ``records`` are the dicts of ``runs.jsonl`` (see docs/RECORDS.md); ``metrics`` the metric
    columns in the order asked."""

    path: Path
    records: list[dict[str, Any]]
    metrics: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def ok(self) -> bool:
        """Whether every cell ended ``ok``."""
        return all(r.get("status") == "ok" for r in self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        states: dict[str, int] = {}
        for r in self.records:
            states[r.get("status", "?")] = states.get(r.get("status", "?"), 0) + 1
        return (
            f"Results({str(self.path)!r}, {len(self.records)} cells: "
            + ", ".join(f"{n} {s}" for s, n in states.items())
            + ")"
        )

    def to_pandas(self) -> Any:
        """One row per cell (repeats apart): algorithm, params, dataset, split, device, seed,
        repeat, status, each metric, prepare / median epoch / fit / predict seconds, peak memory,
        epochs, why training stopped, error."""
        import pandas as pd

        from .records import TIME_FIELDS

        metrics = self.metrics or sorted({m for r in self.records for m in (r.get("metrics") or {})})
        rows = []
        for r in self.records:
            row = {
                "cell_id": r["cell_id"],
                "algorithm": r["algorithm"],
                "params": r.get("params", {}),
                "dataset": r["dataset"],
                "split": (r.get("split") or {}).get("name"),
                "device": r["device"],
                "seed": r["seed"],
                "repeat": r.get("repeat", 0),
                "status": r["status"],
            }
            for m in metrics:
                row[m] = (r.get("metrics") or {}).get(m)
            for name, read, _ in TIME_FIELDS:
                column = "median_epoch_seconds" if name == "epoch_s" else name.replace("_s", "_seconds")
                row[column] = read(r) if r.get("status") == "ok" or name == "prepare_s" else None
            row["peak_rss_mb"] = r["peak_rss_bytes"] / 2**20 if r.get("peak_rss_bytes") else None
            row["peak_gpu_mb"] = r["peak_gpu_bytes"] / 2**20 if r.get("peak_gpu_bytes") is not None else None
            row["epochs"] = r.get("epochs")
            row["stopped"] = r.get("stopped")
            row["best_epoch"] = r.get("best_epoch")
            row["error"] = r.get("error")
            rows.append(row)
        return pd.DataFrame(rows)

    def curves(self) -> Any:
        """One row per epoch of every cell: cell_id, algorithm, dataset, device, seed, repeat and
        the curve's values (epoch, seconds, elapsed_seconds, train_mse, valid_rmse, objective, ...)."""
        import pandas as pd

        rows = [
            {
                "cell_id": r["cell_id"],
                "algorithm": r["algorithm"],
                "dataset": r["dataset"],
                "device": r["device"],
                "seed": r["seed"],
                "repeat": r.get("repeat", 0),
                **point,
            }
            for r in self.records
            for point in (r.get("curve") or [])
        ]
        return pd.DataFrame(rows)

    def table(self, fmt: str = "table") -> str:
        """The comparison table ``mfbench run`` prints (``fmt``: table, md, csv, json)."""
        from .report import render, summarize

        return render(summarize(self.records, self.metrics or None), fmt, self.metrics or None)

    def compare(self, baseline: Results, threshold: float = 0.10, rmse_tolerance: float = 0.002) -> Any:
        """How this run differs from ``baseline``, one row per table row, as ``mfbench compare
        BASELINE THIS`` computes it: a DataFrame with the mark, epoch and fit time ratios
        (median, min, max over matched cells; ``_lo`` and ``_hi``: the 95% interval where the repeats
        or the cells allow one, as ``mfbench compare`` prints it) and the RMSE and MAE differences."""
        import pandas as pd

        from .compare import compare_runs, interval

        rows = []
        calibrations = (
            baseline.environment().get("calibration_seconds"),
            self.environment().get("calibration_seconds"),
        )
        for r in compare_runs(baseline.records, self.records, threshold, rmse_tolerance, calibrations):
            row = {"mark": r["mark"], "algorithm": r["algorithm"], "dataset": r["dataset"], "device": r["device"]}
            for name in ("epoch", "fit"):
                v = r[name]
                row[f"{name}_ratio"] = _median(v)
                row[f"{name}_ratio_min"] = min(v) if v else None
                row[f"{name}_ratio_max"] = max(v) if v else None
                est = interval(r, name)
                row[f"{name}_ratio_lo"], row[f"{name}_ratio_hi"] = (est.lo, est.hi) if est else (None, None)
            for m in ("rmse", "mae"):
                a, b = r[f"{m}_a"], r[f"{m}_b"]
                row[f"{m}_diff"] = sum(b) / len(b) - sum(a) / len(a) if a else None
            row.update(new_failures=r["new_failures"], fixed=r["fixed"], unmatched=r["unmatched"])
            rows.append(row)
        return pd.DataFrame(rows)

    def environment(self) -> dict[str, Any]:
        """The run's ``environment.json``: machine, libraries, calibration."""
        return read_environment(self.path)

    def model(self, cell: str) -> Any:
        """The fitted model of ``cell`` (a cell id, or an algorithm's name when one cell of it
        has a checkpoint) from its checkpoint (``mfbench run --checkpoint``): a
        ``mfbench.fitted.FittedModel`` with ``predict``, ``recommend`` and ``export`` by the
        dataset's own ids."""
        from .fitted import load_model

        return load_model(self.records, self.path, cell)


def _median(values: list[float]) -> float | None:
    from statistics import median

    return median(values) if values else None
