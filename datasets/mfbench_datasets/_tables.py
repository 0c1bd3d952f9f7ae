"""Reading rating tables with errors that name the file, the line and the value."""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mfbench.data import Ratings, code_ids
from mfbench.errors import DataError

if TYPE_CHECKING:  # annotations only: importing it costs every mfbench command its start-up
    import pandas as pd

__all__ = ["read_ratings", "open_text", "split_fields", "WHITESPACE"]

#: the separator of files whose fields are separated by runs of white space
WHITESPACE = r"\s+"


def split_fields(line: str, sep: str) -> list[str]:
    """``line``'s fields, stripped, as the parser will split them."""
    return line.split() if sep == WHITESPACE else [f.strip() for f in line.split(sep)]


TEXT_ENCODING = "utf-8-sig"
"""UTF-8, with the byte-order mark that spreadsheet programs write taken off the header."""


def line_of(path: Path, row: int, header: bool, encoding: str = TEXT_ENCODING) -> int:
    """The file line (from 1) of data row ``row`` (from 0): blank lines are skipped, as the
    parser skips them. Read again only on an error path."""
    wanted = row + int(header)
    seen = -1
    with open_text(path, encoding) as fh:
        for number, text in enumerate(fh, 1):
            if text.strip():
                seen += 1
                if seen == wanted:
                    return number
    return row + 1 + int(header)


def _numeric(df: pd.DataFrame, col: str, path: Path, header: bool, kind: str) -> np.ndarray:
    """Column ``col`` as numbers; the first bad cell is reported with its line number."""
    import pandas as pd

    values = pd.to_numeric(df[col].str.strip(), errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        text = df[col].iloc[row]
        hint = "fix or remove that line"
        if isinstance(text, str) and "," in text and is_number(text.replace(",", ".")):
            hint = "the file writes decimal commas: convert it to decimal points"
        raise DataError(
            f"{path}:{line_of(path, int(df.index[row]), header)}: {kind} {text!r} in column {col!r} "
            f"is not a number; {hint}"
        )
    return values.to_numpy()


def is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _check_frame(
    df: pd.DataFrame, path: Path, user: str, item: str, rating: str, timestamp: str | None, header: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """The columns of a text frame as arrays; the first bad cell raises ``DataError`` with its line
    (``df``'s index counts data rows from 0 across chunks)."""

    def line(row: int) -> int:
        return line_of(path, int(df.index[row]), header)

    spans = _spanning_field(df)
    if spans is not None:
        raise DataError(
            f"{path}:{line(spans)}: a quoted field starts on this line and runs over the lines after it "
            "(a quote left open?); close or remove the quote"
        )
    values = _numeric(df, rating, path, header, "rating").astype(np.float32)
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{path}:{line(row)}: rating {df[rating].iloc[row]!r} is not finite")
    ts = None
    if timestamp is not None:
        ts = _numeric(df, timestamp, path, header, "timestamp")
        whole = (ts % 1 == 0) & (np.abs(ts) < 2.0**63)
        if not whole.all():
            row = int(np.argmax(~whole))
            raise DataError(
                f"{path}:{line(row)}: timestamp {df[timestamp].iloc[row]!r} is not a whole number of "
                "seconds; fix or remove that line"
            )
        ts = ts.astype(np.int64)
    users = df[user].str.strip().to_numpy()
    items = df[item].str.strip().to_numpy()
    for col, arr in ((user, users), (item, items)):
        empty = arr == ""
        if empty.any():
            row = int(np.argmax(empty))
            raise DataError(f"{path}:{line(row)}: empty {col!r}; fix or remove that line")
    return users, items, values, ts


INT64_MAX = int(np.iinfo(np.int64).max)


def _ids_as_int64_or_text(arr: np.ndarray) -> np.ndarray:
    """Ids that are all plain integers (``[+-]digits``) in int64's range store as int64 (they sort
    numerically); any other ids, as text, never wrapped or rounded."""
    import pandas as pd

    kind = arr.dtype.kind
    if kind == "i":
        return arr.astype(np.int64, copy=False)
    if kind == "u":
        return arr.astype(np.int64) if not len(arr) or int(arr.max()) <= INT64_MAX else arr.astype(str)
    if kind in "fcb":  # numbers with a fraction part, or flags: labels, as they print
        return arr.astype(str)
    text = pd.Series(arr, dtype=object).map(str).str.strip()
    if not len(text) or not text.str.fullmatch(r"[+-]?[0-9]+").all():
        return arr.astype(str)
    digits = text.str.lstrip("+-").str.lstrip("0").str.len()
    if int(digits.max()) <= 18:  # below 10^18: fits int64
        return text.astype(np.int64).to_numpy()
    if all(-INT64_MAX - 1 <= int(t) <= INT64_MAX for t in text[digits > 18]):
        return np.array([int(t) for t in text], np.int64)
    return arr.astype(str)


COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd", ".zip": "zip"}


def open_text(path: Path, encoding: str = TEXT_ENCODING):
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


def _unique(names: list[str]) -> list[str]:
    """``names`` with repeats suffixed ``.1``, ``.2``, ... (as pandas does)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        n = seen.get(name, 0)
        seen[name] = n + 1
        out.append(name if n == 0 else f"{name}.{n}")
    return out


def _read_kwargs(sep: str, header: bool, names: Sequence[str] | None, cols: list[str], encoding: str) -> dict:
    """``pandas.read_csv`` arguments; ``::`` files are read by the C parser as ``:``-separated
    with the empty fields between the colons skipped (ten times faster than a regex separator)."""
    # no usecols: with it, pandas accepts rows with extra fields that should be reported
    if sep == "::" and not header and names:
        wide = [x for n in names for x in (n, f"_gap_{n}")][:-1]
        return dict(sep=":", header=None, names=wide, encoding=encoding, engine="c")
    # a header's names as the loader read them (stripped), not as the parser would keep them
    # index_col=False: rows wider than the header are an error, never a silent index column
    return dict(
        sep=sep,
        header=0 if header else None,
        names=names,
        encoding=encoding,
        index_col=False,
        engine="c" if len(sep) == 1 else "python",
    )


def read_ratings(
    path: Path,
    *,
    sep: str,
    header: bool,
    names: Sequence[str] | None = None,
    user: str,
    item: str,
    rating: str,
    timestamp: str | None = None,
    rating_scale: tuple[float, float] | None = None,
    encoding: str = TEXT_ENCODING,
    chunksize: int = 2_000_000,
) -> tuple[Ratings, int]:
    """Read a ratings file (plain or compressed) in chunks of typed columns.

    Memory stays near the result's: each chunk's columns are kept as typed arrays (no text),
    then joined. On any problem the file is read again as text, chunk by chunk, to name the
    first bad line. Ids the parser would turn into floats or overflowing integers are read
    again as text (see ``_ids_as_int64_or_text``). A declared ``rating_scale`` is enforced: a rating outside
    it names its line. Returns the ratings and the number of duplicate (user, item) pairs
    resolved (see ``_from_columns``).
    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    cols = [user, item, rating] + ([timestamp] if timestamp else [])
    if header:
        with open_text(path, encoding) as fh:
            first = fh.readline().rstrip("\r\n")
        found = split_fields(first, sep)
        missing = [c for c in cols if c not in found]
        if missing:
            raise DataError(
                f"{path}:1: missing column(s) {', '.join(map(repr, missing))}; the header has "
                f"{', '.join(map(repr, found))}; name the columns with --data-param"
            )
        twice = [c for c in cols if found.count(c) > 1]
        if twice:
            raise DataError(
                f"{path}:1: the header names {twice[0]!r} twice; rename one of them or name the columns "
                "with --data-param"
            )
        names = _unique(found)
    kw = _read_kwargs(sep, header, names, cols, encoding)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # "loss of data": a row wider than the header
            warnings.simplefilter("ignore", RuntimeWarning)  # pandas' casts on the way to a ValueError
            parts = _read_columns(path, kw, user, item, rating, timestamp, chunksize, ids_as_text=False)
            if parts is None:
                parts = _read_columns(path, kw, user, item, rating, timestamp, chunksize, ids_as_text=True)
    except ImportError as exc:
        raise DataError(f"{path}: cannot decompress ({exc}); install the library it names") from None
    except (
        ValueError,
        TypeError,
        OverflowError,
        pd.errors.ParserError,
        pd.errors.ParserWarning,
        pd.errors.EmptyDataError,
        UnicodeDecodeError,
    ) as exc:
        _locate_problem(path, sep, header, names, cols, encoding, chunksize, exc)
    joined = {c: _concat(parts.pop(c)) for c in cols}
    if rating_scale is not None:
        _check_scale(path, joined[rating], rating_scale, header, encoding)
    return _from_columns(
        joined[user], joined[item], joined[rating], joined[timestamp] if timestamp else None, rating_scale
    )


def _check_scale(
    path: Path,
    values: np.ndarray,
    scale: tuple[float, float],
    header: bool = False,
    encoding: str = TEXT_ENCODING,
    row_label: str | None = None,
) -> None:
    """``DataError`` naming the first rating outside the declared ``scale``: its file line, or
    ``row N`` (from 0) where the file has no lines (Parquet)."""
    outside = (values < scale[0]) | (values > scale[1])
    if outside.any():
        row = int(np.argmax(outside))
        where = f" {row_label} {row}" if row_label else str(line_of(path, row, header, encoding))
        raise DataError(
            f"{path}:{where}: rating {values[row]:g} is outside the declared "
            f"scale {scale[0]:g} .. {scale[1]:g} ({int(outside.sum()):,} in all); fix the file or "
            "the declared file.scale"
        )


def _read_columns(
    path: Path, kw: dict, user: str, item: str, rating: str, timestamp: str | None, chunksize: int, ids_as_text: bool
) -> dict[str, list[np.ndarray]] | None:
    """The columns as typed arrays, chunk by chunk; ``None`` when an id column came out as
    numbers that are not plain int64 (floats, overflowing integers): read again as text then."""
    import pandas as pd

    cols = [user, item, rating] + ([timestamp] if timestamp else [])
    parts: dict[str, list[np.ndarray]] = {c: [] for c in cols}
    dtype = {rating: np.float64, **({timestamp: np.int64} if timestamp else {})}
    if ids_as_text:
        dtype.update({user: str, item: str})
    with pd.read_csv(path, chunksize=chunksize, compression="infer", dtype=dtype, **kw) as reader:
        for chunk in reader:
            values = chunk[rating].to_numpy(np.float64)
            if not np.isfinite(values).all():
                raise ValueError("non-finite rating")
            if chunk[user].isna().any() or chunk[item].isna().any():
                raise ValueError("missing id")
            if _spanning_field(chunk) is not None:
                raise ValueError("a quoted field spans lines")
            for col in (user, item):
                if not ids_as_text and not _plain_ids(chunk[col]):
                    return None
                parts[col].append(chunk[col].to_numpy())
            parts[rating].append(values.astype(np.float32))
            if timestamp:
                parts[timestamp].append(chunk[timestamp].to_numpy(np.int64))
    if not sum(len(x) for x in parts[rating]):
        raise ValueError("empty")
    return parts


def _plain_ids(col: pd.Series) -> bool:
    """Ids the parser kept as they were written: integers in int64, or text (not floats, not
    integers too large for int64, which it returns as Python ints)."""
    import pandas as pd

    if pd.api.types.is_integer_dtype(col) or pd.api.types.is_string_dtype(col) and not col.dtype == object:
        return col.dtype.kind != "u" or not len(col) or int(col.max()) <= INT64_MAX
    return pd.api.types.infer_dtype(col, skipna=True) == "string"


def _spanning_field(df: pd.DataFrame) -> int | None:
    """The row of the first text field holding a line break (a quote left open swallows the lines
    after it), or ``None``."""
    import pandas as pd

    for col in df.columns:
        if not pd.api.types.is_numeric_dtype(df[col]):
            breaks = df[col].astype(str).str.contains("[\r\n]", regex=True).to_numpy()
            if breaks.any():
                return int(np.argmax(breaks))
    return None


def _concat(chunks: list[np.ndarray]) -> np.ndarray:
    if any(c.dtype == object for c in chunks):  # ids that are text in some chunk: text everywhere
        chunks = [c.astype(str).astype(object) for c in chunks]
    out = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    chunks.clear()
    return out


def _raise_wider_line(path: Path, sep: str, header: bool, encoding: str) -> None:
    """``DataError`` at the first line with more fields than the first line (the header)."""
    width, number = None, 0
    with open_text(path, encoding) as fh:
        for number, text in enumerate(fh, 1):  # noqa: B007 - the raise below names the line it broke at
            if not text.strip():
                continue
            n = len(split_fields(text.rstrip("\r\n"), sep))
            if width is None:
                width = n
            elif n > width:
                break
    raise DataError(
        f"{path}:{number}: more fields than the {'header names' if header else 'first line has'} "
        f"({width}, separator {sep!r}); fix or remove that line"
    )


def _locate_problem(
    path: Path,
    sep: str,
    header: bool,
    names: Sequence[str] | None,
    cols: list[str],
    encoding: str,
    chunksize: int,
    exc: Exception,
) -> None:
    """Read ``path`` as text, chunk by chunk, and raise ``DataError`` naming the first bad line."""
    import pandas as pd

    user, item, rating, *rest = cols
    timestamp = rest[0] if rest else None
    try:
        rows = 0
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            with pd.read_csv(
                path,
                sep=sep,
                header=0 if header else None,
                names=names,
                dtype=str,
                index_col=False,
                engine="c" if len(sep) == 1 else "python",
                compression="infer",
                encoding=encoding,
                keep_default_na=False,
                skip_blank_lines=True,
                chunksize=chunksize,
            ) as reader:
                for df in reader:
                    rows += len(df)
                    _check_frame(df, path, user, item, rating, timestamp, header)
    except pd.errors.ParserWarning:
        _raise_wider_line(path, sep, header, encoding)
    except pd.errors.ParserError as err:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(err))
        if m:
            raise DataError(
                f"{path}:{m.group(2)}: expected {m.group(1)} fields, found {m.group(3)} "
                f"(separator {sep!r}); fix or remove that line"
            ) from None
        m = re.search(r"EOF inside string starting at row (\d+)", str(err))
        if m:
            raise DataError(
                f"{path}:{int(m.group(1)) + 1}: a quoted field starts on this line and runs to the end "
                "of the file (a quote left open?); close or remove the quote"
            ) from None
        raise DataError(f"{path}: cannot parse: {err}") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not {encoding} text ({err.reason} at byte {err.start})") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    if rows == 0:
        raise DataError(f"{path}: no ratings (only a header or blank lines)")
    raise DataError(f"{path}: cannot read it as ratings ({exc})")


def _from_columns(
    users: np.ndarray,
    items: np.ndarray,
    values: np.ndarray,
    ts: np.ndarray | None,
    rating_scale: tuple[float, float] | None,
) -> tuple[Ratings, int]:
    """Code the ids and resolve duplicate (user, item) pairs: keep the last by timestamp (by file
    order without timestamps, or between equal ones), and count the ratings dropped."""
    user_ids, u = code_ids(_ids_as_int64_or_text(users))
    del users
    item_ids, i = code_ids(_ids_as_int64_or_text(items))
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
    return Ratings(
        u, i, values, user_ids, item_ids, None if ts is None else np.asarray(ts, np.int64), rating_scale
    ), n_dup
