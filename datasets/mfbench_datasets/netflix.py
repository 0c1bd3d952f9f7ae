"""The Netflix Prize data from a local folder: ``--dataset netflix:PATH``.

The data is no longer distributed; users who have it point mfbench at the folder. Two layouts are
read: the four ``combined_data_1.txt`` .. ``combined_data_4.txt`` files (the Kaggle copy), or the
original ``training_set/mv_0000001.txt`` .. ``mv_0017770.txt`` (one file per movie). Each holds
``MovieID:`` lines followed by ``CustomerID,Rating,YYYY-MM-DD`` lines. Titles and years come from
``movie_titles.csv`` when it is there. Parsing is compiled (numba) and the result is cached in
binary form by the files' content, so the second load skips it. The probe and qualifying files
are not read.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from mfbench.data import Dataset
from mfbench.errors import DataError, MfbenchError

from ._cache import cached_ratings, load_notes
from ._tables import _from_columns

__all__ = ["load_netflix", "rating_files", "LICENCE"]

LICENCE = (
    "Netflix Prize data: released by Netflix for the Netflix Prize under terms that forbid "
    "redistribution; use your own copy"
)


def rating_files(folder: Path) -> list[Path]:
    """The rating files of ``folder``, in movie order; a clear error when there are none."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (from --dataset netflix:{folder})")
    combined = sorted(folder.glob("combined_data_*.txt"), key=lambda p: int(re.sub(r"\D", "", p.stem) or 0))
    if combined:
        return combined
    per_movie = sorted((folder / "training_set").glob("mv_*.txt")) or sorted(folder.glob("mv_*.txt"))
    if per_movie:
        return per_movie
    raise DataError(
        f"{folder}: no Netflix Prize rating files (combined_data_*.txt, or training_set/mv_*.txt); "
        "point netflix:PATH at the folder that holds them"
    )


def read_netflix(files: list[Path]):
    """Parse ``files`` into ``(ratings, duplicates resolved)``."""
    from ._netflix_numba import parse

    # a rating line the parser accepts has at least 12 bytes ("1,1,2005-1-1"): a bound that needs
    # no first pass; the pages of the unused tail are never written, so they take no memory
    total = sum(Path(p).stat().st_size // 12 + 1 for p in files)
    users = np.empty(total, np.int32)
    items = np.empty(total, np.int32)
    values = np.empty(total, np.float32)
    seconds = np.empty(total, np.int64)
    pos = 0
    for path in files:
        buf = np.fromfile(path, np.uint8)
        if len(buf) == 0:
            raise DataError(f"{path}: the file is empty")
        pos, _, bad, offset = parse(buf, users, items, values, seconds, pos, -1)
        if bad:
            end = offset
            while end < len(buf) and buf[end] != 10:
                end += 1
            text = bytes(buf[offset:end]).decode("latin-1").rstrip("\r")
            first = "" if pos else " (a file must start with a MovieID: line)"
            raise DataError(
                f"{path}:{bad}: expected 'MovieID:' or 'CustomerID,Rating,YYYY-MM-DD', found {text!r}{first}"
            )
        del buf
    if pos == 0:
        raise DataError(f"{files[0].parent}: the Netflix files hold no ratings")
    return _from_columns(users[:pos], items[:pos], values[:pos], seconds[:pos], (1.0, 5.0))


def _titles(folder: Path, item_ids: np.ndarray) -> dict[str, np.ndarray]:
    path = folder / "movie_titles.csv"
    if not path.exists():
        return {}
    title = np.full(len(item_ids), "", dtype=object)
    year = np.zeros(len(item_ids), np.int32)
    for n, line in enumerate(path.read_bytes().decode("latin-1").splitlines(), 1):
        parts = line.split(",", 2)
        if len(parts) != 3 or not parts[0].isdigit():
            raise DataError(f"{path}:{n}: expected MovieID,Year,Title, found {line[:80]!r}")
        k = np.searchsorted(item_ids, int(parts[0]))
        if k < len(item_ids) and item_ids[k] == int(parts[0]):
            title[k] = parts[2]
            year[k] = int(parts[1]) if parts[1].isdigit() else 0
    return {"title": title, "year": year}


def load_netflix(arg: str | None = None, data_dir: Path | None = None, cache: bool = True) -> Dataset:
    """Netflix Prize ratings (1..5, with dates) from the folder ``arg``."""
    if not arg:
        raise MfbenchError("the netflix dataset needs the folder of your copy: --dataset netflix:PATH")
    folder = Path(arg).expanduser()
    files = rating_files(folder)
    ratings, n_dup, use = cached_ratings(files, {"format": "netflix"}, lambda: read_netflix(files), enabled=cache)
    meta = _titles(folder if folder.is_dir() else folder.parent, ratings.item_ids)
    return Dataset(
        f"netflix:{arg}",
        ratings,
        item_meta=meta,
        licence=LICENCE,
        notes=load_notes(n_dup, use, "netflix", pairs="(customer, movie)"),
    )
