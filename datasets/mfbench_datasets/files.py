"""Your own ratings file: ``--dataset file:PATH`` for CSV, TSV, ``::``-separated or Parquet,
plain or compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``), read in chunks and cached in binary
form by content hash.

Columns are found by name when the file has a header (``user``/``userId``/``user_id``,
``item``/``movieId``/``item_id``, ``rating``/``score``, ``timestamp``/``time``, case-insensitive),
by position (user, item, rating[, timestamp]) when it has none, and can always be named:
``--data-param file.user=customer --data-param file.rating=stars``. Duplicate (user, item) pairs
keep the latest rating and are reported.

The separator is the one that splits the first lines into the same number (three or more) of
fields, trying the extension's own first (``,`` for ``.csv``, so a ``;``-separated ``.csv`` from a
spreadsheet still reads); ``file.sep`` names it. A UTF-8 byte-order mark is dropped. Ids that are
plain integers within int64 are numbers, any others text. ``file.scale=LOW,HIGH`` declares the
rating scale: a rating outside it is an error naming its line; without it the scale is the
lowest and highest rating found, and a note says so.
"""

from __future__ import annotations

import re
from pathlib import Path

from mfbench.data import Dataset
from mfbench.errors import DataError, MfbenchError

from ._cache import cached_ratings, load_notes
from ._tables import (
    COMPRESSIONS,
    WHITESPACE,
    _check_scale,
    _from_columns,
    is_number,
    open_text,
    read_ratings,
    split_fields,
)

__all__ = ["load_file"]

CANDIDATES = {
    "user": ("user", "userid", "user_id", "users", "uid", "customer", "customer_id"),
    "item": ("item", "itemid", "item_id", "items", "iid", "movieid", "movie_id", "movie", "product_id"),
    "rating": ("rating", "ratings", "score", "stars", "value"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime"),
}
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".dat": "::"}


SNIFF_LINES = 50


def _detect_sep(lines: list[str], preferred: str | None) -> str | None:
    """``preferred`` (the extension's) if it splits the first line into three or more fields;
    else the first of ``::``, tab, ``,``, ``;``, ``|``, white space that does and splits at least
    half the sample lines into as many (a bad line further down is then reported by its number)."""
    for sep in dict.fromkeys([preferred, "::", "\t", ",", ";", "|", WHITESPACE]):
        if sep is None:
            continue
        counts = [len(split_fields(line, sep)) for line in lines]
        if counts[0] >= 3 and (sep == preferred or 2 * counts.count(counts[0]) >= len(counts)):
            return sep
    return None


def _sample(path: Path) -> list[str]:
    """The first non-blank lines of a text file; ``DataError`` for content that is not text."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic == b"PAR1":
        raise DataError(f"{path}: this is a Parquet file; name it with a .parquet extension")
    if magic[:2] == b"\x1f\x8b" and path.suffix.lower() not in COMPRESSIONS:
        raise DataError(f"{path}: this is a gzip-compressed file; name it with a .gz extension (ratings.csv.gz)")
    if magic[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise DataError(f"{path}: this is UTF-16 text; save it as UTF-8 (spreadsheets: 'CSV UTF-8')")
    with open_text(path) as fh:
        head = fh.read(1 << 16)
    if not head.strip():
        raise DataError(f"{path}: the file is empty or holds only blank lines")
    if any(ord(c) < 32 and c not in "\t\r\n" for c in head[:4096]):
        raise DataError(
            f"{path}: not a text ratings file (binary content in its first bytes); give a CSV, TSV, "
            "'::'-separated or Parquet file"
        )
    if "\ufffd" in head:
        line = head[: head.index("\ufffd")].count("\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (a byte that UTF-8 does not allow); save the file as UTF-8")
    lines = [line for line in re.split(r"\r\n|\r|\n", head) if line.strip()]
    if len(head) == 1 << 16 and len(lines) > 1:
        lines.pop()  # the last line may be cut
    return lines[:SNIFF_LINES]


def _pick(found: list[str], role: str, given: str | None, path: Path) -> str | None:
    if given is not None:
        if given not in found:
            raise DataError(f"{path}: no column {given!r} (given as file.{role}); columns: {', '.join(found)}")
        return given
    lower = {c.lower(): c for c in found}
    for cand in CANDIDATES[role]:
        if cand in lower:
            return lower[cand]
    if role == "timestamp":
        return None
    raise DataError(
        f"{path}: cannot tell which column holds the {role}; columns: {', '.join(found)}; "
        f"name it with --data-param file.{role}=COLUMN (or the separator with file.sep)"
    )


def load_file(
    arg: str | None = None,
    data_dir: Path | None = None,
    user: str | None = None,
    item: str | None = None,
    rating: str | None = None,
    timestamp: str | None = None,
    sep: str | None = None,
    header: bool | None = None,
    scale: str | None = None,
    cache: bool = True,
) -> Dataset:
    """Ratings from a file; options as ``--data-param file.KEY=VALUE``.

    ``user``, ``item``, ``rating``, ``timestamp`` name columns; ``sep`` the separator (``\\t``
    for a tab); ``header`` whether the first line names the columns; ``scale=LOW,HIGH`` the
    rating scale (enforced; else inferred and noted). ``cache=true`` keeps the parsed ratings in
    a binary cache keyed by the file's content (see ``mfbench_datasets._cache``): the second
    load of a large file skips parsing.
    """
    if not arg:
        raise MfbenchError("the file dataset needs a path: --dataset file:PATH")
    path = Path(arg).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file (from --dataset file:{arg})")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a ratings file (for Netflix Prize folders use netflix:{arg})")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    declared = _parse_scale(scale)
    if sep is not None:
        sep = {"\\t": "\t", "tab": "\t", "space": WHITESPACE, "whitespace": WHITESPACE}.get(sep, sep)
    options = dict(user=user, item=item, rating=rating, timestamp=timestamp, sep=sep, header=header, scale=declared)
    ratings, n_dup, use = cached_ratings([path], options, lambda: _parse(path, **options), enabled=cache)
    notes = load_notes(n_dup, use, "file")
    if declared is None:
        low, high = ratings.rating_scale
        notes += (
            f"rating scale {low:g} .. {high:g} inferred from the data (the lowest and highest rating); "
            "declare it with --data-param file.scale=LOW,HIGH",
        )
    return Dataset(f"file:{arg}", ratings, notes=notes, licence="your own data")


def _parse_scale(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    parts = str(text).replace("..", ",").split(",")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        low = high = float("nan")
    if not low < high:  # also false for NaN
        raise MfbenchError(f"file.scale: expected LOW,HIGH with LOW < HIGH (for example 1,5), got {text!r}")
    return low, high


def _format_suffix(path: Path) -> str:
    """The format suffix, under any compression suffix: ``ratings.csv.gz`` -> ``.csv``."""
    suffixes = [x.lower() for x in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _parse(path: Path, user, item, rating, timestamp, sep, header, scale):
    if _format_suffix(path) == ".parquet":
        return _load_parquet(path, user, item, rating, timestamp, scale)
    lines = _sample(path)
    if sep is None:
        sep = _detect_sep(lines, SEPARATORS.get(_format_suffix(path)))
        if sep is None:
            raise DataError(
                f"{path}: cannot find a separator that splits its first lines into the same 3 or more "
                f"fields (first line: {lines[0][:80]!r}); name it with --data-param file.sep=SEP "
                "(',' ';' '\\t' '::')"
            )
    first = lines[0]
    fields = split_fields(first, sep)
    if header is None:
        # a headerless file has a number in its third (rating) field; a header has a name there
        header = len(fields) < 3 or not is_number(fields[2])
    if header:
        found = fields
        names = None
    else:
        if len(fields) < 3:
            raise DataError(
                f"{path}:1: expected at least 3 fields (user, item, rating), found {len(fields)} with separator {sep!r}"
            )
        found = ["user", "item", "rating", "timestamp"][: len(fields)] + [f"col{n}" for n in range(4, len(fields))]
        names = found
    u = _pick(found, "user", user, path)
    i = _pick(found, "item", item, path)
    r = _pick(found, "rating", rating, path)
    t = _pick(found, "timestamp", timestamp, path)
    return read_ratings(
        path, sep=sep, header=header, names=names, user=u, item=i, rating=r, timestamp=t, rating_scale=scale
    )


def _load_parquet(path: Path, user, item, rating, timestamp, scale):
    import numpy as np
    import pandas as pd

    try:
        df = pd.read_parquet(path)
    except ImportError:
        raise MfbenchError('reading Parquet needs pyarrow: pip install "mfbench[parquet]"') from None
    found = list(map(str, df.columns))
    u, i, r = (_pick(found, role, given, path) for role, given in (("user", user), ("item", item), ("rating", rating)))
    t = _pick(found, "timestamp", timestamp, path)
    values = pd.to_numeric(df[r], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(values).all():
        row = int(np.argmax(~np.isfinite(values)))
        raise DataError(f"{path}: row {row}: rating {df[r].iloc[row]!r} is not a finite number")
    ts = None if t is None else pd.to_numeric(df[t]).to_numpy(np.int64)
    if scale is not None:
        _check_scale(path, values, scale, row_label="row")
    return _from_columns(df[u].to_numpy(), df[i].to_numpy(), values.astype(np.float32), ts, scale)
