"""A binary cache of parsed ratings, keyed by the content of the files they came from.

Parsing a 20M-row text file takes seconds to tens of seconds; loading the same ratings from an
uncompressed ``.npz`` takes a fraction of a second. The key is the SHA-256 of each source file's
bytes plus the parse options and the cache format's version, so an edited file (or other
options) never reuses a stale entry, and a renamed or copied file still hits. Entries live in
``<cache dir>/ratings/`` (``MFBENCH_CACHE_DIR``) and are written atomically.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mfbench.data import Ratings

from ._download import cache_dir, sha256_of

__all__ = ["cached_ratings", "cache_key", "load_notes"]

FORMAT = 1


def cache_key(sources: list[Path], options: dict[str, Any]) -> str:
    h = hashlib.sha256(f"mfbench-ratings-v{FORMAT}".encode())
    for path in sources:
        h.update(sha256_of(Path(path)).encode())
    h.update(json.dumps(options, sort_keys=True, default=str).encode())
    return h.hexdigest()[:32]


def _save(path: Path, ratings: Ratings, n_dup: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {
        "users": ratings.users,
        "items": ratings.items,
        "values": ratings.values,
        "user_ids": ratings.user_ids,
        "item_ids": ratings.item_ids,
        "n_dup": np.asarray(n_dup),
        "rating_scale": np.asarray(ratings.rating_scale or (), np.float64),
    }
    if ratings.timestamps is not None:
        arrays["timestamps"] = ratings.timestamps
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _load(path: Path) -> tuple[Ratings, int]:
    with np.load(path, allow_pickle=False) as z:
        scale = z["rating_scale"]
        r = Ratings(
            z["users"],
            z["items"],
            z["values"],
            z["user_ids"],
            z["item_ids"],
            z["timestamps"] if "timestamps" in z.files else None,
            (float(scale[0]), float(scale[1])) if len(scale) == 2 else None,
        )
        return r, int(z["n_dup"])


def cached_ratings(
    sources: list[Path], options: dict[str, Any], parse: Callable[[], tuple[Ratings, int]], enabled: bool = True
) -> tuple[Ratings, int, str]:
    """``parse()``'s result, from the cache when the same bytes were parsed with the same options.

    Returns ``(ratings, duplicates resolved, how the cache served)``: ``"hit"``, ``"miss"``, or
    ``"rebuilt: WHY"`` when an entry was damaged on disk (truncated, overwritten), parsed again
    and replaced.
    """
    if not enabled:
        return (*parse(), "miss")
    path = cache_dir() / "ratings" / f"{cache_key(sources, options)}.npz"
    use = "miss"
    if path.exists():
        try:
            return (*_load(path), "hit")
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
            use = f"rebuilt: {path} was damaged ({type(exc).__name__}: {exc})"
            path.unlink(missing_ok=True)
    ratings, n_dup = parse()
    try:
        _save(path, ratings, n_dup)
    except OSError:
        pass  # a read-only or full cache only costs the next load its speed
    return ratings, n_dup, use


def load_notes(n_dup: int, cache_use: str = "miss", dataset: str = "", pairs: str = "(user, item)") -> tuple[str, ...]:
    """The notes a loader reports: duplicate ``pairs`` it resolved, a read from this cache (with
    the ``--data-param DATASET.cache=false`` that parses again), a damaged entry rebuilt."""
    notes = (f"{n_dup} duplicate {pairs} ratings resolved: kept the latest",) if n_dup else ()
    if cache_use.startswith("rebuilt: "):
        notes += (cache_use.removeprefix("rebuilt: ") + ": parsed again and rewritten",)
    if cache_use == "hit":
        notes += (f"parsed ratings read from the binary cache (--data-param {dataset}.cache=false to parse again)",)
    return notes
