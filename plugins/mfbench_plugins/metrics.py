"""Metrics: rating prediction on the test ratings, and top-N ranking on recommendation lists.

Ranking metrics follow the protocol of ``mfbench.ranking`` (binary relevance: a test rating at or
above the threshold, default 4; candidates are the items a user did not rate in train), averaged
over the evaluated users:

* ``precision@k``: hits in the top k / k;
* ``recall@k``: hits in the top k / the user's relevant items;
* ``ndcg@k``: DCG of the top k (gain 1 per hit, discount ``1/log2(rank + 1)``) over the DCG of an
  ideal list (``min(k, relevant)`` hits first);
* ``map@k``: the mean over hits of the precision at each hit's rank, divided by ``min(k, relevant)``;
* ``hit_rate@k``: share of users with at least one hit in the top k;
* ``coverage@k``: distinct items in all top-k lists / the catalogue (not averaged over users).
"""

from __future__ import annotations

import numpy as np

from mfbench import hookimpl
from mfbench.ranking import TopN
from mfbench.specs import MetricSpec

__all__ = ["rmse", "mae", "accuracy", "precision", "recall", "ndcg", "average_precision", "hit_rate", "coverage"]


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, accumulated in float64."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error, accumulated in float64."""
    return float(np.mean(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64))))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions that land on the true rating, each rounded to the nearest rating value
    seen in ``y_true`` (for classification heads with ``predict=argmax``, the exact hit rate)."""
    grid = np.unique(y_true)
    idx = np.clip(np.searchsorted(grid, y_pred), 1, len(grid) - 1) if len(grid) > 1 else np.zeros(len(y_pred), int)
    if len(grid) > 1:
        idx = np.where(np.abs(y_pred - grid[idx - 1]) <= np.abs(grid[idx] - y_pred), idx - 1, idx)
    return float(np.mean(grid[idx] == y_true))


def precision(topn: TopN, k: int) -> float:
    return float(topn.hits(k).sum(axis=1).mean() / k)


def recall(topn: TopN, k: int) -> float:
    return float((topn.hits(k).sum(axis=1) / topn.n_relevant).mean())


def ndcg(topn: TopN, k: int) -> float:
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = topn.hits(k) @ discount
    ideal = np.concatenate([[0.0], np.cumsum(discount)])[np.minimum(topn.n_relevant, k)]
    return float((dcg / ideal).mean())


def average_precision(topn: TopN, k: int) -> float:
    hits = topn.hits(k)
    prec_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return float(((prec_at * hits).sum(axis=1) / np.minimum(topn.n_relevant, k)).mean())


def hit_rate(topn: TopN, k: int) -> float:
    return float(topn.hits(k).any(axis=1).mean())


def coverage(topn: TopN, k: int) -> float:
    top = topn.items[:, :k]
    return float(np.unique(top[top >= 0]).size / topn.n_items)


@hookimpl
def mfbench_metrics() -> list[MetricSpec]:
    return [
        MetricSpec("rmse", rmse, "lower", description="root mean squared error of the test ratings"),
        MetricSpec("mae", mae, "lower", description="mean absolute error of the test ratings"),
        MetricSpec("accuracy", accuracy, "higher", description="share of predictions that round to the true rating"),
        MetricSpec("precision", precision, "higher", "ranking", "hits in the top k / k (precision@10 by default)"),
        MetricSpec("recall", recall, "higher", "ranking", "hits in the top k / relevant test items"),
        MetricSpec(
            "ndcg", ndcg, "higher", "ranking", "normalized discounted cumulative gain of the top k, binary relevance"
        ),
        MetricSpec("map", average_precision, "higher", "ranking", "mean average precision of the top k"),
        MetricSpec("hit_rate", hit_rate, "higher", "ranking", "share of users with a relevant item in the top k"),
        MetricSpec("coverage", coverage, "higher", "ranking", "distinct items recommended in the top k / catalogue"),
    ]
