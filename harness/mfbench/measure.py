"""Clocks and memory probes. Every clock read on a GPU cell follows a device synchronization."""

from __future__ import annotations

import os
import resource
import sys
import time
from dataclasses import dataclass

from . import devices

__all__ = ["Stopwatch", "peak_rss_bytes", "current_rss_bytes"]


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
