"""The GPU paths' planning, sizing and accounting, tested on the host: ALS batch plans on the
presets' degree sequences, the CUDA SGD grid (warps capped by the data, blocks by occupancy),
the memory probe, and the install hint. Numerical parity of the GPU paths is in
``test_gpu_paths.py``; the CUDA kernel itself in ``test_gpu_sgd.py``."""

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import PRESETS, _popularity, _user_degrees
from mfbench_plugins.algorithms.als.als import ALS
from mfbench_plugins.algorithms.rows_gpu import SYSTEM_COPIES, plan_batches

DEVICE_BUDGET = 1 << 27


def preset_degrees(name):
    """Ratings per user (as the generator draws them) and per item (their expected spread)."""
    shape = PRESETS[name]
    rng = np.random.default_rng(0)
    users = _user_degrees(
        shape["n_users"], shape["n_items"], shape["n_ratings"], 1.5, shape.get("min_user_ratings", 20), rng
    )
    items = rng.multinomial(shape["n_ratings"], _popularity(shape["n_items"], 2.0, rng))
    return {"users": users, "items": items}


@pytest.mark.parametrize("name", sorted(PRESETS))
@pytest.mark.parametrize("side", ["users", "items"])
@pytest.mark.parametrize("k", [65, 129])
def test_als_batches_are_greedy_and_near_the_fewest(name, side, k):
    """Each batch holds as many rows as the budget allows (the next row would break it), so the
    count is close to the lower bound ``sum of costs / budget``: a plan that fixed the batch size
    at the longest row's (as the first planner did) needed 2,851 item batches on the ML-20M shape
    where 17 fit."""
    degrees = preset_degrees(name)[side]
    counts = np.sort(degrees[degrees > 0])
    cost = counts * k + SYSTEM_COPIES * k * k
    plan = plan_batches(counts, k, DEVICE_BUDGET)
    assert plan[0][0] == 0 and plan[-1][1] == len(counts)
    assert all(a[1] == b[0] for a, b in zip(plan, plan[1:]))
    for start, stop in plan:
        assert (stop - start) * cost[stop - 1] <= DEVICE_BUDGET or stop - start == 1
        if stop < len(counts):
            assert (stop + 1 - start) * cost[stop] > DEVICE_BUDGET
    lower = cost.sum() / DEVICE_BUDGET
    assert len(plan) <= 1.25 * lower + 2, (len(plan), lower)


def test_als_plan_counts_the_systems():
    """A row with one rating still costs its k x k systems (1,000 of them at k=100 go 26 to a
    batch of 2^20 entries, not 10,485), and a row larger than the budget is a batch alone."""
    counts = np.ones(1000, np.int64)
    plan = plan_batches(counts, 100, 1 << 20)
    per_row = 100 + SYSTEM_COPIES * 100 * 100
    assert all(stop - start == (1 << 20) // per_row for start, stop in plan[:-1])
    assert plan_batches(np.array([1, 10**9]), 8, 1 << 10) == [(0, 1), (1, 2)]


@pytest.mark.parametrize("k, biased, size", [(256, True, 257), (257, False, 257)])
def test_als_refuses_systems_cupy_would_solve_row_by_row(stand_in_gpu, k, biased, size):
    from mfbench.testing import planted_split

    train = planted_split(n_users=30, n_items=20, n_ratings=200).train
    with pytest.raises(MfbenchError, match=f"makes {size} x {size} row systems.*use k <= {256 - biased}"):
        ALS(k=k, biased=biased, device="gpu").prepare(train)
    ALS(k=255 if biased else 256, biased=biased, epochs=1, device="gpu").prepare(train)  # the largest allowed


def test_register_bound_occupancy():
    """ptxas gives the SGD kernel 48 registers a thread on sm_90: 5 blocks of 256 an SM, not the
    8 that the thread limit alone allows (a grid of 8 per SM ran as 1.6 waves)."""
    from mfbench_plugins.algorithms.sgd._cuda import blocks_per_sm

    assert blocks_per_sm(48, 256) == 5
    assert blocks_per_sm(32, 256) == 8
    assert blocks_per_sm(255, 256) == 1
    assert blocks_per_sm(16, 64, blocks_limit=32) == 32


def simulate_lock_free(train, test, warps, k=100, epochs=20, lr=0.1, reg=0.1, reg_bias=0.01, seed=0):
    """Test RMSE of ``sgd``'s lock-free GPU update (adaptive, biased; the kernel's rule) with
    ``warps`` ratings in flight: each round of ``warps`` ratings reads the parameters as the last
    round left them, and where several write one row, the last write wins and the others are
    lost, as unlocked warps that meet on a row lose updates."""
    from mfbench_plugins.algorithms.model import init_factors

    f = init_factors(np, train.n_users, train.n_items, k, float(train.values.mean()), 0.1, True, seed)
    P, Q, bu, bi, mu = f.P, f.Q, f.bu, f.bi, np.float32(f.mu)
    Gp, Gq, Gbu, Gbi = (np.ones(n, np.float32) for n in (train.n_users, train.n_items, train.n_users, train.n_items))
    lr, reg, reg_bias = np.float32(lr), np.float32(reg), np.float32(reg_bias)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(train))
        for start in range(0, len(order), warps):
            j = order[start : start + warps]
            u, i, r = train.users[j], train.items[j], train.values[j]
            pu, qi = P[u], Q[i]
            e = (pu * qi).sum(1) + mu + bu[u] + bi[i] - r
            gp, gq = e[:, None] * qi + reg * pu, e[:, None] * pu + reg * qi
            gbu, gbi = e + reg_bias * bu[u], e + reg_bias * bi[i]
            P[u] = pu - (lr / np.sqrt(Gp[u]))[:, None] * gp
            Q[i] = qi - (lr / np.sqrt(Gq[i]))[:, None] * gq
            bu[u] = bu[u] - lr / np.sqrt(Gbu[u]) * gbu
            bi[i] = bi[i] - lr / np.sqrt(Gbi[i]) * gbi
            Gp[u] = Gp[u] + (gp * gp).sum(1) / k
            Gq[i] = Gq[i] + (gq * gq).sum(1) / k
            Gbu[u] = Gbu[u] + gbu * gbu
            Gbi[i] = Gbi[i] + gbi * gbi
    pred = mu + bu[test.users] + bi[test.items] + (P[test.users] * Q[test.items]).sum(1)
    return float(np.sqrt(np.mean((pred - test.values) ** 2)))


def test_lock_free_warps_are_capped_by_the_data(ml100k):
    """On u1 (943 users) the warps an H100 holds (132 SMs x 5 blocks x 8 warps = 5,280) lose
    enough updates to cost about 0.016 of test RMSE against the CPU kernel, outside the GPU
    test's bound of 0.005; the planned cap (943 warps) stays within it (about 0.002)."""
    from mfbench.data import make_splits, parse_protocol
    from mfbench_plugins.algorithms.sgd._cuda import planned_warps
    from mfbench_plugins.algorithms.sgd.sgd import SGD

    split = next(iter(make_splits(ml100k, parse_protocol("official"))))
    train, test = split.train, split.test
    cpu = SGD(seed=0)
    cpu.prepare(train)
    list(cpu.fit(train))
    reference = float(np.sqrt(np.mean((cpu.predict(test.users, test.items) - test.values) ** 2)))
    resident = 132 * 5 * 8
    warps = planned_warps(train.n_users, train.n_items, resident)
    assert warps == 943
    assert simulate_lock_free(train, test, warps) - reference <= 0.005
    assert simulate_lock_free(train, test, resident) - reference > 0.005  # the uncapped grid: the fault this guards


def test_masked_gd_peak_memory_is_its_estimate(monkeypatch):
    """The dense path's traced peak over prepare and two steps stays within ``dense_bytes`` (the
    figure it is refused by): three float32 matrices and one float64 slice. Before, a float64
    copy of the error and its square, and a broadcast temporary for the biases, took the peak to
    about seven matrices against an estimate of four."""
    import tracemalloc

    from mfbench.testing import planted_ratings
    from mfbench_plugins.algorithms.minibatch import masked_gd

    monkeypatch.setattr(masked_gd, "SQUARE_CHUNK", 1 << 16)  # slices smaller than the matrix, as at scale
    n, m = 1000, 1200
    ratings = planted_ratings(n_users=n, n_items=m, n_ratings=20_000)
    masked_gd.MaskedGD(k=4, epochs=1).prepare(ratings)  # imports and compiled kernels: not what is measured
    algo = masked_gd.MaskedGD(k=4, epochs=2)
    tracemalloc.start()
    try:
        algo.prepare(ratings)
        losses = [info["objective"] for info in algo.fit(ratings)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    estimate = masked_gd.dense_bytes(n, m)
    dense = n * m * 4
    assert losses[1] < losses[0]
    sparse_side = 64 * len(ratings)  # the ratings' indices and values as prepare copies them, the factors
    assert 3 * dense <= peak <= estimate + sparse_side, (peak / dense, estimate / dense)


class Synced(np.ndarray):
    """A host array that counts what would make a device wait: reads of a value to the host
    (``float``, ``int``, ``bool``, ``item``, ``tolist``, use as an index) and boolean-mask
    indexing (whose result size must be read back)."""

    count = 0

    def _sync(self):
        Synced.count += 1
        return self.view(np.ndarray)

    def __float__(self):
        return float(self._sync())

    def __int__(self):
        return int(self._sync())

    def __index__(self):
        return self._sync().__index__()

    def __bool__(self):
        return bool(self._sync())

    def item(self, *args):
        return self._sync().item(*args)

    def tolist(self):
        return self._sync().tolist()

    def __getitem__(self, key):
        if isinstance(key, np.ndarray) and key.dtype == bool:
            Synced.count += 1
        return super().__getitem__(key)


#: numpy functions whose cupy versions read a size or a maximum back to the host
SYNCING = {"unique", "bincount", "nonzero", "flatnonzero", "argwhere", "compress", "extract"}


@pytest.fixture
def counting_gpu(stand_in_gpu, monkeypatch):
    """The stand-in device whose arrays count their syncs (``Synced``), as do its syncing functions."""
    import types

    import mfbench.devices as devices

    def wrap(name, fn):
        def call(*args, **kwargs):
            if name in SYNCING:
                Synced.count += 1
            out = fn(*args, **kwargs)
            return out.view(Synced) if type(out) is np.ndarray else out

        return call

    ns = types.ModuleType("numpy_as_counting_device")

    def attribute(name):
        value = getattr(np, name)
        if callable(value) and not isinstance(value, type):
            return wrap(name, value)
        return value

    ns.__getattr__ = attribute
    check_name = devices._check_name
    monkeypatch.setattr(
        devices, "array_namespace", lambda device: check_name(device) or (np if device == "cpu" else ns)
    )
    Synced.count = 0
    return ns


@pytest.mark.parametrize(
    "name, params",
    [
        ("adam_sgd", dict(k=4, batch_size=64)),
        ("adamax_sgd", dict(k=4, batch_size=64, biased=False)),
        ("momentum_sgd", dict(k=4, batch_size=64)),
        ("dmf", dict(user_dim=4, item_dim=4, hidden=(8,), batch_size=64)),
    ],
)
def test_device_epochs_wait_once(counting_gpu, name, params):
    """An epoch of the device path reads back one number (its loss) whatever its batch count:
    no ``unique``, ``bincount`` or ``float`` per batch (each a host round trip on a GPU: 600,000
    an epoch on the Netflix shape at batch 1,024, when a batch made six)."""
    from mfbench.registry import get_registry
    from mfbench.testing import planted_ratings

    ratings = planted_ratings(n_users=120, n_items=90, n_ratings=3000)
    algo = get_registry().algorithm(name).factory(**params, epochs=3, device="gpu", seed=0)
    algo.prepare(ratings)
    assert algo.xp is counting_gpu
    Synced.count = 0
    losses = [info["objective"] for info in algo.fit(ratings)]
    assert len(losses) == 3 and np.all(np.isfinite(losses))
    assert Synced.count <= len(losses), f"{Synced.count} syncs in {len(losses)} epochs of {3000 // 64 + 1} batches"


class FakePool:
    """cupy's memory pool as the probe sees it, booking as cupy 13 and 14 do
    (``SingleDeviceMemoryPool._try_malloc``: a new block joins the total before the memory hooks
    run), and counting the Python calls cupy would make to registered hooks."""

    def __init__(self, used, cached):
        self.used, self.cached = used, cached
        self.hooks = []
        self.hook_calls = 0

    def total_bytes(self):
        return self.used + self.cached

    def free_all_blocks(self):
        self.cached = 0

    def allocate(self, size, ok=True):
        self.used += size  # booked first
        self.hook_calls += 2 * len(self.hooks)  # malloc_pre/postprocess: every array served
        for hook in self.hooks:
            hook.alloc_postprocess(device_id=0, mem_size=size, mem_ptr=1 if ok else 0)
        if not ok:
            self.used -= size

    def release(self, size):
        self.used -= size
        self.cached += size
        self.hook_calls += 2 * len(self.hooks)  # free_pre/postprocess: every array taken back


def _fake_cupy(monkeypatch, pool):
    import types

    import mfbench.devices as devices

    class MemoryHook:
        def __enter__(self):
            pool.hooks.append(self)

        def __exit__(self, *exc):
            pool.hooks.remove(self)

    fake = types.SimpleNamespace(
        get_default_memory_pool=lambda: pool, cuda=types.SimpleNamespace(MemoryHook=MemoryHook)
    )
    monkeypatch.setattr(devices, "_cupy", lambda: fake)


def test_gpu_peak_reads_the_pool_without_a_hook_in_the_epochs(monkeypatch):
    """The probe starts from the pool's held bytes after releasing its cache (the generator's
    300 cached bytes are not the cell's) and reads the pool's total when sampled and on exit:
    no memory hook, whose callbacks cupy makes for every array inside the timed epochs (and
    whose total, which cupy books before the hook runs, plus the block counted it twice)."""
    import mfbench.devices as devices

    pool = FakePool(used=100, cached=300)
    _fake_cupy(monkeypatch, pool)
    with devices.GpuPeakMemory() as probe:
        assert probe.peak_bytes == 100 and pool.cached == 0
        pool.allocate(1000)
        pool.allocate(500)
        probe.sample()
        pool.release(1000)  # arrays back to the pool: its total stays 1,600
        pool.allocate(4000, ok=False)  # a failed allocation
        pool.allocate(200)
    assert pool.hooks == [] and pool.hook_calls == 0
    assert probe.peak_bytes == 1800


def test_the_runner_samples_the_gpu_peak_after_prepare_and_each_epoch(stand_in_gpu, monkeypatch):
    import mfbench.devices as devices
    from mfbench.data import Dataset, make_splits, parse_protocol
    from mfbench.request import Control
    from mfbench.runner import Cell, Job, run_cell
    from mfbench_datasets.synthetic import generate
    from mfbench_plugins.metrics import rmse
    from support.fakes import Scripted

    samples = []

    class Probe:
        peak_bytes = 7

        def __enter__(self):
            return self

        def sample(self):
            samples.append("sample")

        def __exit__(self, *exc):
            samples.append("exit")

    monkeypatch.setattr(devices, "GpuPeakMemory", Probe)
    ratings, _ = generate(n_users=60, n_items=40, n_ratings=1500, seed=0)
    split = next(make_splits(Dataset("tiny", ratings), parse_protocol("holdout")))
    cell = Cell("scripted", {}, "tiny", split.name, "gpu", 0)
    rec = run_cell(Job("t", cell, split, Scripted, {"rmse": rmse}, Control()))
    assert rec["status"] == "ok" and rec["peak_gpu_bytes"] == 7
    assert samples == ["sample"] * (1 + rec["epochs"]) + ["exit"]


@pytest.mark.gpu
def test_gpu_peak_on_the_device():
    """On a GPU: the peak covers what the block allocated, and a large block cached before the
    probe starts is released, not counted."""
    from mfbench.testing import require_device

    require_device("gpu")
    import cupy

    from mfbench.devices import GpuPeakMemory

    big = cupy.zeros(64 << 20, cupy.uint8)
    del big  # 64 MiB cached in the pool
    with GpuPeakMemory() as probe:
        start = probe.peak_bytes  # what earlier tests' live arrays hold; the cache is released
        a = cupy.ones(4 << 20, cupy.float32)  # 16 MiB, a new block of exactly that size
        cupy.cuda.get_current_stream().synchronize()
    assert probe.peak_bytes == start + (16 << 20), "the new block counted once"
    del a


def test_svd_moves_its_matrix_in_prepare_and_predicts_nothing_in_fit(stand_in_gpu, monkeypatch):
    """The residual matrix goes to the device in ``prepare`` (outside the epoch clock), once, and
    ``fit`` predicts no training pairs (a training loss over every rating at once would need
    three (N, k) arrays on the device; the runner measures train_mse in chunks, off the clock)."""
    from mfbench.testing import planted_ratings
    from mfbench_plugins.algorithms.svd import svd

    moved = []
    monkeypatch.setattr(svd, "device_sparse", lambda xp, S: moved.append(S.shape) or S)
    ratings = planted_ratings(n_users=60, n_items=40, n_ratings=800)
    algo = svd.ImputedSVD(k=3, device="gpu")
    algo.prepare(ratings)
    assert moved == [(60, 40)]

    def no_predict(*args):
        raise AssertionError("fit predicted training pairs")

    monkeypatch.setattr(algo, "_predict", no_predict)
    assert [info["k"] for info in algo.fit(ratings)] == [3.0]
    assert moved == [(60, 40)]


@pytest.mark.parametrize(
    "major, wanted",
    [
        (13, 'pip install "mfbench[gpu13]" (the NVIDIA driver supports CUDA 13)'),
        (12, 'pip install "mfbench[gpu12]" (the NVIDIA driver supports CUDA 12)'),
        (11, "the NVIDIA driver supports CUDA 11; cupy needs CUDA 12 or later: update the driver"),
        (None, 'pip install "mfbench[gpu13]" for a CUDA 13 driver, "mfbench[gpu12]" for CUDA 12'),
    ],
)
def test_install_hint_names_the_cupy_build_of_the_driver(monkeypatch, major, wanted):
    """One extra per CUDA major version (the GPU machines have cupy-cuda13x: a cuda12x extra
    would add a second copy of the cupy package there)."""
    import mfbench.devices as devices

    monkeypatch.setattr(devices, "driver_cuda_major", lambda: major)
    assert devices.gpu_install_hint() == wanted


def test_the_extras_offer_one_build_per_cuda_version():
    import tomllib
    from pathlib import Path

    extras = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    assert extras["gpu12"] == ["cupy-cuda12x>=13"] and extras["gpu13"] == ["cupy-cuda13x>=13.6"]
    assert "gpu" not in extras


def test_the_sgd_kernels_occupancy_comes_from_the_driver(monkeypatch):
    """``RawModule.get_function`` returns a ``RawKernel``, which has no ``.ptr`` (its compiled
    ``Function``, ``.kernel``, has): the query raised AttributeError, was caught, and the
    register estimate was always used. A stand-in shaped like cupy's objects holds the driver's
    answer to be the one used."""
    import types

    from mfbench_plugins.algorithms.sgd import _cuda

    asked = []

    class RawKernel:  # cupy's: attributes and the compiled Function, no pointer of its own
        num_regs = 255
        kernel = types.SimpleNamespace(ptr=0xBEEF)

    def occupancy(ptr, threads, shared):
        asked.append((ptr, threads, shared))
        return 3

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(
            Device=lambda: types.SimpleNamespace(
                attributes={
                    "MultiProcessorCount": 10,
                    "MaxRegistersPerMultiprocessor": 65536,
                    "MaxThreadsPerMultiProcessor": 2048,
                }
            ),
            driver=types.SimpleNamespace(occupancyMaxActiveBlocksPerMultiprocessor=occupancy),
        )
    )
    monkeypatch.setitem(__import__("sys").modules, "cupy", fake)
    monkeypatch.setattr(_cuda, "kernel", lambda half: RawKernel())
    _cuda.resident_warps.cache_clear()
    try:
        warps = _cuda.resident_warps(False)
    finally:
        _cuda.resident_warps.cache_clear()
    assert asked == [(0xBEEF, _cuda.THREADS_PER_BLOCK, 0)]
    assert warps == 10 * 3 * _cuda.THREADS_PER_BLOCK // 32  # the driver's 3 blocks, not 255 registers' 1
