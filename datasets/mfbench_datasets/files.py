"""Your own ratings file: ``--dataset file:PATH`` for CSV, TSV, ``::``-separated or Parquet,
plain or compressed (``.gz``, ``.bz2``, ``.xz``, ``.zst``), read in chunks and cached in binary
form by content hash.

Columns are found by name when the file has a header (``user``/``userId``/``user_id``,
``item``/``movieId``/``item_id``, ``rating``/``score``, ``timestamp``/``time``, case-insensitive),
by position (user, item, rating[, timestamp]) when it has none, and can always be named:
``--data-param file.user=customer --data-param file.rating=stars``. Duplicate (user, item) pairs
keep the latest rating and are reported.
"""

from __future__ import annotations

from pathlib import Path

from mfbench.data import Dataset
from mfbench.errors import DataError, MfbenchError

from ._cache import cached_ratings, load_notes
from ._tables import COMPRESSIONS, _from_columns, open_text, read_ratings

__all__ = ["load_file"]

CANDIDATES = {
    "user": ("user", "userid", "user_id", "users", "uid", "customer", "customer_id"),
    "item": ("item", "itemid", "item_id", "items", "iid", "movieid", "movie_id", "movie", "product_id"),
    "rating": ("rating", "ratings", "score", "stars", "value"),
    "timestamp": ("timestamp", "time", "ts", "date", "datetime"),
}
SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".dat": "::"}


def _sniff_sep(first: str) -> str:
    for sep in ("::", "\t", ",", ";", "|"):
        if sep in first:
            return sep
    return r"\s+"


def _split(line: str, sep: str) -> list[str]:
    return line.split() if sep == r"\s+" else [f.strip() for f in line.split(sep)]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


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
    raise DataError(f"{path}: cannot tell which column holds the {role}; columns: {', '.join(found)}; "
                    f"name it with --data-param file.{role}=COLUMN")


def load_file(arg: str | None = None, data_dir: Path | None = None, user: str | None = None, item: str | None = None,
              rating: str | None = None, timestamp: str | None = None, sep: str | None = None,
              header: bool | None = None, rating_min: float | None = None, rating_max: float | None = None,
              cache: bool = True) -> Dataset:
    """Ratings from a file; options as ``--data-param file.KEY=VALUE``.

    ``cache=true`` keeps the parsed ratings in a binary cache keyed by the file's content (see
    ``mfbench_datasets._cache``): the second load of a large file skips parsing.
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
    scale = (float(rating_min), float(rating_max)) if rating_min is not None and rating_max is not None else None
    options = dict(user=user, item=item, rating=rating, timestamp=timestamp, sep=sep, header=header, scale=scale)
    ratings, n_dup, hit = cached_ratings([path], options, lambda: _parse(path, **options), enabled=cache)
    return Dataset(f"file:{arg}", ratings, notes=load_notes(n_dup, hit, "file"), licence="your own data")


def _kind(path: Path) -> str:
    """The format suffix, under any compression suffix: ``ratings.csv.gz`` -> ``.csv``."""
    suffixes = [x.lower() for x in path.suffixes]
    while suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return suffixes[-1] if suffixes else ""


def _parse(path: Path, user, item, rating, timestamp, sep, header, scale):
    if _kind(path) == ".parquet":
        return _load_parquet(path, user, item, rating, timestamp, scale)
    with open_text(path) as fh:
        first = fh.readline().rstrip("\r\n")
    if not first.strip():
        raise DataError(f"{path}:1: the file is empty or starts with a blank line")
    sep = sep or SEPARATORS.get(_kind(path)) or _sniff_sep(first)
    fields = _split(first, sep)
    if header is None:
        # a headerless file has a number in its third (rating) field; a header has a name there
        header = len(fields) < 3 or not _is_number(fields[2])
    if header:
        found = fields
        names = None
    else:
        if len(fields) < 3:
            raise DataError(f"{path}:1: expected at least 3 fields (user, item, rating), found {len(fields)} "
                            f"with separator {sep!r}")
        found = ["user", "item", "rating", "timestamp"][: len(fields)] + [f"col{n}" for n in range(4, len(fields))]
        names = found
    u = _pick(found, "user", user, path)
    i = _pick(found, "item", item, path)
    r = _pick(found, "rating", rating, path)
    t = _pick(found, "timestamp", timestamp, path)
    return read_ratings(path, sep=sep, header=header, names=names, user=u, item=i, rating=r, timestamp=t,
                        rating_scale=scale)


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
    return _from_columns(df[u].to_numpy(), df[i].to_numpy(), values.astype(np.float32), ts, scale)
