"""CUDA sources compiled to PTX by NVRTC, NVIDIA's runtime compiler (the one cupy uses), on a
machine without a GPU: the ``nvidia-cuda-nvrtc-cu12`` wheel of the test extra carries it."""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

__all__ = ["available", "compile_ptx"]


@functools.cache
def _library() -> ctypes.CDLL | None:
    try:
        import nvidia.cuda_nvrtc
    except ImportError:
        return None
    for folder in nvidia.cuda_nvrtc.__path__:
        for lib in sorted(Path(folder, "lib").glob("libnvrtc.so*")):
            if ".alt." not in lib.name:
                nvrtc = ctypes.CDLL(str(lib))
                nvrtc.nvrtcGetErrorString.restype = ctypes.c_char_p
                return nvrtc
    return None


def available() -> bool:
    return _library() is not None


def compile_ptx(source: Path, options: list[str], arch: str = "compute_80") -> str:
    """The PTX of ``source``; raises ``RuntimeError`` with NVRTC's log when it does not compile.

    NVRTC runs in a thread of its own: some releases (12.4) switch the calling thread's locale
    to "C" and leave it so, after which Python reads every text file of the test run as ASCII."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_compile, source, options, arch).result()


def _compile(source: Path, options: list[str], arch: str) -> str:
    nvrtc = _library()
    if nvrtc is None:
        raise RuntimeError("NVRTC is not installed: pip install nvidia-cuda-nvrtc-cu12")
    prog = ctypes.c_void_p()
    code = nvrtc.nvrtcCreateProgram(ctypes.byref(prog), source.read_bytes(), source.name.encode(), 0, None, None)
    if code:
        raise RuntimeError(f"nvrtcCreateProgram: {nvrtc.nvrtcGetErrorString(code).decode()}")
    try:
        opts = [o.encode() for o in [*options, f"--gpu-architecture={arch}"]]
        code = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
        size = ctypes.c_size_t()
        nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetProgramLog(prog, log)
        if code:
            raise RuntimeError(f"{source.name} does not compile ({' '.join(options)}):\n{log.value.decode()}")
        nvrtc.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        nvrtc.nvrtcGetPTX(prog, ptx)
        return ptx.value.decode()
    finally:
        nvrtc.nvrtcDestroyProgram(ctypes.byref(prog))
