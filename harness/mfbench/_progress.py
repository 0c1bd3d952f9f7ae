"""Progress of a run: a tqdm bar over cells (with the epoch) on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress", "eta", "duration"]


def duration(seconds: float) -> str:
    """``42 s``, ``3 min 20 s``, ``2 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def eta(elapsed: float, done: int, total: int) -> str:
    """About how long the ``total - done`` cells left take, at the pace of the ``done`` so far."""
    return "about " + duration(elapsed / done * (total - done)) if done else "unknown"


#: Off a terminal, an epoch is logged only when it took at least this long (seconds).
SLOW_EPOCH_S = 5.0


class Progress:
    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False):
        stream = stream or sys.stderr
        self.total, self.stream, self.quiet = total, stream, quiet
        self.done = 0
        self.started = time.monotonic()
        self.label = ""  # the running cell's
        self.bar = None
        if not quiet and stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="cell", file=stream, dynamic_ncols=True)

    def event(self, e: dict[str, Any]) -> None:
        if self.quiet:
            return
        if e["event"] == "start":
            self.label = e["label"]
            if self.bar is not None:
                self.bar.set_description_str(e["label"])
        elif e["event"] == "epoch":
            loss = f" train MSE {e['train_mse']:.4f}" if "train_mse" in e else ""
            valid = f" valid {e['valid_rmse']:.4f}" if "valid_rmse" in e else ""
            if self.bar is not None:
                self.bar.set_postfix_str(f"epoch {e['epoch']}{loss}{valid}")
            elif e["seconds"] >= SLOW_EPOCH_S:
                print(
                    f"    [{self.done + 1}/{self.total}] {self.label} · epoch {e['epoch']}: {e['seconds']:.2f} s{loss}{valid}",
                    file=self.stream,
                    flush=True,
                )

    def cell_done(self, rec: dict[str, Any], label: str) -> None:
        self.done += 1
        if self.quiet:
            return
        if rec["status"] == "ok":
            scores = " ".join(f"{k} {v:.4f}" for k, v in rec.get("metrics", {}).items())
            what = f"ok {scores} (fit {rec['fit_seconds']:.3g} s, {rec['epochs']} epochs)"
        else:
            what = f"{rec['status'].upper()}: {rec.get('error')}"
        line = f"[{self.done}/{self.total}] {label}: {what}"
        if self.bar is None and self.done < self.total:
            line += f" · {eta(time.monotonic() - self.started, self.done, self.total)} left"
        if self.bar is not None:
            self.bar.write(line, file=self.stream)
            self.bar.update(1)
        else:
            print(line, file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
