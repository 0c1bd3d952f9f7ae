"""The GPU backend of ``sgd``: the CUDA kernel of ``sgd/_cuda.cu`` launched through cupy.

The kernel is compiled by cupy's NVRTC on first use (and cached by cupy on disk), once for
float32 factors and once for half-precision factor storage. One launch is one epoch: a grid walks
the epoch's permutation of the ratings with a stride. The grid is sized by occupancy (the blocks
the GPU holds at once given the kernel's registers, so the launch is one wave) and capped by the
data (``planned_warps``: not more concurrent warps than the smaller side has rows).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["SOURCE", "THREADS_PER_BLOCK", "epoch", "kernel", "blocks_per_sm", "resident_warps", "planned_warps"]

SOURCE = Path(__file__).with_name("_cuda.cu")
THREADS_PER_BLOCK = 256


@functools.cache
def kernel(half: bool) -> Any:
    import cupy

    options = ("-DFACTOR_HALF",) if half else ()
    return cupy.RawModule(code=SOURCE.read_text(), options=options).get_function("sgd_epoch")


def blocks_per_sm(
    regs_per_thread: int, threads: int, regs_per_sm: int = 65536, threads_per_sm: int = 2048, blocks_limit: int = 32
) -> int:
    """Blocks of ``threads`` one SM holds at once, limited by threads and by registers (allocated
    per warp in units of 256): 48 registers a thread allow 5 blocks of 256 where threads allow 8."""
    warps = -(-threads // 32)
    regs_per_warp = -(-regs_per_thread * 32 // 256) * 256
    by_regs = regs_per_sm // max(warps * regs_per_warp, 1)
    return max(1, min(threads_per_sm // threads, by_regs, blocks_limit))


@functools.cache
def resident_warps(half: bool) -> int:
    """Warps of the compiled kernel the whole GPU holds at once, from CUDA's occupancy calculator
    (or, without it, from the kernel's register count)."""
    import cupy

    fn = kernel(half)
    attributes = cupy.cuda.Device().attributes
    try:
        # a RawKernel has no pointer of its own: its compiled Function (``.kernel``) has
        per_sm = cupy.cuda.driver.occupancyMaxActiveBlocksPerMultiprocessor(fn.kernel.ptr, THREADS_PER_BLOCK, 0)
    except AttributeError:  # a cupy without the driver's occupancy query
        per_sm = blocks_per_sm(
            fn.num_regs,
            THREADS_PER_BLOCK,
            attributes["MaxRegistersPerMultiprocessor"],
            attributes["MaxThreadsPerMultiProcessor"],
        )
    return attributes["MultiProcessorCount"] * max(int(per_sm), 1) * THREADS_PER_BLOCK // 32


def planned_warps(n_users: int, n_items: int, resident: int) -> int:
    """Concurrent warps for a lock-free epoch: what the GPU holds, but no more than the smaller
    side has rows (at least 32). Past that, several warps write the same row at once and their
    updates are lost: on ml-100k (943 users) the GPU's 5,000 or so resident warps would cost about
    0.016 of test RMSE (``tests/unit/test_gpu_plans.py`` simulates it)."""
    return max(1, min(resident, max(32, min(n_users, n_items))))


def epoch(
    order: Any,
    users: Any,
    items: Any,
    values: Any,
    P: Any,
    Q: Any,
    bu: Any,
    bi: Any,
    G: dict[str, Any],
    mu: float,
    lr: float,
    reg: float,
    reg_bias: float,
    biased: bool,
    adaptive: bool,
    warps: int | None = None,
) -> float:
    """Run one epoch in the order ``order`` (int64 on the device); returns the sum of squared errors.

    ``warps`` caps the concurrent warps (default: as many as the GPU holds); ``warps=1`` applies
    the ratings strictly in order, the sequential update the CPU reference makes (the tests use it
    for parity).
    """
    import cupy

    sse = cupy.zeros(1, cupy.float64)
    n = int(order.size)
    if n:
        half = P.dtype == cupy.float16
        warps = resident_warps(half) if warps is None else min(warps, resident_warps(half))
        threads = min(THREADS_PER_BLOCK, 32 * warps)
        grid = -(-32 * min(n, warps) // threads)
        kernel(half)(
            (grid,),
            (threads,),
            (
                order,
                np.int64(n),
                users,
                items,
                values,
                P,
                Q,
                bu,
                bi,
                G["p"],
                G["q"],
                G["bu"],
                G["bi"],
                np.int32(P.shape[1]),
                np.float32(mu),
                np.float32(lr),
                np.float32(reg),
                np.float32(reg_bias),
                np.int32(biased),
                np.int32(adaptive),
                sse,
            ),
        )
    return float(sse.get()[0])
