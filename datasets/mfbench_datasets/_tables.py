"""Reading rating tables with errors that name the file, the line and the value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from mfbench.data import Ratings
from mfbench.errors import DataError

__all__ = ["read_ratings", "open_text"]


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


def _check_frame(df: pd.DataFrame, path: Path, user: str, item: str, rating: str, timestamp: str | None,
                 header: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The columns of a text frame as arrays; the first bad cell raises ``DataError`` with its line
    (``df``'s index counts data rows from 0 across chunks)."""
    def line(row: int) -> int:
        return int(df.index[row]) + 1 + int(header)

    values = _numeric(df, rating, path, header, "rating").astype(np.float32)
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{path}:{line(row)}: rating {df[rating].iloc[row]!r} is not finite")
    ts = None if timestamp is None else _numeric(df, timestamp, path, header, "timestamp").astype(np.int64)
    users = df[user].str.strip().to_numpy()
    items = df[item].str.strip().to_numpy()
    for col, arr in ((user, users), (item, items)):
        empty = arr == ""
        if empty.any():
            row = int(np.argmax(empty))
            raise DataError(f"{path}:{line(row)}: empty {col!r}; fix or remove that line")
    return users, items, values, ts


def _maybe_int(arr: np.ndarray) -> np.ndarray:
    """Ids that are all integers store as int64 (they sort numerically); others as text."""
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    as_num = pd.to_numeric(pd.Series(arr), errors="coerce")
    if not as_num.isna().any() and (as_num % 1 == 0).all():
        return as_num.to_numpy(dtype=np.int64)
    return arr.astype(str)


COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zip": "zip"}


def open_text(path: Path, encoding: str = "utf-8"):
    """``path`` opened as text, decompressing ``.gz``, ``.bz2``, ``.xz`` and ``.zst`` files."""
    kind = COMPRESSIONS.get(Path(path).suffix.lower())
    if kind == "gzip":
        import gzip

        return gzip.open(path, "rt", encoding=encoding, errors="replace")
    if kind == "bz2":
        import bz2

        return bz2.open(path, "rt", encoding=encoding, errors="replace")
    if kind == "xz":
        import lzma

        return lzma.open(path, "rt", encoding=encoding, errors="replace")
    if kind == "zstd":
        import io

        try:
            import zstandard
        except ImportError:
            raise DataError(f'{path}: reading .zst files needs zstandard: pip install "mfbench[zstd]"') from None
        return io.TextIOWrapper(zstandard.open(path, "rb"), encoding=encoding, errors="replace")
    return open(path, encoding=encoding, errors="replace")


def _read_kwargs(sep: str, header: bool, names: Sequence[str] | None, cols: list[str], encoding: str) -> dict:
    """``pandas.read_csv`` arguments; ``::`` files are read by the C parser as ``:``-separated
    with the empty fields between the colons skipped (ten times faster than a regex separator)."""
    if sep == "::" and not header and names:
        wide = [x for n in names for x in (n, f"_gap_{n}")][:-1]
        return dict(sep=":", header=None, names=wide, usecols=cols, encoding=encoding, engine="c")
    # no usecols here: with it, pandas accepts rows with extra fields that should be reported
    return dict(sep=sep, header=0 if header else None, names=None if header else names,
                encoding=encoding, engine="c" if len(sep) == 1 else "python")


def read_ratings(path: Path, *, sep: str, header: bool, names: Sequence[str] | None = None, user: str, item: str,
                 rating: str, timestamp: str | None = None, rating_scale: tuple[float, float] | None = None,
                 encoding: str = "utf-8", chunksize: int = 2_000_000) -> tuple[Ratings, int]:
    """Read a ratings file (plain or compressed) in chunks of typed columns.

    Memory stays near the result's: each chunk's columns are kept as typed arrays (no text),
    then joined. On any problem the file is read again as text, chunk by chunk, to name the
    first bad line. Returns the ratings and the number of duplicate (user, item) pairs resolved
    (see ``_from_columns``).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    cols = [user, item, rating] + ([timestamp] if timestamp else [])
    if header:
        with open_text(path, encoding) as fh:
            first = fh.readline().rstrip("\r\n")
        found = [c.strip() for c in (first.split(sep) if sep != r"\s+" else first.split())]
        missing = [c for c in cols if c not in found]
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(map(repr, missing))}; the header has "
                            f"{', '.join(map(repr, found))}; name the columns with --data-param")
    kw = _read_kwargs(sep, header, names, cols, encoding)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    try:
        reader = pd.read_csv(path, chunksize=chunksize, compression="infer",
                             dtype={rating: np.float64, **({timestamp: np.int64} if timestamp else {})}, **kw)
        for chunk in reader:
            values = chunk[rating].to_numpy(np.float64)
            if not np.isfinite(values).all():
                raise ValueError("non-finite rating")
            if chunk[user].isna().any() or chunk[item].isna().any():
                raise ValueError("missing id")
            parts[user].append(chunk[user].to_numpy())
            parts[item].append(chunk[item].to_numpy())
            parts[rating].append(values.astype(np.float32))
            if timestamp:
                parts[timestamp].append(chunk[timestamp].to_numpy(np.int64))
        if not sum(len(x) for x in parts[rating]):
            raise ValueError("empty")
    except ImportError as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); install the library it names") from None
    except (ValueError, TypeError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        parts.clear()
        _locate_problem(path, sep, header, names, cols, encoding, chunksize, exc)
    joined = {c: _concat(parts.pop(c)) for c in cols}
    return _from_columns(joined[user], joined[item], joined[rating], joined[timestamp] if timestamp else None,
                         rating_scale)


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    if any(c.dtype == object for c in chunks):  # ids that are text in some chunk: text everywhere
        chunks = [c.astype(str).astype(object) for c in chunks]
    out = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    chunks.clear()
    return out


def _locate_problem(path: Path, sep: str, header: bool, names: Sequence[str] | None, cols: list[str],
                    encoding: str, chunksize: int, exc: Exception) -> None:
    """Read ``path`` as text, chunk by chunk, and raise ``DataError`` naming the first bad line."""
    user, item, rating, *rest = cols
    timestamp = rest[0] if rest else None
    try:
        reader = pd.read_csv(path, sep=sep, header=0 if header else None, names=None if header else names,
                             dtype=str, engine="c" if len(sep) == 1 else "python", compression="infer",
                             encoding=encoding, keep_default_na=False, skip_blank_lines=True, chunksize=chunksize)
        rows = 0
        for df in reader:
            rows += len(df)
            _check_frame(df, path, user, item, rating, timestamp, header)
    except pd.errors.ParserError as err:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if m:
            raise DataError(f"{path}:{m.group(2)}: expected {m.group(1)} fields, found {m.group(3)} "
                            f"(separator {sep!r}); fix or remove that line") from None
        raise DataError(f"{path}: cannot parse: {err}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not {encoding} text ({err.reason} at byte {err.start})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    if rows == 0:
        raise DataError(f"{path}: no ratings (only a header or blank lines)")
    raise DataError(f"{path}: cannot read it as ratings ({exc})")


def _code(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sorted distinct ids, int32 code of each entry)``; small non-negative integer ids are
    coded by a lookup table in linear time, others by sorting."""
    ids = _maybe_int(ids)
    if ids.dtype.kind in "iu" and len(ids):
        lo, hi = int(ids.min()), int(ids.max())
        if lo >= 0 and hi < max(4 * len(ids), 1 << 24):
            present = np.zeros(hi + 1, bool)
            present[ids] = True
            table = np.cumsum(present, dtype=np.int32) - 1
            return np.flatnonzero(present).astype(np.int64), table[ids]
    uniq, inverse = np.unique(ids, return_inverse=True)
    return uniq, inverse.astype(np.int32).ravel()


def _from_columns(users: np.ndarray, items: np.ndarray, values: np.ndarray, ts: np.ndarray | None,
                  rating_scale: tuple[float, float] | None) -> tuple[Ratings, int]:
    """Code the ids and resolve duplicate (user, item) pairs: keep the last by timestamp (by file
    order without timestamps, or between equal ones), and count the ratings dropped."""
    user_ids, u = _code(users)
    del users
    item_ids, i = _code(items)
    del items
    n = len(values)
    keys = u.astype(np.int64) * len(item_ids) + i
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    n_dup = int(np.count_nonzero(sk[1:] == sk[:-1]))
    del sk
    if n_dup:
        if ts is not None:  # by key, then time, then file order
            order = np.lexsort((np.arange(n), ts, keys))
        last = np.ones(n, bool)
        last[:-1] = keys[order][1:] != keys[order][:-1]
        keep = np.sort(order[last])
        u, i, values = u[keep], i[keep], values[keep]
        ts = None if ts is None else ts[keep]
    del keys, order
    values = np.asarray(values, np.float32)
    if rating_scale is None:
        rating_scale = (float(values.min()), float(values.max()))
    if user_ids.dtype == object:
        user_ids = user_ids.astype(str)
    if item_ids.dtype == object:
        item_ids = item_ids.astype(str)
    return Ratings(u, i, values, user_ids, item_ids, None if ts is None else np.asarray(ts, np.int64), rating_scale), n_dup
