"""Reading rating tables with errors that name the file, the line and the value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mfbench.data import Ratings
from mfbench.errors import DataError

__all__ = ["read_ratings", "read_table", "ratings_from_frame"]


def read_table(path: Path, sep: str, names: Sequence[str] | None, header: bool, encoding: str = "utf-8") -> pd.DataFrame:
    """Read a delimited file as text columns; malformed rows raise ``DataError`` with the line."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    try:
        df = pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else names,
                         dtype=str, engine="c" if len(sep) == 1 else "python",
                         encoding=encoding, keep_default_na=False, skip_blank_lines=True)
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise DataError(f"{path}:{m.group(2)}: expected {m.group(1)} fields, found {m.group(3)} "
                            f"(separator {sep!r}); fix or remove that line") from None
        raise DataError(f"{path}: cannot parse: {exc}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not {encoding} text ({exc.reason} at byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    if len(df) == 0:
        raise DataError(f"{path}: no ratings (only a header or blank lines)")
    return df


def _numeric(df: pd.DataFrame, col: str, path: Path, header: bool, kind: str) -> np.ndarray:
    """Column ``col`` as numbers; the first bad cell is reported with its line number."""
    values = pd.to_numeric(df[col].str.strip(), errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        line = int(df.index[row]) + 1 + (1 if header else 0)
        raise DataError(f"{path}:{line}: {kind} {df[col].iloc[row]!r} in column {col!r} is not a number; "
                        "fix or remove that line")
    return values.to_numpy()


def ratings_from_frame(df: pd.DataFrame, path: Path, user: str, item: str, rating: str, timestamp: str | None,
                       header: bool, rating_scale: tuple[float, float] | None = None) -> tuple[Ratings, int]:
    """Build ``Ratings`` from text columns; returns it and the number of duplicate pairs resolved.

    Duplicate (user, item) pairs keep the last rating by timestamp (by file order without one).
    """
    values = _numeric(df, rating, path, header, "rating").astype(np.float32)
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{path}:{row + 1 + int(header)}: rating {df[rating].iloc[row]!r} is not finite")
    ts = None if timestamp is None else _numeric(df, timestamp, path, header, "timestamp").astype(np.int64)
    users = df[user].str.strip().to_numpy()
    items = df[item].str.strip().to_numpy()
    for col, arr in ((user, users), (item, items)):
        empty = arr == ""
        if empty.any():
            row = int(np.argmax(empty))
            raise DataError(f"{path}:{row + 1 + int(header)}: empty {col!r}; fix or remove that line")
    return _from_columns(users, items, values, ts, rating_scale)


def _maybe_int(arr: np.ndarray) -> np.ndarray:
    """Ids that are all integers store as int64 (they sort numerically); others as text."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    as_num = pd.to_numeric(pd.Series(arr), errors="coerce")
    if not as_num.isna().any() and (as_num % 1 == 0).all():
        return as_num.to_numpy(dtype=np.int64)
    return arr.astype(str)


def read_ratings(path: Path, *, sep: str, header: bool, names: Sequence[str] | None = None, user: str, item: str,
                 rating: str, timestamp: str | None = None, rating_scale: tuple[float, float] | None = None,
                 encoding: str = "utf-8") -> tuple[Ratings, int]:
    """Read a ratings file: a fast typed parse, and on any failure a text parse that finds the bad line.

    Returns the ratings and the number of duplicate (user, item) pairs resolved (see
    ``ratings_from_frame``).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if header:
        first = path.open(encoding=encoding, errors="replace").readline().rstrip("\r\n")
        found = [c.strip() for c in (first.split(sep) if sep != r"\s+" else first.split())]
        missing = [c for c in (user, item, rating, timestamp) if c is not None and c not in found]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(map(repr, missing))}; the header has "
                            f"{', '.join(map(repr, found))}; name the columns with --data-param")
    try:
        df = pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else names,
                         encoding=encoding, engine="c" if len(sep) == 1 else "python",
                         dtype={rating: np.float64, **({timestamp: np.int64} if timestamp else {})})
        if len(df) == 0:
            raise ValueError("empty")
        values = df[rating].to_numpy(np.float64)
        if not np.isfinite(values).all():
            raise ValueError("non-finite rating")
        if df[user].isna().any() or df[item].isna().any():
            raise ValueError("missing id")
    except (ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError):
        text = read_table(path, sep, names, header, encoding=encoding)
        return ratings_from_frame(text, path, user, item, rating, timestamp, header, rating_scale)
    return _from_columns(df[user].to_numpy(), df[item].to_numpy(), values.astype(np.float32),
                         None if timestamp is None else df[timestamp].to_numpy(np.int64), rating_scale)


def _from_columns(users: np.ndarray, items: np.ndarray, values: np.ndarray, ts: np.ndarray | None,
                  rating_scale: tuple[float, float] | None) -> tuple[Ratings, int]:
    """Resolve duplicate pairs (keep the last by timestamp, else by file order) and code the ids."""
    users, items = _maybe_int(users), _maybe_int(items)
    frame = pd.DataFrame({"u": users, "i": items, "t": ts if ts is not None else 0, "order": np.arange(len(values))})
    dup = frame.sort_values(["t", "order"], kind="stable").duplicated(["u", "i"], keep="last")
    n_dup = int(dup.sum())
    keep = np.sort(frame["order"].to_numpy()[~dup.sort_index().to_numpy()]) if n_dup else slice(None)
    if rating_scale is None:
        rating_scale = (float(values.min()), float(values.max()))
    r = Ratings.from_ids(users[keep], items[keep], values[keep], None if ts is None else ts[keep], rating_scale)
    return r, n_dup
