"""The GPU backend of ``sgd``: the CUDA kernel of ``_sgd_cuda.cu`` launched through cupy.

The kernel is compiled by cupy's NVRTC on first use (and cached by cupy on disk), once for
float32 factors and once for half-precision factor storage. One launch is one epoch: a grid that
fills the GPU walks the epoch's permutation of the ratings with a stride.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SOURCE", "THREADS_PER_BLOCK", "epoch", "kernel"]

SOURCE = Path(__file__).with_name("_sgd_cuda.cu")
THREADS_PER_BLOCK = 256


@functools.cache
def kernel(half: bool) -> Any:
    import cupy

    options = ("-DFACTOR_HALF",) if half else ()
    return cupy.RawModule(code=SOURCE.read_text(), options=options).get_function("sgd_epoch")


@functools.cache
def _grid() -> int:
    """Blocks that keep every SM full (2048 resident threads per SM on sm_70 and later)."""
    import cupy

    sms = cupy.cuda.Device().attributes["MultiProcessorCount"]
    return sms * (2048 // THREADS_PER_BLOCK)


def epoch(order: Any, users: Any, items: Any, values: Any, P: Any, Q: Any, bu: Any, bi: Any, G: dict[str, Any],
          mu: float, lr: float, reg: float, reg_bias: float, biased: bool, adaptive: bool,
          warps: int | None = None) -> float:
    """Run one epoch in the order ``order`` (int64 on the device); returns the sum of squared errors.

    ``warps`` caps the concurrent warps; ``warps=1`` applies the ratings strictly in order, the
    sequential update the CPU reference makes (the tests use it for parity).
    """
    import cupy

    sse = cupy.zeros(1, cupy.float64)
    n = int(order.size)
    if n:
        threads = THREADS_PER_BLOCK if warps is None else min(THREADS_PER_BLOCK, 32 * warps)
        grid = min(_grid(), -(-32 * min(n, warps or n) // threads))
        kernel(P.dtype == cupy.float16)(
            (grid,), (threads,),
            (order, np.int64(n), users, items, values, P, Q, bu, bi, G["p"], G["q"], G["bu"], G["bi"],
             np.int32(P.shape[1]), np.float32(mu), np.float32(lr), np.float32(reg), np.float32(reg_bias),
             np.int32(biased), np.int32(adaptive), sse))
    return float(sse.get()[0])
