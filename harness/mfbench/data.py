"""Ratings, datasets and reproducible splits.

Codes, not ids: users and items are re-coded once, when a dataset loads, to dense ``int32`` codes
``0..n-1``; ``user_ids[code]`` / ``item_ids[code]`` give the original ids back. Every split of a
dataset shares that code space, so a model sized ``n_users x k`` serves train, valid and test.

The unseen rule: a test user (or item) with no rating in *train* is *cold*. Cold pairs are never
dropped; they are counted in ``Split.cold`` and every algorithm predicts them from the training
baseline (``mfbench.algorithm.Baseline``): ``mu + b_i`` for a cold user, ``mu + b_u`` for a cold
item, ``mu`` when both are cold.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np

from .errors import MfbenchError

__all__ = ["code_ids", "Ratings", "Dataset", "Split", "make_splits", "parse_protocol", "Protocol"]


def code_ids(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted distinct ids, int32 code of each entry)``: the one coding of user and item ids.
    Small non-negative integer ids are coded by a lookup table in linear time, others by
    sorting; the distinct ids keep the dtype of ``ids``."""
    if ids.dtype.kind in "iu" and len(ids):
        lo, hi = int(ids.min()), int(ids.max())
        if lo >= 0 and hi < max(4 * len(ids), 1 << 24):
            present = np.zeros(hi + 1, bool)
            present[ids] = True
            table = np.cumsum(present, dtype=np.int32) - 1
            return np.flatnonzero(present).astype(ids.dtype), table[ids]
    uniq, inverse = np.unique(ids, return_inverse=True)
    return uniq, inverse.astype(np.int32).ravel()


@dataclass(frozen=True, eq=False)
class Ratings:
    """Explicit ratings as parallel arrays over a fixed user and item code space.

    Parameters
    ----------
    users, items
        ``int32`` codes in ``[0, n_users)`` and ``[0, n_items)``.
    values
        ``float32`` ratings.
    timestamps
        ``int64`` seconds since the epoch, or ``None``.
    user_ids, item_ids
        Original ids by code; their lengths define ``n_users`` and ``n_items``.
    rating_scale
        ``(lowest, highest)`` rating, used to clip predictions; ``None`` when unknown.
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray | None = None
    rating_scale: tuple[float, float] | None = None
    item_meta: dict[str, np.ndarray] = field(default_factory=dict)
    """Arrays by item code (``title``, ``genres`` multi-hot, ``genre_names``), when the dataset has them."""

    def __post_init__(self) -> None:
        n = len(self.users)
        if len(self.items) != n or len(self.values) != n or (self.timestamps is not None and len(self.timestamps) != n):
            raise ValueError("users, items, values and timestamps must have the same length")
        if self.users.dtype != np.int32 or self.items.dtype != np.int32 or self.values.dtype != np.float32:
            raise TypeError("Ratings needs int32 users/items and float32 values; use Ratings.from_ids")

    @classmethod
    def from_ids(
        cls,
        users: Any,
        items: Any,
        values: Any,
        timestamps: Any = None,
        rating_scale: tuple[float, float] | None = None,
    ) -> Ratings:
        """Code arbitrary user and item ids densely (in sorted id order, ``code_ids``)."""
        user_ids, u = code_ids(np.asarray(users))
        item_ids, i = code_ids(np.asarray(items))
        ts = None if timestamps is None else np.asarray(timestamps, dtype=np.int64)
        return cls(
            u,
            i,
            np.asarray(values, dtype=np.float32),
            user_ids,
            item_ids,
            ts,
            rating_scale,
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    def take(self, index: np.ndarray) -> Ratings:
        """The ratings at ``index`` (integer positions or a boolean mask), same code space."""
        ts = None if self.timestamps is None else self.timestamps[index]
        return replace(self, users=self.users[index], items=self.items[index], values=self.values[index], timestamps=ts)

    def user_counts(self) -> np.ndarray:
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        return np.bincount(self.items, minlength=self.n_items)

    def pair_keys(self) -> np.ndarray:
        """One ``int64`` key per (user, item) pair, for set operations."""
        return self.users.astype(np.int64) * self.n_items + self.items


@dataclass(frozen=True, eq=False)
class Dataset:
    """A loaded dataset: its ratings, the official folds when it has them, and item metadata."""

    name: str
    ratings: Ratings
    folds: tuple[np.ndarray, ...] | None = None
    """Official folds as test-row index arrays into ``ratings`` (train is the complement)."""
    item_meta: dict[str, np.ndarray] = field(default_factory=dict)
    """Arrays by item code (for example ``title``, ``genres``), when the dataset carries them."""
    licence: str = ""
    notes: tuple[str, ...] = ()
    """Things the loader did that users should know (for example duplicates it resolved)."""

    @cached_property
    def digest(self) -> str:
        """SHA-256 of the content that splits are cut from: the code-space sizes, every rating
        (user, item, value, timestamp) in order, and the official folds. Two loads of one
        dataset on two machines have the same digest exactly when they cut the same splits."""
        r = self.ratings
        h = hashlib.sha256(f"mfbench-dataset-1|{r.n_users}|{r.n_items}|{len(r)}".encode())
        for name, array in (
            ("users", r.users),
            ("items", r.items),
            ("values", r.values),
            ("timestamps", r.timestamps),
            *((f"fold{n}", f) for n, f in enumerate(self.folds or ())),
        ):
            if array is not None:
                a = np.ascontiguousarray(array)
                h.update(f"|{name}:{a.dtype.str}:{a.size}|".encode())
                h.update(a.data.cast("B"))
        return h.hexdigest()

    def describe(self) -> dict[str, Any]:
        """Counts, density, rating scale and distribution, degree quantiles, time span, folds."""
        r = self.ratings
        q = (0.0, 0.1, 0.5, 0.9, 0.99, 1.0)

        def quantiles(counts: np.ndarray) -> dict[str, float]:
            counts = counts[counts > 0]
            return dict(zip(("min", "p10", "median", "p90", "p99", "max"), np.quantile(counts, q).tolist())) | {
                "mean": float(counts.mean()),
                "gini": _gini(counts),
            }

        values, counts = np.unique(r.values, return_counts=True)
        if len(values) > 20:  # a continuous scale: a histogram of 10 bins instead
            counts, edges = np.histogram(r.values, bins=10)
            values = (edges[:-1] + edges[1:]) / 2
        out: dict[str, Any] = {
            "name": self.name,
            "ratings": len(r),
            "users": int(np.count_nonzero(r.user_counts())),
            "items": int(np.count_nonzero(r.item_counts())),
            "density": r.density,
            "rating_scale": list(r.rating_scale) if r.rating_scale else None,
            "rating_mean": float(r.values.mean(dtype=np.float64)),
            "rating_std": float(r.values.std(dtype=np.float64)),
            "rating_counts": {f"{v:g}": int(c) for v, c in zip(values, counts)},
            "ratings_per_user": quantiles(r.user_counts()),
            "ratings_per_item": quantiles(r.item_counts()),
            "time_span": None,
            "official_folds": None if not self.folds else [len(f) for f in self.folds],
            "item_metadata": sorted(self.item_meta),
            "licence": self.licence,
            "notes": list(self.notes),
        }
        if r.timestamps is not None and len(r.timestamps):
            import datetime as dt

            lo, hi = (
                dt.datetime.fromtimestamp(int(t), dt.UTC).date().isoformat()
                for t in (r.timestamps.min(), r.timestamps.max())
            )
            out["time_span"] = [lo, hi]
        return out


def _gini(counts: np.ndarray) -> float:
    """Gini coefficient of a degree distribution (0: all equal; near 1: a few hold everything)."""
    x = np.sort(counts.astype(np.float64))
    n = len(x)
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum())) if n and x.sum() else 0.0


@dataclass(frozen=True, eq=False)
class Split:
    """One train/valid/test partition of a dataset, named for the results (``official/u1``)."""

    train: Ratings
    test: Ratings
    valid: Ratings | None = None
    name: str = "holdout"

    @property
    def cold(self) -> dict[str, int]:
        """Counts of test users, items and ratings unseen in train (predicted by the baseline rule)."""
        seen_u = self.train.user_counts() > 0
        seen_i = self.train.item_counts() > 0
        cold_u = ~seen_u[self.test.users]
        cold_i = ~seen_i[self.test.items]
        return {
            "cold_users": int(np.unique(self.test.users[cold_u]).size),
            "cold_items": int(np.unique(self.test.items[cold_i]).size),
            "cold_test_ratings": int(np.count_nonzero(cold_u | cold_i)),
        }

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_users": self.train.n_users,
            "n_items": self.train.n_items,
            "n_train": len(self.train),
            "n_valid": 0 if self.valid is None else len(self.valid),
            "n_test": len(self.test),
            "rating_scale": list(self.train.rating_scale) if self.train.rating_scale else None,
            **self.cold,
        }


@dataclass(frozen=True)
class Protocol:
    """A parsed ``--folds`` value."""

    kind: str  # official | holdout | kfold | last
    fraction: float = 0.2
    k: int = 5
    only: tuple[int, ...] | None = None  # 1-based fold numbers to keep

    def __str__(self) -> str:
        base = {
            "official": "official",
            "holdout": f"holdout:{self.fraction:g}",
            "kfold": f"kfold:{self.k}",
            "last": "last",
        }[self.kind]
        return base + ("" if self.only is None else "@" + ",".join(map(str, self.only)))


_PROTOCOL_HELP = (
    "official (the dataset's own folds), holdout[:FRACTION] (random test fraction, default 0.2), "
    "kfold[:K] (default 5), last (each user's latest rating by timestamp); "
    "add @1,3 to keep only some folds, e.g. official@1"
)


def parse_protocol(text: str) -> Protocol:
    """Parse ``official``, ``holdout:0.1``, ``kfold:5``, ``last``, optionally ``@1,2``."""
    m = re.fullmatch(r"\s*(official|holdout|kfold|last)(?::([0-9.]+))?(?:@([0-9, ]+))?\s*", text)
    if not m:
        raise MfbenchError(f"--folds {text!r} is not a split protocol; use {_PROTOCOL_HELP}")
    kind, arg, only = m.groups()
    folds = tuple(int(x) for x in only.replace(" ", "").split(",") if x) if only else None
    if kind == "holdout":
        fraction = float(arg) if arg else 0.2
        if not 0 < fraction < 1:
            raise MfbenchError(f"--folds {text!r}: the holdout fraction must be between 0 and 1, got {fraction}")
        return Protocol("holdout", fraction=fraction, only=folds)
    if kind == "kfold":
        k = int(float(arg)) if arg else 5
        if k < 2:
            raise MfbenchError(f"--folds {text!r}: kfold needs at least 2 folds, got {k}")
        return Protocol("kfold", k=k, only=folds)
    if arg:
        raise MfbenchError(f"--folds {text!r}: {kind} takes no ':' argument; use {_PROTOCOL_HELP}")
    return Protocol(kind, only=folds)


def make_splits(
    dataset: Dataset, protocol: Protocol, split_seed: int = 42, valid_fraction: float = 0.0
) -> Iterator[Split]:
    """Yield the splits of ``dataset`` under ``protocol``, reproducibly for ``split_seed``.

    ``valid_fraction > 0`` carves a random validation set out of each train part (for learning
    curves and early stopping); the test part is never touched.
    """
    r = dataset.ratings
    if dataset.item_meta and not r.item_meta:
        r = replace(r, item_meta=dataset.item_meta)  # algorithms see item features through the ratings
    rng = np.random.default_rng(split_seed)
    parts: list[tuple[str, np.ndarray]] = []  # (name, test mask)
    if protocol.kind == "official":
        if not dataset.folds:
            raise MfbenchError(f"dataset {dataset.name!r} has no official folds; use --folds holdout, kfold or last")
        for n, test_idx in enumerate(dataset.folds, 1):
            mask = np.zeros(len(r), bool)
            mask[test_idx] = True
            parts.append((f"official/u{n}", mask))
    elif protocol.kind == "holdout":
        mask = rng.random(len(r), dtype=np.float32) < protocol.fraction
        parts.append((f"holdout:{protocol.fraction:g}", mask))
    elif protocol.kind == "kfold":
        fold_of = rng.permutation(len(r)) % protocol.k
        parts.extend((f"kfold/{n + 1}of{protocol.k}", fold_of == n) for n in range(protocol.k))
    elif protocol.kind == "last":
        parts.append(("last", _last_per_user(dataset)))
    if protocol.only is not None:
        bad = [n for n in protocol.only if not 1 <= n <= len(parts)]
        if bad:
            raise MfbenchError(
                f"--folds {protocol}: fold {bad[0]} does not exist; {dataset.name} has folds 1..{len(parts)}"
            )
        parts = [parts[n - 1] for n in protocol.only]
    for name, test_mask in parts:
        if not test_mask.any() or test_mask.all():
            raise MfbenchError(f"split {name} of {dataset.name} leaves an empty train or test part ({len(r)} ratings)")
        train_idx = np.flatnonzero(~test_mask)
        valid = None
        if valid_fraction > 0:
            vmask = np.random.default_rng([split_seed, 1]).random(train_idx.size) < valid_fraction
            valid = r.take(train_idx[vmask])
            train_idx = train_idx[~vmask]
        yield Split(train=r.take(train_idx), test=r.take(np.flatnonzero(test_mask)), valid=valid, name=name)


def _last_per_user(dataset: Dataset) -> np.ndarray:
    r = dataset.ratings
    if r.timestamps is None:
        raise MfbenchError(f"--folds last needs timestamps and dataset {dataset.name!r} has none; use holdout or kfold")
    order = np.lexsort((r.timestamps, r.users))  # by user, then time
    users_sorted = r.users[order]
    last = np.ones(len(order), bool)
    last[:-1] = users_sorted[1:] != users_sorted[:-1]
    # a user's only rating stays in train: a leave-last-out test needs some history
    counts = np.bincount(r.users, minlength=r.n_users)
    last &= counts[users_sorted] > 1
    mask = np.zeros(len(r), bool)
    mask[order[last]] = True
    return mask
