"""The CUDA kernels of the mini-batch optimizers (``minibatch/_cuda.py``): they compile (NVRTC),
every launch passes the types the CUDA signatures take, a batch is two launches, and the
emulated kernels give what the array code and the numba kernel give."""

import re

import numpy as np
import pytest

from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.minibatch import _cuda
from mfbench_plugins.algorithms.minibatch.minibatch import AdamaxSGD, AdamSGD, MomentumSGD
from support import nvrtc


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=120, n_items=80, n_ratings=3000, rank=3, seed=5)
    return r


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
def test_cuda_source_compiles(arch):
    if not nvrtc.available():
        pytest.skip("NVRTC not installed: pip install nvidia-cuda-nvrtc-cu12 (the test extra has it)")
    ptx = nvrtc.compile_ptx(_cuda.SOURCE, [], arch)
    assert ".entry minibatch_gradients" in ptx and ".entry minibatch_step" in ptx
    assert re.search(r"(atom|red)\.global\.add\.f64", ptx)  # the loss, summed on the device (red: no result)
    assert "shfl.sync.bfly" in ptx  # the warp's dot product


def test_compiling_leaves_the_locale_as_it_was():
    """NVRTC 12.4 leaves its calling thread in the "C" locale: the test run's later text files
    would then read as ASCII. ``compile_ptx`` compiles in a thread of its own."""
    import locale

    if not nvrtc.available():
        pytest.skip("NVRTC not installed: pip install nvidia-cuda-nvrtc-cu12 (the test extra has it)")
    before = locale.getpreferredencoding()
    nvrtc.compile_ptx(_cuda.SOURCE, [])
    assert locale.getpreferredencoding() == before


def test_the_signatures_are_read_from_the_source():
    params = dict((name, ctype) for ctype, name in _cuda.signature("minibatch_gradients"))
    assert params["order"] == "const long long*" and params["start"] == "long long"
    assert params["scale"] == "float" and params["sse"] == "double*"
    assert len(_cuda.signature("minibatch_step")) == 31


def test_the_optimizers_are_numbered_alike_in_cuda_and_numba():
    from mfbench_plugins.algorithms.minibatch import _numba

    defined = dict(re.findall(r"#define (\w+) (\d+)", _cuda.SOURCE.read_text()))
    assert {name: int(v) for name, v in defined.items()} == {
        "MOMENTUM": _numba.MOMENTUM,
        "ADAM": _numba.ADAM,
        "ADAMAX": _numba.ADAMAX,
    }


def test_a_launch_with_a_python_number_or_a_wrong_array_is_refused():
    """cupy passes a Python int as a 64-bit integer and a float as a double: where the kernel
    takes ``int`` or ``float`` that would read garbage, so the emulation refuses it."""
    step = _cuda.emulated("minibatch_step")
    args = [np.int32(1), 3]  # capacity given as a Python int
    with pytest.raises(TypeError, match=r"minibatch_step\(capacity\): int needs np.int32, got int"):
        step((1,), (256,), tuple(args) + (None,) * 29)
    gradients = _cuda.emulated("minibatch_gradients")
    order = np.zeros(4, np.int32)  # an int32 order where the kernel reads long long
    with pytest.raises(TypeError, match=r"order\): const long long\* needs a contiguous int64 array"):
        gradients((1,), (256,), (order,) + (None,) * 25)


OPTIMIZERS = [(MomentumSGD, dict(lr=0.2)), (AdamSGD, {}), (AdamaxSGD, {})]


@pytest.mark.parametrize("factory, kw", OPTIMIZERS)
@pytest.mark.parametrize("biased", [True, False])
def test_the_kernels_step_as_the_array_code_steps(gpu_namespace, small, factory, kw, biased):
    """Same seed, same shuffle, same batches: the two launches a batch and the array code's
    gathers and scatters give the same losses and factors to float32 tolerance (on a GPU, the
    compiled kernels; everywhere, their emulation)."""
    args = dict(k=5, epochs=3, batch_size=50, biased=biased, seed=3, device="gpu", **kw)
    fits = {}
    for backend in ("auto", "array"):
        algo = factory(backend=backend, **args)
        algo.prepare(small)
        fits[backend] = (algo, [info["objective"] for info in algo.fit(small)])
    (fused, fused_losses), (array, array_losses) = fits["auto"], fits["array"]
    assert fused._fused() and not array._fused()
    np.testing.assert_allclose(fused_losses, array_losses, rtol=1e-5)
    got, want = fused.state(), array.state()
    for name in ("P_", "Q_", "bu_", "bi_"):
        np.testing.assert_allclose(got[name], want[name], rtol=1e-4, atol=2e-5, err_msg=name)


class Counting:
    """The stand-in namespace, counting the calls made through it, and the two kernels, counting
    their launches: on cupy each is a launch (or more)."""

    def __init__(self, ns):
        self.ns, self.calls, self.launches = ns, 0, 0

    def __getattr__(self, name):
        value = getattr(self.ns, name)
        if callable(value) and not isinstance(value, type):

            def counted(*args, **kwargs):
                self.calls += 1
                return value(*args, **kwargs)

            return counted
        return value

    def kernels(self, xp):
        def counted(kernel):
            def launch(*args):
                self.launches += 1
                return kernel(*args)

            return launch

        return tuple(counted(_cuda.emulated(name)) for name in ("minibatch_gradients", "minibatch_step"))


@pytest.mark.parametrize("factory, kw", OPTIMIZERS)
def test_a_batch_is_two_launches(monkeypatch, stand_in_gpu, small, factory, kw):
    """The launches per batch, from two epochs of different batch counts (what an epoch costs
    once falls out of the difference): two kernels, and no other call through the namespace."""
    counting = Counting(stand_in_gpu)
    monkeypatch.setattr(_cuda, "kernels", counting.kernels)
    per_run = {}
    for batch_size in (300, 100):  # 10 and 30 batches an epoch
        algo = factory(k=4, epochs=1, batch_size=batch_size, device="gpu", seed=0, **kw)
        algo.prepare(small)
        algo.xp = counting
        counting.calls = counting.launches = 0
        list(algo.fit(small))
        per_run[batch_size] = (counting.calls, counting.launches)
    extra_batches = 30 - 10
    calls = (per_run[100][0] - per_run[300][0]) / extra_batches
    launches = (per_run[100][1] - per_run[300][1]) / extra_batches
    assert launches == 2 and calls == 0, per_run
    assert per_run[100][1] == 2 * 30


def test_touched_rows_sums_per_row_without_sorting(stand_in_gpu):
    """``touched_rows`` gives each entry its row's sum (what a scatter-add per row gives) with
    no sort and nothing read back: cupy 13 sorts through Thrust's synchronous policy."""
    import types

    from mfbench_plugins.algorithms.model import sum_touched, touched_rows

    refusing = types.ModuleType("no_sorts")
    forbidden = {"sort", "argsort", "unique", "lexsort", "bincount", "nonzero"}

    def attribute(name):
        if name in forbidden:
            raise AssertionError(f"touched_rows called {name}")
        return getattr(stand_in_gpu, name)

    refusing.__getattr__ = attribute
    rng = np.random.default_rng(0)
    for n_rows, m in ((7, 50), (1000, 64), (3, 1)):
        index = rng.integers(0, n_rows, m)
        values = rng.normal(0, 1, (m, 3)).astype(np.float32)
        rows, inverse = touched_rows(refusing, index, n_rows)
        summed = sum_touched(stand_in_gpu, inverse, values)
        per_row = np.zeros((n_rows, 3), np.float32)
        np.add.at(per_row, index, values)
        np.testing.assert_array_equal(rows, index)
        np.testing.assert_allclose(summed, per_row[index], rtol=1e-6, atol=1e-6)
