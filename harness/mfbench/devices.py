"""Devices: ``cpu`` maps to numpy, ``gpu`` to cupy. The only harness module that imports cupy.

cupy is imported lazily, when a GPU is asked for, so ``import mfbench`` never pulls it in.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .errors import DeviceUnavailable, MfbenchError

__all__ = [
    "DEVICES",
    "ensure_memory",
    "ensure_dense_fits",
    "array_namespace",
    "require",
    "synchronize",
    "to_numpy",
    "memory_info",
    "GpuPeakMemory",
    "describe_gpu",
]

DEVICES = ("cpu", "gpu")


def driver_cuda_major() -> int | None:
    """The CUDA major version the NVIDIA driver supports (``cuDriverGetVersion``), or ``None``
    where no driver library loads."""
    import ctypes

    try:
        lib = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    version = ctypes.c_int()
    if lib.cuDriverGetVersion(ctypes.byref(version)) != 0:
        return None
    return version.value // 1000


def gpu_install_hint() -> str:
    """Which extra installs the cupy build that suits this machine's driver."""
    major = driver_cuda_major()
    if major is None:
        return 'pip install "mfbench[gpu13]" for a CUDA 13 driver, "mfbench[gpu12]" for CUDA 12'
    if major < 12:
        return f"the NVIDIA driver supports CUDA {major}; cupy needs CUDA 12 or later: update the driver"
    extra = "gpu12" if major == 12 else "gpu13"
    return f'pip install "mfbench[{extra}]" (the NVIDIA driver supports CUDA {major})'


def _check_name(device: str) -> None:
    if device not in DEVICES:
        raise MfbenchError(f"unknown device {device!r}; use one of: {', '.join(DEVICES)}")


def _cupy() -> Any:
    try:
        import cupy
    except ImportError as exc:
        raise DeviceUnavailable(
            f"--device gpu needs cupy, which is not installed ({exc.name or exc}); {gpu_install_hint()}"
        ) from None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # noqa: BLE001 - cupy raises CUDARuntimeError (no driver) or a CUDA error
        raise DeviceUnavailable(f"--device gpu: cupy is installed but no usable NVIDIA GPU was found ({exc})") from None
    if count < 1:
        raise DeviceUnavailable("--device gpu: cupy is installed but no NVIDIA GPU was found")
    return cupy


def require(device: str) -> None:
    """Fail in one line, before any work, when ``device`` cannot be used here."""
    _check_name(device)
    if device == "gpu":
        _cupy()


def array_namespace(device: str) -> Any:
    """numpy for ``cpu``, cupy for ``gpu``."""
    _check_name(device)
    return np if device == "cpu" else _cupy()


def is_gpu_array(a: Any) -> bool:
    return type(a).__module__.startswith("cupy")


def is_gpu_namespace(xp: Any) -> bool:
    """Whether ``xp`` is cupy (whose sparse matrices and kernels live in ``cupyx``)."""
    return getattr(xp, "__name__", "") == "cupy"


def array_namespace_of(a: Any) -> Any:
    """The namespace an array belongs to: cupy for a cupy array, else numpy."""
    return _cupy() if is_gpu_array(a) else np


def to_numpy(a: Any) -> np.ndarray:
    """A host numpy copy (or view) of a numpy or cupy array."""
    return a.get() if is_gpu_array(a) else np.asarray(a)


def synchronize(device: str) -> None:
    """Wait for queued device work, so that a clock read after it is honest."""
    if device == "gpu":
        _cupy().cuda.get_current_stream().synchronize()


def memory_info(device: str) -> tuple[int, int]:
    """``(free_bytes, total_bytes)`` of host memory or of the current GPU."""
    _check_name(device)
    if device == "gpu":
        free, total = _cupy().cuda.runtime.memGetInfo()
        pool = _cupy().get_default_memory_pool()
        return int(free + pool.free_bytes()), int(total)
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    free = total
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    return int(free), int(total)


def ensure_memory(device: str, nbytes: int, what: str, instead: str) -> None:
    """Refuse, before allocating, work that needs more memory than the device has free."""
    free, total = memory_info(device)
    if nbytes > free:
        gib = 2**30
        raise MfbenchError(
            f"{what} needs about {nbytes / gib:.1f} GiB of {device} memory and {free / gib:.1f} GiB of "
            f"this machine's {total / gib:.1f} GiB is available; {instead}"
        )


def ensure_dense_fits(device: str, nbytes: int, max_dense_gb: float | None, what: str, instead: str) -> None:
    """Refuse, before allocating, a dense computation that needs more than its budget.

    The budget is ``max_dense_gb`` GiB when given, else half the device's free memory.
    """
    free, _ = memory_info(device)
    budget = int(max_dense_gb * 2**30) if max_dense_gb is not None else free // 2
    if nbytes > budget:
        gib = 2**30
        raise MfbenchError(
            f"{what} needs about {nbytes / gib:.2f} GiB of dense {device} memory and its budget is "
            f"{budget / gib:.2f} GiB ({'max_dense_gb' if max_dense_gb is not None else 'half of the free'} "
            f"{device} memory; {free / gib:.2f} GiB free); use {instead}, or raise max_dense_gb"
        )


class GpuPeakMemory:
    """Peak device memory held by cupy's default memory pool while the ``with`` block runs.

    On entry the pool hands its cached free blocks back to the device, so blocks an earlier cell
    or the data generator left cached are not this block's peak. Then the pool's total is read
    at each ``sample()`` (the runner calls it after ``prepare`` and after each epoch, off the
    clock) and on exit. The pool keeps every block it took from the device until it is told to
    release them, so its total only grows inside a cell and the last reading is the peak (a
    release the pool makes itself, to retry an allocation the device refused, can hide an
    earlier, higher total). No memory hook: cupy calls a registered hook for every array the
    pool serves and takes back, a Python call per array inside the timed epochs.
    """

    def __init__(self) -> None:
        self.peak_bytes = 0

    def __enter__(self) -> GpuPeakMemory:
        self._pool = _cupy().get_default_memory_pool()
        self._pool.free_all_blocks()
        self.peak_bytes = int(self._pool.total_bytes())
        return self

    def sample(self) -> None:
        """Fold the pool's total now into the peak."""
        self.peak_bytes = max(self.peak_bytes, int(self._pool.total_bytes()))

    def __exit__(self, *exc: Any) -> None:
        self.sample()


def nvml_used_bytes() -> int | None:
    """Device memory in use according to NVML (all processes), or ``None`` without pynvml."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(int(os.environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0] or 0))
        return int(pynvml.nvmlDeviceGetMemoryInfo(handle).used)
    except Exception:  # noqa: BLE001 - a probe: NVML's errors are many, and none stops a run
        return None


def describe_gpu() -> dict[str, Any] | None:
    """Name, memory, driver and CUDA versions of the current GPU; ``None`` without cupy or a GPU."""
    try:
        cupy = _cupy()
    except DeviceUnavailable:
        return None
    rt = cupy.cuda.runtime
    props = rt.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"]
    return {
        "name": name.decode() if isinstance(name, bytes) else str(name),
        "total_memory_bytes": int(props["totalGlobalMem"]),
        "compute_capability": f"{props['major']}.{props['minor']}",
        "driver_version": rt.driverGetVersion(),
        "runtime_version": rt.runtimeGetVersion(),
        "cupy_version": cupy.__version__,
    }
