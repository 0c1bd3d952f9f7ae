"""The GPU backend of the mini-batch optimizers: ``minibatch/_cuda.cu`` through cupy, two
launches a batch.

The array code of ``minibatch.py`` makes about 175 cupy calls a batch (gathers, scatters,
element-wise steps), each a launch: at the ML-20M shape, millions of launches an epoch, at
5-10 us each, more than the CPU kernel takes for the whole epoch. Here a batch is two launches:
``minibatch_gradients`` (one warp a rating: the error, the gradients added into per-row
accumulators, the batch's rows listed) and ``minibatch_step`` (one warp a listed row: the
optimizer, then the accumulator and the row's flag cleared). An epoch adds one memset (the
batches' list lengths) and the copy of its order.

``kernels(xp)`` gives cupy's compiled kernels on a GPU and, on the numpy stand-in of the test
suite, ``emulated``: the same two launches in numpy, which check each launch's argument types
against the CUDA signatures and its grid against the work, so that the host side (what is
launched, how often, with which types) is tested without a GPU. The CUDA source itself is
compiled by NVRTC in the test suite where NVRTC is installed, and runs in ``tests/gpu/check.sh``.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.devices import is_gpu_namespace
from mfbench_plugins.algorithms.minibatch._numba import ADAM, MOMENTUM  # numbered as the CUDA source's

__all__ = ["SOURCE", "THREADS", "MiniBatchState", "kernels", "signature", "emulated", "epoch"]

SOURCE = Path(__file__).with_name("_cuda.cu")
THREADS = 256


@functools.cache
def _module() -> Any:
    import cupy

    return cupy.RawModule(code=SOURCE.read_text())


def kernels(xp: Any) -> tuple[Any, Any]:
    """``(gradients, step)``: the compiled kernels on a GPU, their emulation on the stand-in."""
    if is_gpu_namespace(xp):
        module = _module()
        return module.get_function("minibatch_gradients"), module.get_function("minibatch_step")
    return emulated("minibatch_gradients"), emulated("minibatch_step")


#: C parameter types and what a launch must pass for each
_C_TYPES = {
    "const long long*": np.int64,
    "const int*": np.int32,
    "int*": np.int32,
    "const float*": np.float32,
    "float*": np.float32,
    "double*": np.float64,
    "long long": np.int64,
    "int": np.int32,
    "float": np.float32,
}


@functools.cache
def signature(name: str) -> tuple[tuple[str, str], ...]:
    """``(C type, name)`` of each parameter of kernel ``name``, read from the CUDA source."""
    text = SOURCE.read_text()
    match = re.search(r'extern "C" __global__ void ' + name + r"\((.*?)\)\s*\{", text, re.S)
    if match is None:
        raise LookupError(f"no kernel {name} in {SOURCE.name}")
    params = []
    for part in match.group(1).split(","):
        ctype, _, pname = " ".join(part.split()).rpartition(" ")
        if pname.startswith("*"):
            ctype, pname = ctype + "*", pname[1:]
        params.append((ctype, pname))
    return tuple(params)


def _checked(name: str, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> dict[str, Any]:
    """The arguments of a launch by parameter name, after checking each one against the C
    signature: a pointer must be a contiguous array of its element type, a scalar a numpy scalar
    of its type (cupy passes a Python int as a 64-bit integer and a float as a double)."""
    params = signature(name)
    if len(args) != len(params):
        raise TypeError(f"{name}: {len(args)} arguments for {len(params)} parameters")
    for (ctype, pname), value in zip(params, args):
        want = _C_TYPES[ctype]
        if ctype.endswith("*"):
            if not (isinstance(value, np.ndarray) and value.dtype == want and value.flags.c_contiguous):
                raise TypeError(
                    f"{name}({pname}): {ctype} needs a contiguous {np.dtype(want)} array, got {value!r:.60}"
                )
        elif not (isinstance(value, np.generic) and value.dtype == want):
            raise TypeError(f"{name}({pname}): {ctype} needs np.{np.dtype(want)}, got {type(value).__name__}")
    if len(grid) != 1 or len(block) != 1 or block[0] % 32:
        raise ValueError(f"{name}: a 1-D grid of whole warps, got grid {grid}, block {block}")
    # the kernel's own reads are on the device: plain views, whatever array class the caller has
    return {
        pname: np.asarray(value) if isinstance(value, np.ndarray) else value for (_, pname), value in zip(params, args)
    }


def emulated(name: str) -> Any:
    """Kernel ``name`` in numpy, launched as cupy launches a ``RawKernel``: ``fn(grid, block, args)``."""
    return functools.partial(_EMULATIONS[name], name)


def _emulate_gradients(name: str, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
    a = _checked(name, grid, block, args)
    n, k = int(a["n"]), int(a["k"])
    if grid[0] * block[0] // 32 < n:
        raise ValueError(f"{name}: {grid[0] * block[0] // 32} warps for {n} ratings")
    r = a["order"][int(a["start"]) : int(a["start"]) + n]
    u, i = a["users"][r].astype(np.int64), a["items"][r].astype(np.int64)
    P, Q = a["P"].reshape(-1, k), a["Q"].reshape(-1, k)
    pu, qi = P[u], Q[i]
    e = a["mu"] + a["bu"][u] + a["bi"][i] + (pu * qi).sum(axis=1, dtype=np.float32) - a["values"][r]
    scale, reg = a["scale"], a["reg"]
    np.add.at(a["gP"].reshape(-1, k), u, scale * (e[:, None] * qi + reg * pu))
    np.add.at(a["gQ"].reshape(-1, k), i, scale * (e[:, None] * pu + reg * qi))
    if a["biased"]:
        np.add.at(a["gbu"], u, scale * (e + a["reg_bias"] * a["bu"][u]))
        np.add.at(a["gbi"], i, scale * (e + a["reg_bias"] * a["bi"][i]))
    a["sse"][0] += float((e.astype(np.float64) ** 2).sum())
    for rows, flags, listed, c in ((u, a["flags_u"], a["list_u"], 0), (i, a["flags_i"], a["list_i"], 1)):
        first = np.unique(rows[flags[rows] == 0])
        count = int(a["counts"][c])
        listed[count : count + len(first)] = first
        flags[first] = 1
        a["counts"][c] = count + len(first)


def _optimizer_step(kind: int, w, m, v, g, lr, b1, b2, eps, c1, c2) -> None:  # noqa: ANN001
    """``step`` of the CUDA source on arrays of rows (float32 throughout)."""
    if kind == MOMENTUM:
        m[:] = b1 * m + g
        w -= lr * m
    elif kind == ADAM:
        m[:] = b1 * m + (np.float32(1) - b1) * g
        v[:] = b2 * v + (np.float32(1) - b2) * g * g
        w -= lr * (m / c1) / (np.sqrt(v / c2) + eps)
    else:
        m[:] = b1 * m + (np.float32(1) - b1) * g
        v[:] = np.maximum(b2 * v, np.abs(g))
        w -= (lr / c1) * m / (v + eps)


def _emulate_step(name: str, grid: tuple[int, ...], block: tuple[int, ...], args: tuple[Any, ...]) -> None:
    a = _checked(name, grid, block, args)
    k, capacity = int(a["k"]), int(a["capacity"])
    if grid[0] * block[0] // 32 < 2 * capacity:
        raise ValueError(f"{name}: {grid[0] * block[0] // 32} warps for 2 x {capacity} row slots")
    hyper = a["lr"], a["b1"], a["b2"], a["eps"], a["c1"], a["c2"]
    sides = (
        ("list_u", 0, "P", "gP", "mP", "vP", "bu", "gbu", "mbu", "vbu", "flags_u"),
        ("list_i", 1, "Q", "gQ", "mQ", "vQ", "bi", "gbi", "mbi", "vbi", "flags_i"),
    )
    for listed, c, w, g, m, v, b, gb, mb, vb, flags in sides:
        rows = a[listed][: int(a["counts"][c])].astype(np.int64)
        arrays = [a[x].reshape(-1, k) for x in (w, g, m, v)]
        W, G, M, V = (x[rows] for x in arrays)
        kind = int(a["kind"])
        _optimizer_step(kind, W, M, V, G, *hyper)
        arrays[0][rows], arrays[2][rows] = W, M
        if kind != MOMENTUM:  # momentum has one moment (its second is the first, passed twice)
            arrays[3][rows] = V
        arrays[1][rows] = 0
        if a["biased"]:
            W, M, V, G = (a[x][rows] for x in (b, mb, vb, gb))
            _optimizer_step(kind, W, M, V, G, *hyper)
            a[b][rows], a[mb][rows] = W, M
            if kind != MOMENTUM:
                a[vb][rows] = V
            a[gb][rows] = 0
        a[flags][rows] = 0


_EMULATIONS = {"minibatch_gradients": _emulate_gradients, "minibatch_step": _emulate_step}


class MiniBatchState:
    """What the two kernels keep on the device besides the model: the per-row gradient
    accumulators and flags (zero between batches), the batch's row lists and the optimizer's
    moments (a second moment for Adam and Adamax; momentum's kernel ignores it)."""

    def __init__(self, xp: Any, n_users: int, n_items: int, k: int, batch_size: int, kind: int):
        f32 = xp.float32
        self.gP, self.gQ = xp.zeros((n_users, k), f32), xp.zeros((n_items, k), f32)
        self.gbu, self.gbi = xp.zeros(n_users, f32), xp.zeros(n_items, f32)
        self.mP, self.mQ = xp.zeros((n_users, k), f32), xp.zeros((n_items, k), f32)
        self.mbu, self.mbi = xp.zeros(n_users, f32), xp.zeros(n_items, f32)
        if kind == MOMENTUM:
            self.vP, self.vQ, self.vbu, self.vbi = self.mP, self.mQ, self.mbu, self.mbi
        else:
            self.vP, self.vQ = xp.zeros((n_users, k), f32), xp.zeros((n_items, k), f32)
            self.vbu, self.vbi = xp.zeros(n_users, f32), xp.zeros(n_items, f32)
        self.flags_u, self.flags_i = xp.zeros(n_users, xp.int32), xp.zeros(n_items, xp.int32)
        self.list_u, self.list_i = xp.zeros(batch_size, xp.int32), xp.zeros(batch_size, xp.int32)
        self.batch_size, self.kind = batch_size, kind


def epoch(
    xp: Any,
    state: MiniBatchState,
    order: Any,
    users: Any,
    items: Any,
    values: Any,
    f: Any,
    reg: float,
    reg_bias: float,
    biased: bool,
    lr: float,
    b1: float,
    b2: float,
    eps: float,
    t: int,
) -> tuple[Any, int]:
    """One epoch in ``order`` (int64 on the device) from step ``t``: returns the sum of squared
    errors (a device array: reading it is the epoch's one wait) and the step count."""
    gradients, step = kernels(xp)
    n, B, k = len(order), state.batch_size, f.P.shape[1]
    n_batches = -(-n // B)
    counts = xp.zeros((n_batches, 2), xp.int32)
    sse = xp.zeros(1, xp.float64)
    s = state
    step_grid = (-(-2 * B * 32 // THREADS),)
    for b in range(n_batches):
        start, size = b * B, min(B, n - b * B)
        t += 1
        gradients(
            (-(-size * 32 // THREADS),),
            (THREADS,),
            (
                order, np.int64(start), np.int32(size), users, items, values,
                f.P, f.Q, f.bu, f.bi, s.gP, s.gQ, s.gbu, s.gbi,
                s.flags_u, s.flags_i, s.list_u, s.list_i, counts[b],
                np.int32(k), np.float32(f.mu), np.float32(reg), np.float32(reg_bias), np.int32(biased),
                np.float32(1.0 / size), sse,
            ),
        )  # fmt: skip
        step(
            step_grid,
            (THREADS,),
            (
                np.int32(s.kind), np.int32(B), counts[b], s.list_u, s.list_i,
                f.P, f.Q, f.bu, f.bi, s.gP, s.gQ, s.gbu, s.gbi,
                s.mP, s.vP, s.mQ, s.vQ, s.mbu, s.vbu, s.mbi, s.vbi, s.flags_u, s.flags_i,
                np.int32(k), np.int32(biased), np.float32(lr), np.float32(b1), np.float32(b2), np.float32(eps),
                np.float32(1 - b1**t), np.float32(1 - b2**t),
            ),
        )  # fmt: skip
    return sse, t
