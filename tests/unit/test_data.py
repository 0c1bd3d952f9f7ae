import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mfbench.data import Dataset, Ratings, make_splits, parse_protocol
from mfbench.errors import MfbenchError
from mfbench_datasets.synthetic import generate


@pytest.fixture
def small():
    r = Ratings.from_ids(
        ["b", "a", "a", "c", "b", "c"],
        [10, 10, 20, 30, 30, 20],
        [1, 2, 3, 4, 5, 3],
        timestamps=[5, 1, 2, 3, 9, 4],
        rating_scale=(1.0, 5.0),
    )
    return Dataset("small", r)


def test_from_ids_codes_densely_in_sorted_order(small):
    r = small.ratings
    assert r.users.dtype == np.int32 and r.items.dtype == np.int32 and r.values.dtype == np.float32
    assert list(r.user_ids) == ["a", "b", "c"] and list(r.item_ids) == [10, 20, 30]
    assert r.user_ids[r.users].tolist() == ["b", "a", "a", "c", "b", "c"]
    assert r.item_ids[r.items].tolist() == [10, 10, 20, 30, 30, 20]


def test_ratings_refuses_wrong_dtypes():
    with pytest.raises(TypeError):
        Ratings(np.zeros(2, np.int64), np.zeros(2, np.int32), np.zeros(2, np.float32), np.arange(1), np.arange(1))


@pytest.mark.parametrize(
    "text,kind",
    [
        ("official", "official"),
        ("holdout", "holdout"),
        ("holdout:0.1", "holdout"),
        ("kfold:3", "kfold"),
        ("last", "last"),
        ("official@1,3", "official"),
    ],
)
def test_parse_protocol(text, kind):
    assert parse_protocol(text).kind == kind


@pytest.mark.parametrize("text", ["random", "holdout:1.5", "kfold:1", "last:3", "official:2"])
def test_parse_protocol_rejects(text):
    with pytest.raises(MfbenchError, match="--folds"):
        parse_protocol(text)


def test_holdout_is_reproducible_and_partitions():
    r, _ = generate(n_users=50, n_items=40, n_ratings=800, seed=1)
    ds = Dataset("s", r)
    a = next(make_splits(ds, parse_protocol("holdout:0.25"), split_seed=7))
    b = next(make_splits(ds, parse_protocol("holdout:0.25"), split_seed=7))
    c = next(make_splits(ds, parse_protocol("holdout:0.25"), split_seed=8))
    np.testing.assert_array_equal(a.test.pair_keys(), b.test.pair_keys())
    assert not np.array_equal(a.test.pair_keys(), c.test.pair_keys())
    assert len(a.train) + len(a.test) == len(r)
    assert not np.intersect1d(a.train.pair_keys(), a.test.pair_keys()).size
    assert 0.2 < len(a.test) / len(r) < 0.3


def test_kfold_tests_cover_everything_once():
    r, _ = generate(n_users=50, n_items=40, n_ratings=900, seed=2)
    splits = list(make_splits(Dataset("s", r), parse_protocol("kfold:3")))
    assert len(splits) == 3
    keys = np.concatenate([s.test.pair_keys() for s in splits])
    np.testing.assert_array_equal(np.sort(keys), np.sort(r.pair_keys()))


def test_last_holds_out_each_users_latest(small):
    (split,) = make_splits(small, parse_protocol("last"))
    # a: ratings at t=1,2 -> latest is item 20; b: t=5,9 -> item 30; c: t=3,4 -> item 20
    got = {(split.test.user_ids[u], split.test.item_ids[i]) for u, i in zip(split.test.users, split.test.items)}
    assert got == {("a", 20), ("b", 30), ("c", 20)}


def test_last_needs_timestamps():
    r = Ratings.from_ids([1, 1, 2], [1, 2, 1], [3, 4, 5])
    with pytest.raises(MfbenchError, match="timestamps"):
        list(make_splits(Dataset("nots", r), parse_protocol("last")))


def test_valid_fraction_carves_train_only():
    r, _ = generate(n_users=60, n_items=40, n_ratings=1000, seed=3)
    plain = next(make_splits(Dataset("s", r), parse_protocol("holdout")))
    with_valid = next(make_splits(Dataset("s", r), parse_protocol("holdout"), valid_fraction=0.1))
    np.testing.assert_array_equal(plain.test.pair_keys(), with_valid.test.pair_keys())
    assert len(with_valid.train) + len(with_valid.valid) == len(plain.train)


def test_official_needs_folds(small):
    with pytest.raises(MfbenchError, match="no official folds"):
        list(make_splits(small, parse_protocol("official")))


def test_cold_counts():
    r = Ratings.from_ids([1, 1, 2, 3], [1, 2, 1, 3], [3, 4, 5, 2])
    from mfbench.data import Split

    split = Split(train=r.take(np.array([0, 1, 2])), test=r.take(np.array([3])))
    assert split.cold == {"cold_users": 1, "cold_items": 1, "cold_test_ratings": 1}


def test_synthetic_is_deterministic_and_planted():
    a, truth = generate(seed=5)
    b, _ = generate(seed=5)
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.pair_keys(), b.pair_keys())
    assert len(a) == 100_000 and a.n_users == 943 and a.n_items == 1682
    assert len(np.unique(a.pair_keys())) == len(a)
    assert set(np.unique(a.values)) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    # the interaction term has the stated spread
    inter = np.einsum("nk,nk->n", truth["P"][a.users], truth["Q"][a.items])
    assert 0.6 < inter.std() < 1.0
    # power-law popularity: the top 10% of items hold far more than 10% of the ratings
    counts = np.sort(a.item_counts())[::-1]
    assert counts[: len(counts) // 10].sum() > 0.3 * len(a)


def test_synthetic_rejects_impossible_sizes():
    with pytest.raises(MfbenchError, match="exceeds"):
        generate(n_users=3, n_items=3, n_ratings=10)


def test_accuracy_metric_rounds_to_the_rating_grid():
    from mfbench_plugins.metrics import accuracy

    y = np.array([1.0, 2.0, 3.0, 4.0, 5.0], np.float32)
    # 1.2->1 hit, 2.6->3 miss, 3.0 hit, 3.6->4 hit, 5.4->5 hit
    assert accuracy(y, np.array([1.2, 2.6, 3.0, 3.6, 5.4], np.float32)) == pytest.approx(0.8)


@settings(max_examples=200, deadline=None)
@given(
    ids=st.one_of(
        st.lists(st.integers(0, 300), max_size=60),
        st.lists(st.integers(-(2**40), 2**40), max_size=60),
        st.lists(st.text(max_size=3), max_size=30),
    )
)
def test_code_ids_is_np_unique_in_linear_time_where_it_can_be(ids):
    """One coding of ids (``Ratings.from_ids`` and the file loaders both use it): the lookup
    table for small non-negative integers gives exactly what sorting gives."""
    from mfbench.data import code_ids

    arr = np.asarray(ids) if ids else np.asarray([], dtype=np.int64)
    uniq, codes = code_ids(arr)
    want_uniq, want_codes = np.unique(arr, return_inverse=True)
    assert codes.dtype == np.int32 and uniq.dtype == arr.dtype
    np.testing.assert_array_equal(uniq, want_uniq)
    np.testing.assert_array_equal(codes, want_codes.ravel())
