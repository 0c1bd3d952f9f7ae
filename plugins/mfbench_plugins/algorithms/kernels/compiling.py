"""How the numba kernels are compiled: literal specializations, and coarse work on threads.

A kernel whose row length or variant is a compile-time constant unrolls its row loops and drops
the branches not taken, and compiles only the variant a cell uses: ``sgd``'s epoch for its
``(biased, adaptive, k)``, the mini-batch epoch for its optimizer. numba's own dispatch of literal
arguments (``literally``) would type every argument again on every call (tens of milliseconds), so
``Specialized`` keys its compiled kernels by what numba's types of the arguments depend on, cheaper
to get than the types themselves, and compiles (or loads from numba's cache) once per key.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numba import typeof, types

__all__ = ["Specialized", "on_threads"]


def _type_key(a: Any) -> Any:
    """What numba's type of ``a`` depends on, cheaper to get than the type itself."""
    if isinstance(a, np.ndarray):
        f = a.flags
        return a.dtype.str, a.ndim, f.c_contiguous, f.f_contiguous, f.writeable, f.aligned
    return type(a)


class Specialized:
    """``dispatcher`` (an ``@njit`` function whose last parameters are ``literally``'d) called as
    ``kernel(args, literals)``: compiled once for each set of argument types and literal values."""

    def __init__(self, dispatcher: Any) -> None:
        self.dispatcher = dispatcher
        self._compiled: dict[tuple, Any] = {}

    def __call__(self, args: tuple, literals: tuple) -> Any:
        key = tuple(map(_type_key, args)) + literals
        kernel = self._compiled.get(key)
        if kernel is None:  # compile, or load from numba's cache
            sig = tuple(typeof(a) for a in args) + tuple(types.literal(v) for v in literals)
            kernel = self._compiled[key] = self.dispatcher.compile(sig)
        return kernel(*args, *literals)


_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def on_threads(kernel: Callable[..., Any], args: tuple) -> None:
    """Run ``kernel(w, T, *args)`` for ``w`` in ``range(T)`` at once, ``T`` numba's thread count
    (``numba.set_num_threads``), each on a thread of its own, and wait for all; ``kernel`` is
    compiled with ``nogil=True`` and does share ``w`` of ``T`` of the work. For coarse work (a
    thread's share of a half-epoch): a hand-off costs tens of microseconds, a numba parallel loop
    around the same kernel a second more of compilation. Not right after a numba parallel region:
    OpenMP's threads spin on the cores for a while after one (a row gather ran 2x slower)."""
    import numba

    T = numba.get_num_threads()
    if T == 1:
        kernel(0, 1, *args)
        return
    with _pools_lock:
        pool = _pools.get(T)
        if pool is None:
            pool = _pools[T] = ThreadPoolExecutor(T, thread_name_prefix="mfbench-kernel")
    for done in [pool.submit(kernel, w, T, *args) for w in range(T)]:
        done.result()
