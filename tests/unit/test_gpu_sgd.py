"""The CUDA kernel of ``sgd``: it compiles (NVRTC, on any machine), the backend and device are checked,
and on a GPU it equals the CPU reference when run as one warp and matches numba's accuracy when
run lock-free."""

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench.testing import require_device
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.model import Factors, init_factors
from mfbench_plugins.algorithms.sgd._cuda import SOURCE
from mfbench_plugins.algorithms.sgd.sgd import SGD, python_epoch
from mfbench_plugins.metrics import rmse
from support import nvrtc


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=60, n_items=40, n_ratings=900, rank=3, seed=4)
    return r


@pytest.mark.parametrize("defines", [[], ["-DFACTOR_HALF"]], ids=["float32", "half"])
@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
def test_cuda_source_compiles(defines, arch):
    """NVRTC (cupy's compiler, from the test extra) compiles the kernel to PTX on any machine."""
    if not nvrtc.available():
        pytest.skip("NVRTC not installed: pip install nvidia-cuda-nvrtc-cu12 (the test extra has it)")
    ptx = nvrtc.compile_ptx(SOURCE, defines, arch)
    assert ".entry sgd_epoch" in ptx
    assert "shfl.sync.bfly" in ptx  # the warp reductions
    assert ("cvt.rn.f16.f32" in ptx) == bool(defines)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"backend": "cuda"}, "runs on the gpu"),
        ({"half": True}, "half=true"),
        ({"backend": "fortran"}, "backend must be one of auto, numba, python, cuda"),
    ],
)
def test_backend_and_device_are_checked(small, kw, message):
    with pytest.raises(MfbenchError, match=message):
        SGD(**kw).prepare(small)


def _gpu():
    require_device("gpu")
    import cupy

    return cupy


@pytest.mark.gpu
@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("adaptive", [True, False])
def test_one_warp_equals_the_python_reference(small, biased, adaptive):
    """One warp applies the ratings in order: the sequential update of the reference, to float32."""
    cp = _gpu()
    from mfbench_plugins.algorithms.sgd._cuda import epoch

    lr = 0.05 if adaptive else 0.01
    # k > 32: lanes take two factors each
    f = init_factors(np, small.n_users, small.n_items, 40, float(small.values.mean()), 0.1, biased, seed=2)
    cpu = Factors(f.P.copy(), f.Q.copy(), f.bu.copy(), f.bi.copy(), f.mu)
    gpu = Factors(cp.asarray(f.P), cp.asarray(f.Q), cp.asarray(f.bu), cp.asarray(f.bi), f.mu)
    G_cpu = {
        name: np.ones(n, np.float32)
        for name, n in (("p", small.n_users), ("q", small.n_items), ("bu", small.n_users), ("bi", small.n_items))
    }
    G_gpu = {name: cp.asarray(a) for name, a in G_cpu.items()}
    u, i, r = small.users.astype(np.int32), small.items.astype(np.int32), small.values.astype(np.float32)
    ptr, strata = np.array([0, len(r)], np.int64), np.zeros(1, np.int64)  # one block: the array order
    for _ in range(2):
        sse_cpu = python_epoch(
            u, i, r, ptr, 1, strata, cpu, G_cpu, np.float32(lr), np.float32(0.1), np.float32(0.01), biased, adaptive
        )
        sse_gpu = epoch(
            cp.arange(len(r), dtype=cp.int64),
            cp.asarray(u),
            cp.asarray(i),
            cp.asarray(r),
            gpu.P,
            gpu.Q,
            gpu.bu,
            gpu.bi,
            G_gpu,
            f.mu,
            lr,
            0.1,
            0.01,
            biased,
            adaptive,
            warps=1,
        )
        np.testing.assert_allclose(sse_gpu, sse_cpu, rtol=1e-4)
    for name in ("P", "Q", "bu", "bi"):
        np.testing.assert_allclose(getattr(gpu, name).get(), getattr(cpu, name), rtol=1e-3, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.realdata
@pytest.mark.parametrize("half, bound", [(False, 0.005), (True, 0.01)], ids=["float32", "half"])
def test_lock_free_gpu_matches_numba_accuracy_on_ml100k(ml100k, half, bound):
    _gpu()
    from mfbench.data import make_splits, parse_protocol

    split = next(iter(make_splits(ml100k, parse_protocol("official@1"))))
    got = {}
    for device, extra in (("cpu", {}), ("gpu", {"half": half})):
        algo = SGD(device=device, seed=0, **extra)
        algo.prepare(split.train)
        losses = [info["objective"] for info in algo.fit(split.train)]
        assert losses[-1] < losses[0]
        got[device] = rmse(split.test.values, algo.predict(split.test.users, split.test.items))
    assert abs(got["gpu"] - got["cpu"]) <= bound, got
