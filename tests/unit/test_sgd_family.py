"""SGD and its mini-batch and dense cousins: backends agree, schedules are deterministic,
planted structure is recovered, the dense method refuses what does not fit."""

import numpy as np
import pytest

from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.minibatch.masked_gd import MaskedGD
from mfbench_plugins.algorithms.minibatch.minibatch import AdamaxSGD, AdamSGD, MomentumSGD
from mfbench_plugins.algorithms.sgd.sgd import SGD
from mfbench_plugins.metrics import rmse


@pytest.fixture(scope="module")
def small():
    r, _ = generate(n_users=60, n_items=40, n_ratings=900, rank=3, seed=4)
    return r


def train(algo, ratings):
    algo.prepare(ratings)
    return [info["objective"] for info in algo.fit(ratings)]


@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("k", [5, 8, 21])  # the kernel's vector passes: a partial chunk, one full, two and a part
def test_numba_kernel_equals_the_python_reference(small, biased, adaptive, k):
    kw = dict(k=k, epochs=3, biased=biased, adaptive=adaptive, lr=0.05 if adaptive else 0.01, blocks=3, seed=7)
    fast, ref = SGD(backend="numba", **kw), SGD(backend="python", **kw)
    loss_fast, loss_ref = train(fast, small), train(ref, small)
    np.testing.assert_allclose(loss_fast, loss_ref, rtol=1e-4)
    for name in ("P_", "Q_", "bu_", "bi_"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), rtol=1e-4, atol=1e-5)


def test_thread_count_does_not_change_the_result(small):
    one, two = SGD(k=6, epochs=4, threads=1, seed=3), SGD(k=6, epochs=4, threads=2, seed=3)
    train(one, small)
    train(two, small)
    np.testing.assert_array_equal(one.P_, two.P_)
    np.testing.assert_array_equal(one.Q_, two.Q_)


def test_sgd_loss_decreases(small):
    losses = train(SGD(k=5, epochs=8, seed=1), small)
    assert losses[-1] < losses[0]


def test_python_backend_refuses_big_data(monkeypatch, small):
    import mfbench_plugins.algorithms.sgd.sgd as sgd

    monkeypatch.setattr(sgd, "PYTHON_BACKEND_LIMIT", 100)
    with pytest.raises(MfbenchError, match="backend=numba"):
        SGD(backend="python").prepare(small)


@pytest.fixture(scope="module")
def planted():
    """Rank 4, noise 0.1, no rounding: a held-out RMSE near 0.1 means the structure was found."""
    r, _ = generate(
        n_users=400,
        n_items=300,
        n_ratings=40_000,
        rank=4,
        noise=0.1,
        step=0.001,
        seed=11,
        user_sigma=0.2,
        item_sigma=0.2,
        scale=(-10.0, 10.0),
    )
    rng = np.random.default_rng(0)
    test = rng.random(len(r)) < 0.1
    train_part = r.take(~test)
    # keep only warm test pairs: this checks recovery, not the cold rule
    seen_u, seen_i = train_part.user_counts() > 0, train_part.item_counts() > 0
    test_idx = np.flatnonzero(test)
    test_idx = test_idx[seen_u[r.users[test_idx]] & seen_i[r.items[test_idx]]]
    return train_part, r.take(test_idx)


@pytest.mark.parametrize(
    "algo",
    [
        SGD(k=4, epochs=60, reg=0.01, lr=0.1, seed=0),
        AdamSGD(k=4, epochs=60, reg=0.01, batch_size=512, seed=0),
        AdamaxSGD(k=4, epochs=60, reg=0.01, batch_size=512, lr=0.03, seed=0),
        MomentumSGD(k=4, epochs=60, reg=0.01, batch_size=512, lr=2.0, seed=0),
        MaskedGD(k=4, epochs=400, reg=0.01, lr=0.05, seed=0),
    ],
    ids=lambda a: type(a).__name__,
)
def test_planted_low_rank_structure_is_recovered(planted, algo):
    train_part, test = planted
    train(algo, train_part)
    got = rmse(test.values, algo.predict(test.users, test.items))
    assert got < 0.16, f"{type(algo).__name__}: held-out RMSE {got:.4f} with noise 0.1"


def test_masked_gd_refuses_what_does_not_fit(small):
    with pytest.raises(MfbenchError) as err:
        MaskedGD(max_dense_gb=1e-6).prepare(small)
    msg = str(err.value)
    assert "needs about" in msg and "budget" in msg and "use sgd or adam_sgd" in msg


@pytest.mark.parametrize("factory, kw", [(MomentumSGD, dict(lr=0.2)), (AdamSGD, {}), (AdamaxSGD, {})])
@pytest.mark.parametrize("biased", [True, False])
def test_minibatch_numba_kernel_equals_the_array_code(small, factory, kw, biased):
    """Same seed, same shuffle, same batches: the fused numba kernel and the array code (numpy
    here, cupy on a GPU) give the same losses and factors to float32 tolerance."""
    args = dict(k=5, epochs=3, batch_size=50, biased=biased, seed=3, **kw)
    fast, ref = factory(backend="numba", **args), factory(backend="array", **args)
    np.testing.assert_allclose(train(fast, small), train(ref, small), rtol=1e-4)
    for name in ("P_", "Q_", "bu_", "bi_"):
        np.testing.assert_allclose(getattr(fast, name), getattr(ref, name), rtol=1e-4, atol=2e-5)


def test_minibatch_backend_is_checked(small):
    with pytest.raises(MfbenchError, match="backend must be one of auto, numba, array"):
        AdamSGD(backend="cuda").prepare(small)


def test_minibatch_optimizers_differ_but_all_learn(small):
    algos = [
        MomentumSGD(k=4, epochs=5, batch_size=64, lr=0.2, seed=0),
        AdamSGD(k=4, epochs=5, batch_size=64, seed=0),
        AdamaxSGD(k=4, epochs=5, batch_size=64, seed=0),
    ]
    losses = {type(a).__name__: train(a, small) for a in algos}
    for name, curve in losses.items():
        assert curve[-1] < curve[0], name
    assert len({round(c[-1], 6) for c in losses.values()}) == 3


@pytest.mark.parametrize("module, peer", [("surprise", "SurpriseSVD"), ("myfm", "MyFM")])
def test_peer_without_its_library_says_what_to_install(monkeypatch, small, module, peer):
    import sys

    from mfbench_plugins import peers

    monkeypatch.setitem(sys.modules, module, None)  # as if the library were not installed
    with pytest.raises(MfbenchError, match=r'pip install "mfbench\[peers\]"'):
        getattr(peers, peer)().prepare(small)


def test_block_order_sorts_by_block_then_user_then_item():
    """The block layout: ratings sorted by (block, user, item), block offsets that match, and
    each block's users and items a contiguous range of the permuted rows."""
    from mfbench_plugins.algorithms.sgd.sgd import block_order

    r, _ = generate(n_users=300, n_items=200, n_ratings=20_000, seed=6)
    shuffle = np.random.default_rng(0).permutation(len(r))
    users, items = r.users[shuffle], r.items[shuffle]
    nb = 4
    order, ptr, perm_u, perm_i = block_order(users, items, r.n_users, r.n_items, nb, np.random.default_rng(1))
    assert sorted(order.tolist()) == list(range(len(r)))
    block = (perm_u * nb // r.n_users)[users] * nb + (perm_i * nb // r.n_items)[items]
    key = (block[order] * r.n_users + users[order]).astype(np.int64) * r.n_items + items[order]
    assert (np.diff(key) > 0).all()
    np.testing.assert_array_equal(ptr, np.r_[0, np.cumsum(np.bincount(block, minlength=nb * nb))])
    for b in range(nb * nb):
        rows = perm_u[users[order[ptr[b] : ptr[b + 1]]]]
        assert len(rows) == 0 or (rows * nb // r.n_users == b // nb).all()


def test_shuffle_is_one_seeded_permutation_of_every_array_whatever_the_threads():
    """The epoch shuffle: a permutation that depends on the key only, the same for every array
    it moves and on any thread count, and the same as indexing with ``permutation``."""
    import numba

    from mfbench_plugins.algorithms.kernels.shuffle import permutation, shuffle

    rng = np.random.default_rng(0)
    n = 5000
    users, values = rng.integers(0, 70, n).astype(np.int32), rng.random(n).astype(np.float32)
    perm = permutation(7, n, bucket=256)
    assert perm.dtype == np.int32 and sorted(perm.tolist()) == list(range(n))
    assert not np.array_equal(perm, permutation(8, n, bucket=256))
    before = numba.get_num_threads()
    outs = []
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            U, R = np.empty_like(users), np.empty_like(values)
            shuffle(7, [users, values], [U, R], bucket=256)
            outs.append((U, R))
    finally:
        numba.set_num_threads(before)
    for U, R in outs:
        np.testing.assert_array_equal(U, users[perm])
        np.testing.assert_array_equal(R, values[perm])
    with pytest.raises(ValueError, match="different lengths"):
        shuffle(7, [users], [np.empty(n - 1, np.int32)])


@pytest.mark.parametrize("buckets", [1, 2, 3, 5])
def test_one_thread_shuffle_is_the_threaded_permutation(buckets):
    """Below ``ONE_THREAD_BELOW`` buckets one kernel shuffles on one thread: the same permutation
    the threaded kernels give for the same key, length and buckets."""
    from mfbench_plugins.algorithms.kernels import shuffle as _shuffle

    n, key = 3000, _shuffle._key(11)
    src = np.arange(n, dtype=np.uint32)
    one, threaded = np.empty_like(src), np.empty_like(src)
    _shuffle._one_thread(key, buckets, src, one)
    cursor, starts = _shuffle._offsets(key, n, buckets)
    _shuffle._scatter(key, cursor, src, threaded)
    _shuffle._fisher_yates(key, starts, threaded)
    np.testing.assert_array_equal(one, threaded)
    assert sorted(one.tolist()) == list(range(n)) and not np.array_equal(one, src)


def test_shuffle_moves_the_bits_of_every_dtype():
    """Arrays are shuffled as unsigned integers of their width: floats (NaN included) come out
    bit for bit, and every width takes the same permutation."""
    from mfbench_plugins.algorithms.kernels.shuffle import permutation, shuffle

    n = 1000
    perm = permutation(3, n, bucket=64)
    for dtype in (np.float32, np.float64, np.int16, np.uint8, np.int64):
        src = (np.arange(n) % 250).astype(dtype)
        if src.dtype.kind == "f":
            src[7] = np.nan
        dst = np.empty_like(src)
        shuffle(3, [src], [dst], bucket=64)
        np.testing.assert_array_equal(dst.view(np.uint8).reshape(n, -1), src[perm].view(np.uint8).reshape(n, -1))


@pytest.mark.parametrize("bucket", [1, 6])  # six buckets of one (threaded), or one bucket of six (one thread)
def test_shuffle_is_uniform(bucket):
    """Every element lands in every place equally often (a chi-square test over 12,000 keys):
    through the bucket split (buckets of one or two elements) and through Fisher-Yates alone."""
    from scipy.stats import chisquare

    from mfbench_plugins.algorithms.kernels.shuffle import permutation

    n, keys = 6, 12_000
    places = np.zeros((n, n))
    for key in range(keys):
        places[permutation(key, n, bucket=bucket), np.arange(n)] += 1
    assert places.sum(axis=1).tolist() == [keys] * n
    assert chisquare(places.ravel()).pvalue > 1e-4  # a wrong shuffle fails by hundreds of sigma


@pytest.mark.parametrize("kind, k, layout", [(0, 64, (80, 144, 144)), (1, 64, (80, 144, 208)), (2, 5, (16, 32, 48))])
def test_minibatch_packed_rows(kind, k, layout):
    """A packed row: weights, bias and moments, each part on its own cache lines, the table
    aligned to a line."""
    from mfbench_plugins.algorithms.minibatch._numba import columns, packed

    assert columns(kind, k) == layout
    z = packed(kind, k, 33)
    assert z.shape == (33, layout[2]) and z.dtype == np.float32 and z.flags.c_contiguous
    assert z.ctypes.data % 64 == 0 and not z.any()


def test_l2_cache_size_is_read_from_sysfs_or_defaulted(tmp_path):
    from mfbench_plugins.algorithms.minibatch._numba import l2_cache_bytes

    for name, level, kind, size in [
        ("index0", 1, "Data", "48K"),
        ("index1", 1, "Instruction", "32K"),
        ("index2", 2, "Unified", "2048K"),
        ("index3", 3, "Unified", "480M"),
    ]:
        (tmp_path / name).mkdir()
        for field, value in (("level", level), ("type", kind), ("size", size)):
            (tmp_path / name / field).write_text(f"{value}\n")
    assert l2_cache_bytes(root=tmp_path) == 2 << 20
    assert l2_cache_bytes(default=123, root=tmp_path / "missing") == 123
    (tmp_path / "index2" / "size").write_text("lots\n")
    assert l2_cache_bytes(default=123, root=tmp_path) == 123


@pytest.mark.parametrize("factory", [MomentumSGD, AdamSGD, AdamaxSGD])
def test_minibatch_kernel_results_do_not_depend_on_the_thread_count(monkeypatch, small, factory):
    """Threads take whole users and items (by slot): each row's gradient is summed in one order."""
    import numba

    from mfbench_plugins.algorithms.minibatch import _numba as _minibatch_numba

    monkeypatch.setattr(_minibatch_numba, "ONE_THREAD_BYTES", 0)  # small tables would train on one thread
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            algo = factory(k=5, epochs=2, batch_size=64, seed=3)
            algo.prepare(small)
            losses = [info["objective"] for info in algo.fit(small)]
            results.append((losses, algo.P_.copy(), algo.Q_.copy(), algo.bu_.copy()))
            slot_u, slot_i = algo._scratch[:2]
            assert (slot_u == -1).all() and (slot_i == -1).all()  # every batch frees its slots
    finally:
        numba.set_num_threads(before)
    (l1, *a1), (l2, *a2) = results
    assert l1 == l2
    for x, y in zip(a1, a2):
        np.testing.assert_array_equal(x, y)


def test_the_record_says_the_threads_the_minibatch_kernel_ran_on(monkeypatch, small):
    """Tables that fit in one core's cache train on one thread whatever numba's count: the
    record's threads_in_force says one, not numba's count."""
    import numba

    from mfbench.runner import _threads_in_force
    from mfbench_plugins.algorithms.minibatch import _numba as _minibatch_numba

    algo = AdamSGD(k=5, epochs=1, batch_size=64, seed=3)
    algo.prepare(small)
    list(algo.fit(small))
    assert algo.threads_used_ == 1 and _threads_in_force(algo.threads_used_)["numba"] == 1
    if numba.config.NUMBA_NUM_THREADS > 1:
        monkeypatch.setattr(_minibatch_numba, "ONE_THREAD_BYTES", 0)
        before = numba.get_num_threads()
        try:
            numba.set_num_threads(2)
            algo = AdamSGD(k=5, epochs=1, batch_size=64, seed=3)
            algo.prepare(small)
            list(algo.fit(small))
            assert algo.threads_used_ == 2
        finally:
            numba.set_num_threads(before)


def test_the_gpu_epoch_order_sorts_53_bit_keys():
    """cupy's ``permutation`` sorts 32-bit keys (about 1.2M ties at 100M ratings, each tie kept in
    stored order); the device order ranks float64 keys. On numpy, as the device code runs it."""
    from mfbench_plugins.algorithms.sgd.sgd import device_order

    sorted_keys = []

    class Recording:
        def __getattr__(self, name):
            return getattr(np, name)

        def argsort(self, keys):
            sorted_keys.append(keys.dtype)
            return np.argsort(keys)

    order = device_order(Recording(), np.random.RandomState(3), 10_000)
    assert order.dtype == np.int64 and np.array_equal(np.sort(order), np.arange(10_000))
    assert sorted_keys == [np.float64]
