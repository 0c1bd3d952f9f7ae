"""MovieLens loaders (GroupLens Research, https://grouplens.org/datasets/movielens/).

Where the data comes from, in order: ``--data-dir`` / ``MFBENCH_DATA_DIR`` (a folder holding
``ml-100k/`` or being it), then the cache (``MFBENCH_CACHE_DIR``), then a download from
files.grouplens.org. Archives are checked against the MD5 GroupLens publishes beside them; the
files read are checked against SHA-256 digests of the releases (ml-100k of 1998, ml-latest-small
of 2018-09-26), for local copies too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mfbench.data import Dataset, Ratings
from mfbench.errors import DataError

from ._download import cache_dir, fetch_zip, verify_files
from ._tables import read_ratings

__all__ = ["load_ml100k", "load_ml_latest_small", "LICENCE"]

LICENCE = ("MovieLens data (GroupLens Research): research use, acknowledge the source, no redistribution "
           "without permission; see the README in the archive")
BASE_URL = "https://files.grouplens.org/datasets/movielens"

RELEASES = {
    "ml-100k": {
        "md5": "0e33842e24a9c977be4e0107933c0723",
        "sha256": {
            "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
            "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
            "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
            "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
            "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
            "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
            "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
        },
    },
    "ml-latest-small": {
        "md5": None,  # a "latest" archive is re-issued; its files are pinned by SHA-256 below
        "sha256": {
            "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
            "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
        },
    },
}

ML100K_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
                 "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
                 "War", "Western")


def locate(name: str, data_dir: Path | None, marker: str) -> Path:
    """The folder of dataset ``name``: local copy, cache, or a fresh verified download."""
    release = RELEASES[name]
    if data_dir is not None:
        data_dir = Path(data_dir)
        for folder in (data_dir / name, data_dir):
            if (folder / marker).exists():
                verify_files(folder, release["sha256"])
                return folder
        raise DataError(f"{name}: no {marker} under {data_dir}/{name} or {data_dir} (from --data-dir or "
                        f"MFBENCH_DATA_DIR); point it at the folder holding {name}/, or unset it to download")
    cached = cache_dir() / name
    if (cached / marker).exists():
        verify_files(cached, release["sha256"])
        return cached
    if release["md5"] is None:
        return _fetch_unpinned(name, cached)
    return fetch_zip(f"{BASE_URL}/{name}.zip", release["md5"], name, cached, release["sha256"])


def _fetch_unpinned(name: str, cached: Path) -> Path:
    import urllib.request

    url = f"{BASE_URL}/{name}.zip"
    try:
        with urllib.request.urlopen(url + ".md5", timeout=30) as resp:  # noqa: S310
            md5 = resp.read().decode().split()[0]
    except OSError as exc:
        raise DataError(f"cannot fetch {url}.md5 ({exc}); download {url} by hand and use --data-dir") from None
    return fetch_zip(url, md5, name, cached, RELEASES[name]["sha256"])


def load_ml100k(arg: str | None = None, data_dir: Path | None = None) -> Dataset:
    """MovieLens 100K: 100,000 ratings 1..5 of 1,682 movies by 943 users, with official folds u1..u5."""
    folder = locate("ml-100k", data_dir, "u.data")
    cols = ["user", "item", "rating", "timestamp"]
    ratings, n_dup = read_ratings(folder / "u.data", sep="\t", header=False, names=cols, user="user", item="item",
                                  rating="rating", timestamp="timestamp", rating_scale=(1.0, 5.0))
    keys = ratings.pair_keys()
    order = np.argsort(keys)
    folds = []
    for n in range(1, 6):
        test = pd.read_csv(folder / f"u{n}.test", sep="\t", header=None, names=cols, usecols=[0, 1])
        u = np.searchsorted(ratings.user_ids, test["user"].to_numpy())
        i = np.searchsorted(ratings.item_ids, test["item"].to_numpy())
        pos = np.searchsorted(keys, u.astype(np.int64) * ratings.n_items + i, sorter=order)
        idx = order[np.minimum(pos, len(order) - 1)]
        if not np.array_equal(keys[idx], u.astype(np.int64) * ratings.n_items + i):
            raise DataError(f"{folder / f'u{n}.test'}: has pairs that u.data lacks; the copy is inconsistent")
        folds.append(np.sort(idx))
    return Dataset("ml-100k", ratings, tuple(folds), item_meta=_ml100k_items(folder, ratings), licence=LICENCE,
                   notes=_dup_note(n_dup))


def _ml100k_items(folder: Path, ratings: Ratings) -> dict[str, np.ndarray]:
    items = pd.read_csv(folder / "u.item", sep="|", header=None, encoding="latin-1")
    pos = np.searchsorted(ratings.item_ids, items[0].to_numpy())
    ok = (pos < ratings.n_items) & (ratings.item_ids[np.minimum(pos, ratings.n_items - 1)] == items[0].to_numpy())
    title = np.full(ratings.n_items, "", dtype=object)
    genres = np.zeros((ratings.n_items, len(ML100K_GENRES)), np.float32)
    title[pos[ok]] = items[1].to_numpy()[ok]
    genres[pos[ok]] = items.iloc[:, 5:5 + len(ML100K_GENRES)].to_numpy(np.float32)[ok]
    return {"title": title, "genres": genres, "genre_names": np.array(ML100K_GENRES)}


def load_ml_latest_small(arg: str | None = None, data_dir: Path | None = None) -> Dataset:
    """MovieLens latest-small (2018-09-26): 100,836 half-star ratings of 9,742 movies by 610 users."""
    folder = locate("ml-latest-small", data_dir, "ratings.csv")
    ratings, n_dup = read_ratings(folder / "ratings.csv", sep=",", header=True, user="userId", item="movieId",
                                  rating="rating", timestamp="timestamp", rating_scale=(0.5, 5.0))
    movies = pd.read_csv(folder / "movies.csv")
    pos = np.searchsorted(ratings.item_ids, movies["movieId"].to_numpy())
    ok = (pos < ratings.n_items) & (ratings.item_ids[np.minimum(pos, ratings.n_items - 1)] == movies["movieId"].to_numpy())
    names = sorted({g for gs in movies["genres"] for g in gs.split("|")})
    onehot = movies["genres"].str.get_dummies("|").reindex(columns=names, fill_value=0).to_numpy(np.float32)
    title = np.full(ratings.n_items, "", dtype=object)
    genres = np.zeros((ratings.n_items, len(names)), np.float32)
    title[pos[ok]] = movies["title"].to_numpy()[ok]
    genres[pos[ok]] = onehot[ok]
    return Dataset("ml-latest-small", ratings, None, item_meta={"title": title, "genres": genres,
                   "genre_names": np.array(names)}, licence=LICENCE, notes=_dup_note(n_dup))


def _dup_note(n_dup: int) -> tuple[str, ...]:
    return (f"{n_dup} duplicate (user, item) ratings resolved: kept the latest",) if n_dup else ()
