"""Paired (and unpaired) timing statistics: how much slower is B than A, with an interval, from pairs run side by side.

A pair is one sample of A and one of B taken next to each other on the same machine, so that
whatever the machine did at that moment (a neighbour, a vCPU that came or went, a frequency
step) touches both. Each pair gives a log-ratio ``d = log(B / A)``; the machine's slow moments
cancel in ``d`` and what remains is the code's difference plus the samples' own jitter.

The estimate is the Hodges-Lehmann shift of the ``d``: the median of the Walsh averages
``(d_i + d_j) / 2, i <= j``. Its interval is the one the Wilcoxon signed-rank test inverts
(Hollander & Wolfe, *Nonparametric Statistical Methods*, 3.2): the Walsh averages of ranks ``C``
and ``M + 1 - C`` where ``M = n (n + 1) / 2`` and ``C`` is the largest count with
``P(T+ < C) <= alpha / 2`` under the exact null distribution of the signed-rank statistic
``T+``. It assumes only that the ``d`` are independent and symmetric about their centre: no
normality, no equal variances, robust to the odd sample a burst slowed down.

Unpaired samples (the repeats of a cell in two runs made at different times) get the two-sample
version: the median of all differences ``log b_j - log a_i`` and the interval that the
Mann-Whitney test inverts. It holds only as far as the two runs met the same machine.

``verdict`` turns an interval into a decision against a tolerance, the way asv's ``continuous``
and a Duet benchmark do: ``fail`` when the whole interval lies above the allowed slowdown (the
slowdown is real and larger than allowed), ``pass`` when it lies below, else ``inconclusive``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np

__all__ = [
    "signed_rank_cdf",
    "walsh_rank",
    "Estimate",
    "estimate",
    "verdict",
    "pairs_to_settle",
    "rank_sum_cdf",
    "estimate_unpaired",
]


@cache
def _signed_rank_counts(n: int) -> tuple[int, ...]:
    """How many of the ``2**n`` sign patterns of ranks ``1..n`` give each rank sum ``0..M``."""
    counts = np.zeros(n * (n + 1) // 2 + 1, dtype=object)
    counts[0] = 1
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return tuple(int(c) for c in counts)


def signed_rank_cdf(n: int, t: int) -> float:
    """``P(T+ <= t)`` for the Wilcoxon signed-rank statistic of ``n`` pairs, under the null (exact)."""
    counts = _signed_rank_counts(n)
    if t < 0:
        return 0.0
    return sum(counts[: t + 1]) / 2**n


@cache
def walsh_rank(n: int, confidence: float) -> int:
    """``C``: the interval's ends are the ``C``-th smallest and largest Walsh averages (1-based);
    0 when ``n`` pairs cannot reach ``confidence`` (the interval is then unbounded)."""
    alpha = 1.0 - confidence
    counts = _signed_rank_counts(n)
    total, below, c = 2**n, 0, 0
    while below + counts[c] <= alpha / 2 * total:  # P(T+ <= c) <= alpha/2  =>  C >= c + 1
        below += counts[c]
        c += 1
    return c


@dataclass(frozen=True)
class Estimate:
    """The ratio B/A and its interval, from ``n`` pairs (``lo``/``hi`` infinite when unbounded)."""

    ratio: float
    lo: float
    hi: float
    n: int
    confidence: float

    def __str__(self) -> str:
        if not (math.isfinite(self.lo) and math.isfinite(self.hi)) or self.lo <= 0:
            need = next(n for n in range(self.n + 1, 64) if walsh_rank(n, self.confidence) > 0)
            return f"{self.ratio:.2f}x [no interval below {need} pairs]"
        return f"{self.ratio:.2f}x [{self.lo:.2f}, {self.hi:.2f}]"


def estimate(log_ratios: np.ndarray | list[float], confidence: float = 0.95) -> Estimate:
    """Hodges-Lehmann ratio and its signed-rank interval from the pairs' ``log(B / A)``."""
    d = np.asarray(log_ratios, dtype=float)
    n = d.size
    if n == 0:
        return Estimate(math.nan, 0.0, math.inf, 0, confidence)
    i, j = np.triu_indices(n)
    walsh = np.sort((d[i] + d[j]) / 2)
    c = walsh_rank(n, confidence)
    lo, hi = (walsh[c - 1], walsh[walsh.size - c]) if c > 0 else (-math.inf, math.inf)
    return Estimate(float(math.exp(np.median(walsh))), math.exp(lo), math.exp(hi), n, confidence)


def verdict(est: Estimate, max_slowdown: float) -> str:
    """``fail`` when the interval lies above ``max_slowdown``, ``pass`` below it, else ``inconclusive``."""
    if est.lo > max_slowdown:
        return "fail"
    if est.hi < max_slowdown:
        return "pass"
    return "inconclusive"


def pairs_to_settle(est: Estimate, max_slowdown: float) -> int | None:
    """About how many pairs would move the interval off ``max_slowdown`` (its width shrinks as
    ``1 / sqrt(n)``); ``None`` when the estimate sits on the tolerance itself or is unbounded."""
    if not (math.isfinite(est.lo) and math.isfinite(est.hi)) or est.n == 0:
        return None
    gap = abs(math.log(est.ratio) - math.log(max_slowdown))
    half = (math.log(est.hi) - math.log(est.lo)) / 2
    if gap < 1e-3 * max(half, 1e-12):
        return None
    return max(est.n + 1, math.ceil(est.n * (half / gap) ** 2))


@cache
def _rank_sum_counts(m: int, n: int) -> tuple[int, ...]:
    """How many of the ``C(m + n, m)`` orderings of two samples give each Mann-Whitney ``U``
    (pairs with the second sample's value above the first's), ``0..m n``."""
    if m == 0 or n == 0:
        return (1,)
    with_last_of_first = _rank_sum_counts(m - 1, n)  # the largest value is from the first sample: adds 0
    with_last_of_second = _rank_sum_counts(m, n - 1)  # from the second: it beats all m of the first
    counts = [0] * (m * n + 1)
    for u, c in enumerate(with_last_of_first):
        counts[u] += c
    for u, c in enumerate(with_last_of_second):
        counts[u + m] += c
    return tuple(counts)


def rank_sum_cdf(m: int, n: int, u: int) -> float:
    """``P(U <= u)`` for the Mann-Whitney statistic of samples of sizes ``m`` and ``n`` (exact, no ties)."""
    counts = _rank_sum_counts(m, n)
    return sum(counts[: max(0, u + 1)]) / sum(counts)


def estimate_unpaired(
    log_a: np.ndarray | list[float], log_b: np.ndarray | list[float], confidence: float = 0.95
) -> Estimate:
    """Ratio B/A (median of the ``log b_j - log a_i``) and its Mann-Whitney interval."""
    a, b = np.asarray(log_a, dtype=float), np.asarray(log_b, dtype=float)
    m, n = a.size, b.size
    diffs = np.sort((b[None, :] - a[:, None]).ravel())
    counts = _rank_sum_counts(m, n)
    total, below, c = sum(counts), 0, 0
    while below + counts[c] <= (1 - confidence) / 2 * total:
        below += counts[c]
        c += 1
    lo, hi = (diffs[c - 1], diffs[diffs.size - c]) if c > 0 else (-math.inf, math.inf)
    return Estimate(float(math.exp(np.median(diffs))), math.exp(lo), math.exp(hi), min(m, n), confidence)
