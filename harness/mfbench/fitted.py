"""The winner of a benchmark, ready to use: a cell's fitted model from its checkpoint.

``mfbench run --checkpoint`` saves each cell's best (or last) state to
``RUN/checkpoints/<digest>.npz``, with what a model needs to speak the dataset's own ids: the
user and item ids of its training split, the training pairs (to leave rated items out of
top-N lists), the item titles where the dataset has them, and the algorithm's name and code
version. ``load_model`` reads one back (``allow_pickle=False``: a checkpoint is arrays only)
and refuses, in one line, a damaged file or one written by another version of the
algorithm's code::

    model = mfbench.load("grid-k").model("als")          # the cell, by id or unique algorithm
    model.predict([196, 186], [242, 302])                # ratings, by the dataset's own ids
    model.recommend([196, 186], n=10)                    # a DataFrame: user, rank, item, score, title
    model.export("factors.parquet")                      # factors and biases with their ids
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from .errors import MfbenchError

__all__ = ["FittedModel", "load_model", "checkpoint_arrays", "CHECKPOINT_FORMAT"]

#: the layout of a checkpoint file (``_meta.format``); a reader refuses any other
CHECKPOINT_FORMAT = "mfbench-checkpoint-1"


def _text(values: Any) -> np.ndarray:
    """Ids or titles as a numpy array that needs no pickle (numbers stay numbers, text unicode)."""
    a = np.asarray(values)
    return a.astype(str) if a.dtype == object else a


def checkpoint_arrays(algorithm: str, code_version: str, cell_id: str, train: Any) -> dict[str, np.ndarray]:
    """What a checkpoint holds besides the algorithm's state: names, ids, training pairs, titles."""
    from scipy import sparse

    seen = sparse.csr_matrix(
        (np.ones(len(train), np.int8), (train.users, train.items)), shape=(train.n_users, train.n_items)
    )
    out = {
        "_meta.format": np.asarray(CHECKPOINT_FORMAT),
        "_meta.algorithm": np.asarray(algorithm),
        "_meta.code_version": np.asarray(code_version),
        "_meta.cell_id": np.asarray(cell_id),
        "_ids.users": _text(train.user_ids),
        "_ids.items": _text(train.item_ids),
        "_train.indptr": seen.indptr.astype(np.int64),
        "_train.indices": seen.indices.astype(np.int32),
    }
    title = (getattr(train, "item_meta", None) or {}).get("title")
    if title is not None and len(title) == train.n_items:
        out["_items.title"] = _text(title)
    return out


class FittedModel:
    """A fitted algorithm that speaks the dataset's own user and item ids.

    ``algorithm`` is the mfbench algorithm object (codes in, codes out); ``user_ids`` and
    ``item_ids`` map codes to the dataset's ids; ``titles`` are the items' titles or ``None``."""

    def __init__(
        self,
        algorithm: Any,
        user_ids: np.ndarray,
        item_ids: np.ndarray,
        seen: Any,
        titles: np.ndarray | None = None,
        cell_id: str = "",
    ):
        self.algorithm = algorithm
        self.user_ids, self.item_ids, self.titles = user_ids, item_ids, titles
        self.cell_id = cell_id
        self._seen = seen
        self._user_code = {v: c for c, v in enumerate(user_ids.tolist())}
        self._item_code = {v: c for c, v in enumerate(item_ids.tolist())}

    def __repr__(self) -> str:
        return (
            f"FittedModel({type(self.algorithm).__name__}, {len(self.user_ids):,} users x {len(self.item_ids):,} "
            f"items, cell {self.cell_id!r})"
        )

    def _codes(self, ids: Any, table: dict[Any, int], what: str, strict: bool) -> np.ndarray:
        wanted = np.asarray(ids).ravel().tolist()
        kind = type(next(iter(table), 0))
        codes = []
        for raw in wanted:
            try:
                key = kind(raw) if kind in (int, str) and not isinstance(raw, kind) else raw
            except ValueError:  # text where the ids are numbers: not an id of this model
                key = None
            code = table.get(key, -1) if not isinstance(key, float) else table.get(int(key), -1)
            if code < 0 and strict:
                raise MfbenchError(f"{what} {raw!r} is not in the model's training data")
            codes.append(code)
        return np.asarray(codes, dtype=np.int64)

    def predict(self, user_ids: Any, item_ids: Any) -> np.ndarray:
        """Predicted ratings of the pairs ``(user_ids[j], item_ids[j])``, by the dataset's ids; a
        user or item the model never saw is predicted by the baseline rule (as in the benchmark)."""
        u = self._codes(user_ids, self._user_code, "user", strict=False)
        i = self._codes(item_ids, self._item_code, "item", strict=False)
        if len(u) != len(i):
            raise MfbenchError(f"predict: {len(u)} users and {len(i)} items; give one item per user")
        out = np.empty(len(u), np.float32)
        known = (u >= 0) & (i >= 0)
        if known.any():
            out[known] = self.algorithm.predict(u[known].astype(np.int32), i[known].astype(np.int32))
        if (~known).any():
            b = self.algorithm.baseline_
            base = np.full(int((~known).sum()), b.mu, np.float32)
            uu, ii = u[~known], i[~known]
            base += np.where(uu >= 0, b.user_bias[np.maximum(uu, 0)], 0).astype(np.float32)
            base += np.where(ii >= 0, b.item_bias[np.maximum(ii, 0)], 0).astype(np.float32)
            scale = self.algorithm.rating_scale_
            out[~known] = np.clip(base, *scale) if scale else base
        return out

    def recommend(self, user_ids: Any, n: int = 10, exclude_seen: bool = True) -> Any:
        """Top-``n`` items for each user (by the dataset's ids), best first, leaving out the
        items the user rated in the cell's training split: a DataFrame with the columns
        ``user``, ``rank``, ``item``, ``score`` (the predicted rating) and ``title`` where the
        dataset has titles."""
        import pandas as pd

        from .data import Ratings

        codes = self._codes(user_ids, self._user_code, "user", strict=True).astype(np.int32)
        train = None
        if exclude_seen:
            coo = self._seen.tocoo()
            train = Ratings(
                coo.row.astype(np.int32),
                coo.col.astype(np.int32),
                np.zeros(coo.nnz, np.float32),
                self.user_ids,
                self.item_ids,
            )
        items, scores = self.algorithm.recommend(codes, n=n, exclude_seen=exclude_seen, train=train)
        rows = []
        for user, its, scs in zip(np.asarray(user_ids).ravel().tolist(), items, scores):
            for rank, (code, score) in enumerate(zip(its.tolist(), scs.tolist()), 1):
                if code < 0:
                    break
                row = {"user": user, "rank": rank, "item": self.item_ids[code].item(), "score": float(score)}
                if self.titles is not None:
                    row["title"] = str(self.titles[code])
                rows.append(row)
        return pd.DataFrame(rows)

    def factors(self) -> dict[str, np.ndarray]:
        """The model's user and item factors and biases (the algorithm's ``export_factors()``)."""
        get = getattr(self.algorithm, "export_factors", None)
        out = get() if get is not None else None
        if not out:
            raise MfbenchError(f"{type(self.algorithm).__name__} has no user and item factors to export")
        return out

    def export(self, path: str | os.PathLike) -> list[Path]:
        """Write the user and item factors and biases with the dataset's ids: ``NAME.users.EXT``
        and ``NAME.items.EXT`` beside ``path`` (``.parquet`` needs pyarrow; ``.csv`` does not).
        Returns the two paths."""
        import pandas as pd

        path = Path(path)
        if path.suffix not in (".parquet", ".csv"):
            raise MfbenchError(f"{path}: export writes .parquet or .csv files")
        f = self.factors()
        written = []
        for side, ids in (("users", self.user_ids), ("items", self.item_ids)):
            key = "user" if side == "users" else "item"
            bias = f.get(f"{key}_bias")
            vectors = np.asarray(f[f"{key}_factors"], np.float32)
            columns = {"id": ids, "bias": bias if bias is not None else np.zeros(len(ids), np.float32)}
            columns.update({f"f{c}": vectors[:, c] for c in range(vectors.shape[1])})
            table = pd.DataFrame(columns)
            target = path.with_name(f"{path.stem}.{side}{path.suffix}")
            if path.suffix == ".parquet":
                try:
                    table.to_parquet(target, index=False)
                except ImportError:
                    raise MfbenchError('writing parquet needs pyarrow: pip install "mfbench[parquet]"') from None
            else:
                table.to_csv(target, index=False)
            written.append(target)
        return written


def _checkpoint_path(record: dict[str, Any], run_folder: Path) -> Path:
    saved = record.get("checkpoint")
    if not saved:
        raise MfbenchError(f"cell {record['cell_id']} has no checkpoint: run it with mfbench run ... --checkpoint")
    path = Path(saved)
    if not path.is_absolute() or not path.exists():
        path = run_folder / "checkpoints" / Path(saved).name  # the run folder moved, or --out was relative
    if not path.exists():
        raise MfbenchError(f"{path}: the checkpoint of cell {record['cell_id']} is missing")
    return path


def find_record(records: list[dict[str, Any]], cell: str) -> dict[str, Any]:
    """The record of ``cell``: a cell id, or an algorithm's name (or ``NAME[digest]``) that names
    one cell with a checkpoint."""
    exact = [r for r in records if r["cell_id"] == cell]
    if exact:
        return exact[0]
    matches = [
        r for r in records if r.get("checkpoint") and (r["algorithm"] == cell or r["cell_id"].split("|", 1)[0] == cell)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(sorted({r["algorithm"] for r in records if r.get("checkpoint")})) or "none"
        raise MfbenchError(f"no cell {cell!r} with a checkpoint in this run (cells with one: {known})")
    raise MfbenchError(
        f"{cell!r} names {len(matches)} cells; give one of their ids: " + ", ".join(r["cell_id"] for r in matches)
    )


def load_model(records: list[dict[str, Any]], run_folder: Path, cell: str) -> FittedModel:
    """The fitted model of ``cell`` in a run, from its checkpoint (see ``find_record``)."""
    from scipy import sparse

    from .registry import get_registry
    from .runner import code_version

    record = find_record(records, cell)
    path = _checkpoint_path(record, run_folder)
    try:
        with np.load(path, allow_pickle=False) as npz:
            state = {name: npz[name] for name in npz.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise MfbenchError(f"{path}: a damaged checkpoint ({exc}); run the cell again with --checkpoint") from None
    if str(state.get("_meta.format", "")) != CHECKPOINT_FORMAT:
        raise MfbenchError(f"{path}: not an mfbench checkpoint of this version (no {CHECKPOINT_FORMAT} mark)")
    name = str(state["_meta.algorithm"])
    if name != record["algorithm"]:
        raise MfbenchError(f"{path}: a checkpoint of {name}, but the cell is {record['algorithm']}'s")
    spec = get_registry().algorithm(name)
    current = code_version(spec.factory)
    if str(state["_meta.code_version"]) != current:
        raise MfbenchError(
            f"{path}: written by another version of {name}'s code ({state['_meta.code_version']}, this one is "
            f"{current}); run the cell again with --checkpoint"
        )
    algorithm = spec.factory(**record["params"], device="cpu", seed=record.get("seed", 0))
    try:
        algorithm.load_state(
            {k: v for k, v in state.items() if not k.startswith(("_meta.", "_ids.", "_train.", "_items."))}
        )
    except KeyError as exc:
        raise MfbenchError(f"{path}: a damaged checkpoint (no array {exc})") from None
    users, items = state["_ids.users"], state["_ids.items"]
    seen = sparse.csr_matrix(
        (np.ones(len(state["_train.indices"]), np.int8), state["_train.indices"], state["_train.indptr"]),
        shape=(len(users), len(items)),
    )
    return FittedModel(algorithm, users, items, seen, state.get("_items.title"), record["cell_id"])
