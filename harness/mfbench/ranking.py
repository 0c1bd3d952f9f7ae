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

import numpy as np

from .data import Ratings
from .errors import MfbenchError

__all__ = ["TopN", "relevant_items", "parse_metric_name", "DEFAULT_K", "DEFAULT_THRESHOLD"]

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
