"""MovieLens loaders (GroupLens Research, https://grouplens.org/datasets/movielens/).

Where the data comes from, in order: ``--data-dir`` / ``MFBENCH_DATA_DIR`` (a folder holding
``ml-1m/`` (say) or being it), then the cache (``MFBENCH_CACHE_DIR``), then a download from
files.grouplens.org, streamed with a progress bar and unpacked atomically (a partial download or
extraction never looks complete).

Checksums and where they come from:

* ``md5`` of each archive: the ``<archive>.md5`` file GroupLens publishes beside it
  (https://files.grouplens.org/datasets/movielens/ml-1m.zip.md5, ...);
* ``sha256`` of the archives of ml-100k, ml-1m, ml-20m, ml-25m and ml-latest-small: the
  TensorFlow Datasets registry of download checksums (``tensorflow_datasets/url_checksums/
  movielens.txt``), which pins the same files; ml-10m and ml-32m are checked by MD5 alone;
* ``files``: SHA-256 of the files read, computed from the releases (ml-100k of 1998,
  ml-latest-small of 2018-09-26), so that local copies are verified too;
* ``n_ratings``: the rating count each release's README states, checked after parsing (the check
  a local copy of the larger releases gets, whose files are not pinned here).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mfbench.data import Dataset, Ratings
from mfbench.errors import DataError

from ._cache import cached_ratings, load_notes
from ._download import cache_dir, fetch_zip, verify_files
from ._tables import read_ratings

if TYPE_CHECKING:  # annotations only: importing it costs every mfbench command its start-up
    import pandas as pd

__all__ = ["RELEASES", "load_movielens", "load_ml100k", "load_ml_latest_small", "LICENCE"]

LICENCE = (
    "MovieLens data (GroupLens Research): research use, acknowledge the source, no redistribution "
    "without permission; see the README in the archive"
)
BASE_URL = "https://files.grouplens.org/datasets/movielens"


@dataclass(frozen=True)
class Release:
    """One MovieLens release: where it is, how to check it, how to read it."""

    name: str
    folder: str  # the folder inside the archive
    ratings_file: str
    movies_file: str
    fmt: str  # "dat" (UserID::MovieID::Rating::Timestamp) or "csv" (userId,movieId,rating,timestamp)
    scale: tuple[float, float]
    n_ratings: int
    description: str
    md5: str | None = None
    sha256: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"{BASE_URL}/{self.name}.zip"


RELEASES = {
    r.name: r
    for r in [
        Release(
            "ml-100k",
            "ml-100k",
            "u.data",
            "u.item",
            "tsv",
            (1.0, 5.0),
            100_000,
            "MovieLens 100K: 943 users, 1,682 movies, 100,000 ratings 1..5 (1998)",
            md5="0e33842e24a9c977be4e0107933c0723",
            sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
            files={
                "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
                "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
                "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
                "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
                "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
                "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
                "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
            },
        ),
        Release(
            "ml-latest-small",
            "ml-latest-small",
            "ratings.csv",
            "movies.csv",
            "csv",
            (0.5, 5.0),
            100_836,
            "MovieLens latest-small: 610 users, 9,742 movies, 100,836 half-star ratings (2018)",
            sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
            files={
                "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
                "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
            },
        ),
        Release(
            "ml-1m",
            "ml-1m",
            "ratings.dat",
            "movies.dat",
            "dat",
            (1.0, 5.0),
            1_000_209,
            "MovieLens 1M: 6,040 users, 3,706 movies, 1,000,209 ratings 1..5 (2003)",
            md5="c4d9eecfca2ab87c1945afe126590906",
            sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        ),
        Release(
            "ml-10m",
            "ml-10M100K",
            "ratings.dat",
            "movies.dat",
            "dat",
            (0.5, 5.0),
            10_000_054,
            "MovieLens 10M: 69,878 users, 10,677 movies, 10,000,054 half-star ratings (2009)",
            md5="ce571fd55effeba0271552578f2648bd",
        ),
        Release(
            "ml-20m",
            "ml-20m",
            "ratings.csv",
            "movies.csv",
            "csv",
            (0.5, 5.0),
            20_000_263,
            "MovieLens 20M: 138,493 users, 26,744 movies, 20,000,263 half-star ratings (2015)",
            md5="cd245b17a1ae2cc31bb14903e1204af3",
            sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        ),
        Release(
            "ml-25m",
            "ml-25m",
            "ratings.csv",
            "movies.csv",
            "csv",
            (0.5, 5.0),
            25_000_095,
            "MovieLens 25M: 162,541 users, 59,047 movies, 25,000,095 half-star ratings (2019)",
            md5="6b51fb2759a8657d3bfcbfc42b592ada",
            sha256="8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
        ),
        Release(
            "ml-32m",
            "ml-32m",
            "ratings.csv",
            "movies.csv",
            "csv",
            (0.5, 5.0),
            32_000_204,
            "MovieLens 32M: 200,948 users, 84,432 movies, 32,000,204 half-star ratings (2023)",
            md5="d472be332d4daa821edc399621853b57",
        ),
    ]
}


def locate(name: str, data_dir: Path | None) -> Path:
    """The folder of release ``name``: local copy, cache, or a fresh verified download."""
    rel = RELEASES[name]
    marker = rel.ratings_file
    if data_dir is not None:
        data_dir = Path(data_dir)
        for folder in (data_dir / name, data_dir / rel.folder, data_dir):
            if (folder / marker).exists():
                verify_files(folder, rel.files)
                return folder
        raise DataError(
            f"{name}: no {marker} under {data_dir}/{name} or {data_dir} (from --data-dir or "
            f"MFBENCH_DATA_DIR); point it at the folder holding {name}/, or unset it to download"
        )
    cached = cache_dir() / name
    if (cached / marker).exists():
        verify_files(cached, rel.files)
        return cached
    return fetch_zip(rel.url, {"md5": rel.md5, "sha256": rel.sha256}, rel.folder, cached, rel.files)


ML100K_GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)


def load_ml100k(arg: str | None = None, data_dir: Path | None = None) -> Dataset:
    """MovieLens 100K: 100,000 ratings 1..5 of 1,682 movies by 943 users, with official folds u1..u5."""
    import pandas as pd

    folder = locate("ml-100k", data_dir)
    cols = ["user", "item", "rating", "timestamp"]
    ratings, n_dup = read_ratings(
        folder / "u.data",
        sep="\t",
        header=False,
        names=cols,
        user="user",
        item="item",
        rating="rating",
        timestamp="timestamp",
        rating_scale=(1.0, 5.0),
    )
    keys = ratings.pair_keys()
    order = np.argsort(keys)
    folds = []
    for n in range(1, 6):
        test = pd.read_csv(folder / f"u{n}.test", sep="\t", header=None, names=cols, usecols=[0, 1])
        u = np.searchsorted(ratings.user_ids, test["user"].to_numpy())
        i = np.searchsorted(ratings.item_ids, test["item"].to_numpy())
        want = u.astype(np.int64) * ratings.n_items + i
        idx = order[np.minimum(np.searchsorted(keys, want, sorter=order), len(order) - 1)]
        if not np.array_equal(keys[idx], want):
            raise DataError(f"{folder / f'u{n}.test'}: has pairs that u.data lacks; the copy is inconsistent")
        folds.append(np.sort(idx))
    return Dataset(
        "ml-100k",
        ratings,
        tuple(folds),
        item_meta=_ml100k_items(folder, ratings),
        licence=LICENCE,
        notes=load_notes(n_dup),
    )


def _ml100k_items(folder: Path, ratings: Ratings) -> dict[str, np.ndarray]:
    import pandas as pd

    items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    genres = items.iloc[:, 5 : 5 + len(ML100K_GENRES)].to_numpy(np.float32)
    return _item_meta(ratings, items[0].to_numpy(), items[1].to_numpy(), genres, ML100K_GENRES)


def _item_meta(
    ratings: Ratings, ids: np.ndarray, titles: np.ndarray, genres: np.ndarray, genre_names
) -> dict[str, np.ndarray]:
    """Titles and multi-hot genres by item code, for the items that have ratings."""
    pos = np.searchsorted(ratings.item_ids, ids)
    ok = (pos < ratings.n_items) & (ratings.item_ids[np.minimum(pos, ratings.n_items - 1)] == ids)
    title = np.full(ratings.n_items, "", dtype=object)
    multi = np.zeros((ratings.n_items, len(genre_names)), np.float32)
    title[pos[ok]] = titles[ok]
    multi[pos[ok]] = genres[ok]
    return {"title": title, "genres": multi, "genre_names": np.array(genre_names)}


def read_movies(path: Path, fmt: str) -> tuple[np.ndarray, np.ndarray, pd.Series]:
    """``(movie ids, titles, genre strings "A|B")`` of a ``movies.dat`` or ``movies.csv``."""
    import pandas as pd

    if fmt == "csv":
        movies = pd.read_csv(path, dtype={"movieId": np.int64, "title": str, "genres": str}, keep_default_na=False)
        missing = {"movieId", "title", "genres"} - set(movies.columns)
        if missing:
            raise DataError(f"{path}:1: missing column(s) {', '.join(sorted(missing))}")
        return movies["movieId"].to_numpy(), movies["title"].to_numpy(), movies["genres"]
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # ml-1m's titles are Latin-1
    ids, titles, genres = [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("::")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            raise DataError(f"{path}:{n}: expected MovieID::Title::Genres, found {line[:80]!r}")
        ids.append(int(parts[0]))
        titles.append(parts[1])
        genres.append(parts[2])
    return np.array(ids, np.int64), np.array(titles, dtype=object), pd.Series(genres)


def load_movielens(name: str, data_dir: Path | None = None, cache: bool = True) -> Dataset:
    """Any release of ``RELEASES`` but ml-100k (which has its own folds): ratings, titles, genres."""
    rel = RELEASES[name]
    folder = locate(name, data_dir)
    path = folder / rel.ratings_file
    if rel.fmt == "dat":
        opts = dict(
            sep="::",
            header=False,
            names=["user", "item", "rating", "timestamp"],
            user="user",
            item="item",
            rating="rating",
            timestamp="timestamp",
        )
    else:
        opts = dict(sep=",", header=True, user="userId", item="movieId", rating="rating", timestamp="timestamp")
    ratings, n_dup, use = cached_ratings(
        [path],
        {"release": name, **opts},
        lambda: read_ratings(path, rating_scale=rel.scale, **opts),
        enabled=cache and rel.n_ratings >= 1_000_000,
    )
    if len(ratings) + n_dup != rel.n_ratings:
        raise DataError(
            f"{path}: {len(ratings) + n_dup:,} ratings where {name} has {rel.n_ratings:,}; the copy is "
            "incomplete or a different release: replace it, or delete it to download again"
        )
    ids, titles, genre_text = read_movies(folder / rel.movies_file, rel.fmt)
    names = sorted({g for gs in genre_text for g in gs.split("|") if g and g != "(no genres listed)"})
    onehot = genre_text.str.get_dummies("|").reindex(columns=names, fill_value=0).to_numpy(np.float32)
    return Dataset(
        name,
        ratings,
        None,
        item_meta=_item_meta(ratings, ids, titles, onehot, names),
        licence=LICENCE,
        notes=load_notes(n_dup, "miss" if use == "hit" else use),
    )


def load_ml_latest_small(arg: str | None = None, data_dir: Path | None = None) -> Dataset:
    """MovieLens latest-small (2018-09-26): 100,836 half-star ratings of 9,742 movies by 610 users."""
    return load_movielens("ml-latest-small", data_dir)


def loader(name: str):
    """The ``DatasetSpec`` loader of release ``name``."""

    def load(arg: str | None = None, data_dir: Path | None = None, cache: bool = True) -> Dataset:
        return load_movielens(name, data_dir, cache)

    load.__doc__ = RELEASES[name].description
    return load
