import os
import types
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("mfbench.testing")

REPO = Path(__file__).resolve().parents[1]


def _data_dir() -> Path | None:
    env = os.environ.get("MFBENCH_DATA_DIR")
    if env:
        return Path(env)
    local = REPO.parent / "shared" / "data"
    return local if local.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder with the MovieLens copies. Missing data fails in CI and skips elsewhere."""
    d = _data_dir()
    if d is None or not (d / "ml-100k" / "u.data").exists():
        msg = f"MovieLens copies not found (MFBENCH_DATA_DIR={os.environ.get('MFBENCH_DATA_DIR')!r})"
        if os.environ.get("CI"):
            pytest.fail(msg + "; CI must point MFBENCH_DATA_DIR at ../shared/data", pytrace=False)
        pytest.skip(msg)
    return d


@pytest.fixture(scope="session")
def ml100k(data_dir):
    from mfbench_datasets.movielens import load_ml100k

    return load_ml100k(None, data_dir)


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory):
    """Tests never read or write the user's cache: MFBENCH_CACHE_DIR points at a fresh folder."""
    mp = pytest.MonkeyPatch()
    mp.setenv("MFBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def numpy_as_device() -> types.ModuleType:
    """A namespace that is numpy but not ``numpy``: code that branches on ``xp is not np`` takes
    its device path, on host arrays."""
    ns = types.ModuleType("numpy_as_device")
    ns.__getattr__ = lambda name: getattr(np, name)
    return ns


@pytest.fixture
def stand_in_gpu(monkeypatch):
    """``device="gpu"`` runs the GPU paths' array code on numpy (through ``numpy_as_device``), so
    that CI exercises it without cupy; returns the stand-in namespace."""
    import mfbench.devices as devices

    ns = numpy_as_device()
    host_memory = devices.memory_info
    check_name = devices._check_name
    monkeypatch.setattr(
        devices, "array_namespace", lambda device: check_name(device) or (np if device == "cpu" else ns)
    )
    monkeypatch.setattr(devices, "require", check_name)
    monkeypatch.setattr(devices, "synchronize", lambda device: None)
    monkeypatch.setattr(devices, "memory_info", lambda device: host_memory("cpu"))
    monkeypatch.setattr(devices, "GpuPeakMemory", HostPeakMemory)
    return ns


class HostPeakMemory:
    """``GpuPeakMemory`` of the stand-in: the peak of traced host allocations (numpy's included)."""

    def sample(self) -> None:
        """Nothing to fold in: tracemalloc keeps the peak itself."""

    def __enter__(self) -> "HostPeakMemory":
        import tracemalloc

        tracemalloc.start()
        tracemalloc.reset_peak()
        self.peak_bytes = 0
        return self

    def __exit__(self, *exc) -> None:
        import tracemalloc

        self.peak_bytes = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


@pytest.fixture(params=["numpy-stand-in", pytest.param("cupy", marks=pytest.mark.gpu)])
def gpu_namespace(request):
    """The namespace ``device="gpu"`` maps to: cupy on a GPU (skips, with the reason, elsewhere)
    and the numpy stand-in everywhere, so every GPU-path test also runs in CI."""
    if request.param == "cupy":
        from mfbench.testing import require_device

        require_device("gpu")
        import cupy

        return cupy
    return request.getfixturevalue("stand_in_gpu")
