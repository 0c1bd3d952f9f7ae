"""Clocks and memory probes. Every clock read on a GPU cell follows a device synchronization."""

from __future__ import annotations

import os
import resource
import sys
import threading
import time
from dataclasses import dataclass

from . import devices

__all__ = ["Stopwatch", "peak_rss_bytes", "current_rss_bytes", "TreePeak"]


@dataclass
class Stopwatch:
    """Wall-clock seconds between synchronized reads of ``time.perf_counter``."""

    device: str = "cpu"

    def now(self) -> float:
        devices.synchronize(self.device)
        return time.perf_counter()


def peak_rss_bytes() -> int:
    """Peak resident set size of this process so far, in bytes."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # Linux reports KiB


def current_rss_bytes() -> int:
    """Resident set size of this process now, in bytes (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
    except OSError:
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as fh:
                out.extend(int(c) for c in fh.read().split())
    except OSError:
        pass
    return out


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


class TreePeak:
    """Peak resident memory of this process *and its descendants* (a JVM a peer starts, say).

    This process's own peak is exact (the kernel's high-water mark). Descendants are added by
    a sampler thread that, every ``interval`` seconds, sums the RSS of this process and every
    descendant (``/proc``); it reads only while descendants exist. Children that ended and were
    waited for count with their own kernel peak. ``peak_bytes`` is the largest of these; it is
    the process's own peak where there are no children (or no ``/proc``).
    """

    def __init__(self, interval: float = 0.05):
        self.interval = interval
        self._sampled = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="mfbench-tree-peak", daemon=True)

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(self.interval):
            todo = _children(me)
            if not todo:
                continue
            total = _rss(me)
            while todo:
                pid = todo.pop()
                total += _rss(pid)
                todo.extend(_children(pid))
            self._sampled = max(self._sampled, total)

    def __enter__(self) -> TreePeak:
        if os.path.isdir("/proc/self/task"):
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def sampled_bytes(self) -> int:
        """The largest sum of the tree's RSS sampled so far (0 before any descendant was seen)."""
        return self._sampled

    @property
    def peak_bytes(self) -> int:
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        children = int(children if sys.platform == "darwin" else children * 1024)
        return max(peak_rss_bytes(), self._sampled, children)
