"""Top-N evaluation: what ranking metrics see, and how a metric name asks for a cut-off.

A ranking metric (``MetricSpec(needs="ranking")``) is called as ``function(topn, k)`` with a
``TopN``: the top-``n`` recommendation lists of the evaluated users (``n`` is the largest ``k``
the run asks for) and their relevant test items. The protocol, fixed for every metric:

* evaluated users: test users with at least one *relevant* test rating (``>= threshold``);
* candidates: every item the user did not rate in train (``recommend(exclude_seen=True)``),
  test items rated below the threshold included (they are the misses a ranking must avoid);
* relevance is binary: a recommended item is a hit when the user rated it ``>= threshold`` in test.

Names: ``ndcg@10`` is the metric ``ndcg`` at ``k=10``; ``ndcg`` alone uses its default ``k``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from .data import Ratings
from .errors import MfbenchError

__all__ = ["TopN", "relevant_items", "parse_metric_name", "recommend", "scores", "DEFAULT_K", "DEFAULT_THRESHOLD"]

DEFAULT_K = 10
DEFAULT_THRESHOLD = 4.0


@dataclass(frozen=True, eq=False)
class TopN:
    """Recommendation lists and the relevant items of the evaluated users.

    Parameters
    ----------
    users
        Codes of the evaluated users, shape ``(m,)``.
    items
        Recommended item codes, best first, shape ``(m, n)``; ``-1`` pads short lists.
    rel_indptr, rel_items
        The relevant test items of user ``users[j]``: ``rel_items[rel_indptr[j]:rel_indptr[j + 1]]``
        (sorted).
    n_items
        Size of the item catalogue (for coverage).
    threshold
        The rating at or above which a test item counts as relevant.
    """

    users: np.ndarray
    items: np.ndarray
    rel_indptr: np.ndarray
    rel_items: np.ndarray
    n_items: int
    threshold: float = DEFAULT_THRESHOLD

    @property
    def n_relevant(self) -> np.ndarray:
        return np.diff(self.rel_indptr)

    def hits(self, k: int) -> np.ndarray:
        """Boolean ``(m, k)``: whether the item at each rank is relevant."""
        if k > self.items.shape[1]:
            raise ValueError(f"cut-off {k} exceeds the {self.items.shape[1]} items recommended per user")
        return self._hits[:, :k]

    @cached_property
    def _hits(self) -> np.ndarray:
        """``hits`` at the full list length, computed once for every metric and cut-off."""
        top = self.items
        m, k = top.shape
        keys = self.rel_items.astype(np.int64) + np.repeat(np.arange(m, dtype=np.int64), self.n_relevant) * (
            self.n_items + 1
        )
        query = (top.astype(np.int64) + np.arange(m, dtype=np.int64)[:, None] * (self.n_items + 1)).ravel()
        pos = np.searchsorted(keys, query)
        found = (pos < len(keys)) & (keys[np.minimum(pos, len(keys) - 1)] == query)
        return found.reshape(m, k) & (top >= 0)


def relevant_items(test: Ratings, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(users, indptr, items)``: the test users with a rating ``>= threshold`` and those items."""
    keep = test.values >= threshold
    u, i = test.users[keep], test.items[keep]
    order = np.lexsort((i, u))
    u, i = u[order], i[order]
    users, counts = np.unique(u, return_counts=True)
    indptr = np.zeros(len(users) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return users.astype(np.int32), indptr, i.astype(np.int32)


def parse_metric_name(name: str) -> tuple[str, int | None]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; ``"rmse"`` -> ``("rmse", None)``."""
    m = re.fullmatch(r"([A-Za-z_][\w-]*)(?:@(\d+))?", name.strip())
    if not m:
        raise MfbenchError(f"--metrics {name!r}: use NAME or NAME@K, e.g. rmse or ndcg@10")
    k = int(m.group(2)) if m.group(2) else None
    if k is not None and k < 1:
        raise MfbenchError(f"--metrics {name!r}: the cut-off must be at least 1")
    return m.group(1), k


# -- ranking an algorithm's items -----------------------------------------------------------------------------------


def scores(algo: Any, users: np.ndarray) -> Any:
    """Scores of a block of users for every item, with the unseen rule: cold users and cold
    items score by the training baseline. On the algorithm's device from its ``_score_block``
    (raw scores of warm users, a matrix product for factor models); from ``score_users``
    (clipped predictions, on the host) where it offers none."""
    from . import devices

    warm = algo.seen_users_[users]
    block = algo._score_block(users[warm]) if warm.any() else None
    if block is None:
        return algo.score_users(users)
    xp = devices.array_namespace_of(block)
    cold_items = np.flatnonzero(~algo.seen_items_)
    if warm.all() and not len(cold_items):
        return xp.asarray(block, dtype=xp.float32)
    b = algo.baseline_
    base = (
        xp.asarray(b.mu + b.item_bias, dtype=xp.float32)[None, :]
        + xp.asarray(b.user_bias[users], dtype=xp.float32)[:, None]
    )
    if warm.all():
        out = xp.asarray(block, dtype=xp.float32)
    else:
        out = base.copy()
        out[xp.asarray(np.flatnonzero(warm))] = block
    if len(cold_items):
        cold = xp.asarray(cold_items)
        out[:, cold] = base[:, cold]
    return out


def recommend(
    algo: Any,
    users: Any,
    n: int = 10,
    exclude_seen: bool = True,
    train: Ratings | None = None,
    block: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``n`` items per user by ``algo``'s predicted score, in blocks of users.

    Each block is scored at once (``scores``: on the GPU for a GPU algorithm that offers
    ``_score_block``), the items rated in ``train`` are masked, and ``argpartition`` picks the
    top ``n``; only ``(block, n)`` results come back to the host, so all users of a large
    dataset are ranked without a dense users x items matrix. ``block`` defaults to as many
    users as fit 2^24 scores (64 MB). Returns ``(items, scores)``, each ``(len(users), n)``,
    best first: the items are ordered by the model's raw scores (so that predictions above
    the top of the scale still rank), the scores are the predicted ratings (clipped, as
    ``predict`` gives them). When fewer than ``n`` items are eligible the rest is ``-1`` /
    ``-inf``.
    """
    from . import devices

    users = np.asarray(users, dtype=np.int32)
    if exclude_seen and train is None:
        raise ValueError("recommend(exclude_seen=True) needs train= (the ratings whose items to exclude)")
    n_items = algo.n_items_
    n = min(n, n_items)
    block = block or max(1, (1 << 24) // max(1, n_items))
    seen = None
    if exclude_seen and train is not None:
        from scipy import sparse

        seen = sparse.csr_matrix(
            (np.ones(len(train), bool), (train.users, train.items)), shape=(train.n_users, train.n_items)
        )
    out_items = np.full((len(users), n), -1, np.int32)
    out_scores = np.full((len(users), n), -np.inf, np.float32)
    scale = algo.rating_scale_
    for start in range(0, len(users), block):
        ub = users[start : start + block]
        s = scores(algo, ub)
        xp = devices.array_namespace_of(s)
        if seen is not None:
            rows = seen[ub]
            r = np.repeat(np.arange(len(ub)), np.diff(rows.indptr))
            s[xp.asarray(r), xp.asarray(rows.indices)] = -xp.inf
        top = xp.argpartition(-s, n - 1, axis=1)[:, :n]
        top_scores = devices.to_numpy(xp.take_along_axis(s, top, axis=1)).astype(np.float32)
        top = devices.to_numpy(top).astype(np.int32)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top, top_scores = np.take_along_axis(top, order, 1), np.take_along_axis(top_scores, order, 1)
        top[~np.isfinite(top_scores)] = -1
        if scale is not None:  # report predicted ratings; the order keeps the raw scores' ties broken
            np.clip(top_scores, *scale, out=top_scores, where=np.isfinite(top_scores))
        out_items[start : start + len(ub)] = top
        out_scores[start : start + len(ub)] = top_scores
    return out_items, out_scores
