"""Top-N: ranking metrics against hand-computed values and a loop reference; block recommendation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mfbench import ranking
from mfbench.data import Ratings, Split
from mfbench.devices import to_numpy
from mfbench.errors import MfbenchError
from mfbench.plan import resolve_metrics
from mfbench.ranking import TopN, parse_metric_name, relevant_items
from mfbench.registry import get_registry
from mfbench.runner import top_n
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.als.als import ALS
from mfbench_plugins.algorithms.baselines.baselines import Biases
from mfbench_plugins.algorithms.sgd.sgd import SGD
from mfbench_plugins.algorithms.svd.svd import ImputedSVD
from mfbench_plugins.metrics import average_precision, coverage, hit_rate, ndcg, precision, recall
from support.cli import run_cli


def _topn(lists: list[list[int]], relevant: list[list[int]], n_items: int) -> TopN:
    width = max(len(x) for x in lists)
    items = np.full((len(lists), width), -1, np.int32)
    for row, lst in enumerate(lists):
        items[row, : len(lst)] = lst
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in relevant])]).astype(np.int64)
    rel = np.concatenate([sorted(r) for r in relevant]).astype(np.int32)
    return TopN(np.arange(len(lists), dtype=np.int32), items, indptr, rel, n_items)


def test_metrics_by_hand():
    # user 0: hits at ranks 1 and 3 of 4, 3 relevant; user 1: one hit at rank 2, 1 relevant
    t = _topn([[5, 1, 7, 2], [3, 4, 0, 9]], [[5, 7, 8], [4]], n_items=10)
    assert precision(t, 4) == pytest.approx((2 / 4 + 1 / 4) / 2)
    assert recall(t, 4) == pytest.approx((2 / 3 + 1 / 1) / 2)
    dcg0 = 1 + 1 / math.log2(4)
    idcg0 = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg(t, 4) == pytest.approx((dcg0 / idcg0 + (1 / math.log2(3)) / 1) / 2)
    ap0 = (1 / 1 + 2 / 3) / 3
    ap1 = (1 / 2) / 1
    assert average_precision(t, 4) == pytest.approx((ap0 + ap1) / 2)
    assert hit_rate(t, 4) == 1.0
    assert hit_rate(t, 1) == 0.5
    assert coverage(t, 2) == pytest.approx(4 / 10)  # items 5, 1, 3, 4
    assert coverage(t, 4) == pytest.approx(8 / 10)


def test_padding_counts_as_a_miss():
    t = _topn([[2, -1, -1]], [[2, 0]], n_items=3)
    assert precision(t, 3) == pytest.approx(1 / 3)
    assert recall(t, 3) == pytest.approx(1 / 2)
    assert coverage(t, 3) == pytest.approx(1 / 3)


def _reference(lists, relevant, n_items, k):
    """The textbook definitions, one user at a time."""
    p, r, n, a, h = [], [], [], [], []
    for lst, rel in zip(lists, relevant):
        rel = set(rel)
        top = [x for x in lst[:k]]
        hits = [1 if x in rel else 0 for x in top]
        p.append(sum(hits) / k)
        r.append(sum(hits) / len(rel))
        dcg = sum(g / math.log2(i + 2) for i, g in enumerate(hits))
        idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
        n.append(dcg / idcg)
        run, ap = 0, 0.0
        for i, g in enumerate(hits):
            if g:
                run += 1
                ap += run / (i + 1)
        a.append(ap / min(k, len(rel)))
        h.append(1.0 if sum(hits) else 0.0)
    cov = len({x for lst in lists for x in lst[:k] if x >= 0}) / n_items
    return np.mean(p), np.mean(r), np.mean(n), np.mean(a), np.mean(h), cov


@pytest.mark.parametrize("k", [1, 5, 20])
def test_metrics_equal_the_reference_on_random_lists(k):
    rng = np.random.default_rng(k)
    n_items = 60
    lists = [list(rng.permutation(n_items)[:20]) for _ in range(40)]
    relevant = [list(rng.choice(n_items, size=rng.integers(1, 12), replace=False)) for _ in range(40)]
    t = _topn(lists, relevant, n_items)
    got = precision(t, k), recall(t, k), ndcg(t, k), average_precision(t, k), hit_rate(t, k), coverage(t, k)
    assert got == pytest.approx(_reference(lists, relevant, n_items, k))


def test_relevant_items_keeps_users_with_a_relevant_rating():
    test = Ratings(
        np.array([0, 0, 1, 2, 2], np.int32),
        np.array([3, 1, 0, 2, 4], np.int32),
        np.array([5, 4, 3, 4.5, 2], np.float32),
        np.arange(3),
        np.arange(5),
    )
    users, indptr, items = relevant_items(test, 4.0)
    assert users.tolist() == [0, 2]
    assert indptr.tolist() == [0, 2, 3]
    assert items.tolist() == [1, 3, 2]


def test_metric_names():
    assert parse_metric_name("ndcg@10") == ("ndcg", 10)
    assert parse_metric_name("rmse") == ("rmse", None)
    rating, ranking, columns = resolve_metrics(["rmse", "ndcg", "precision@5", "rmse"], get_registry())
    assert list(rating) == ["rmse"]
    assert {name: k for name, (_, k) in ranking.items()} == {"ndcg@10": 10, "precision@5": 5}
    assert columns == ["rmse", "ndcg@10", "precision@5"]
    with pytest.raises(MfbenchError, match="rating metric"):
        resolve_metrics(["rmse@10"], get_registry())
    with pytest.raises(MfbenchError, match="NAME@K"):
        parse_metric_name("ndcg@x")


@pytest.fixture(scope="module")
def split():
    ratings, _ = generate(n_users=200, n_items=300, n_ratings=12_000, rank=4, noise=0.3, seed=1)
    mask = np.random.default_rng(3).random(len(ratings)) < 0.2
    return Split(ratings.take(np.flatnonzero(~mask)), ratings.take(np.flatnonzero(mask)))


@pytest.mark.parametrize("factory", [Biases, ALS, ImputedSVD, SGD])
def test_block_scores_rank_like_the_predictions(factory, split):
    """The matrix-product path ranks as the pairwise predictions do, block size changes nothing,
    and seen items are never recommended."""
    algo = factory(device="cpu", seed=0)
    algo.prepare(split.train)
    for _ in algo.fit(split.train):
        pass
    users = np.arange(split.train.n_users, dtype=np.int32)
    warm = users[algo.seen_users_]
    fast = to_numpy(ranking.scores(algo, warm))
    slow = algo.score_users(warm)
    inside = (slow > split.train.rating_scale[0] + 1e-3) & (slow < split.train.rating_scale[1] - 1e-3)
    np.testing.assert_allclose(fast[inside], slow[inside], rtol=1e-4, atol=1e-4)  # equal where unclipped
    a, sa = algo.recommend(users, n=15, train=split.train, block=7)
    b, sb = algo.recommend(users, n=15, train=split.train)
    np.testing.assert_allclose(sa, sb, rtol=1e-6)
    seen = set(zip(split.train.users.tolist(), split.train.items.tolist()))
    assert not any((int(u), int(i)) in seen for u, row in zip(users, a) for i in row if i >= 0)
    assert np.all(np.diff(sa, axis=1) <= 0)


def test_top_n_and_metrics_on_a_planted_model(split):
    """A model fitted on planted data ranks the test's relevant items far better than chance."""
    algo = ALS(k=10, epochs=10, device="cpu", seed=0)
    algo.prepare(split.train)
    for _ in algo.fit(split.train):
        pass
    t = top_n(algo, split, 10, 4.0)
    assert len(t.users) > 0 and t.items.shape == (len(t.users), 10)
    chance = np.mean(np.minimum(t.n_relevant, 10)) / split.train.n_items
    assert precision(t, 10) > 3 * chance


def test_run_reports_ranking_metrics(capsys, tmp_path):
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "biases",
            "--metrics",
            "rmse,ndcg@10,coverage",
            "--out",
            str(tmp_path),
            "-q",
            "--executor",
            "inline",
            "--data-param",
            "synthetic.n_ratings=20000",
            "--data-param",
            "synthetic.n_users=300",
            "--data-param",
            "synthetic.n_items=400",
        ],
        capsys,
    )
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header[4:7] == ["rmse", "ndcg@10", "coverage@10"]
    row = out.splitlines()[2].split()
    assert 0 < float(row[5]) <= 1 and 0 < float(row[6]) <= 1
