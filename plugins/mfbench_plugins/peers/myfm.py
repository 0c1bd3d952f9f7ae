"""myFM's Bayesian factorization machine (Gibbs sampling) on users and items, optionally with
implicit feedback through myFM's relational blocks (the peers extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.params import BOOLEAN, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT

from ._library import library as _library

__all__ = ["MyFM"]


class MyFM(Algorithm):
    """myFM's ``MyFMRegressor``: a factorization machine by Gibbs sampling, on one-hot user and item
    columns, users and items in separate hyperprior groups (myFM's own MovieLens setup). With
    only those columns the model is Bayesian MF with biases; the prediction averages the kept
    samples (the last ``epochs - burn_in``, at least one; myFM's default keeps all but 5). The one-hot matrix
    is built in ``prepare``, off the fit's clock.

    ``implicit=true`` adds the "flipped" SVD++ features (Rendle, Zhang and Koren, 2019) the way
    myFM's own MovieLens examples do, at its fastest: two ``RelationBlock``s, one row per user
    (its one-hot column and the items it rated in training, scaled by ``|N(u)|^-1/2``) and one
    per item (likewise over the users who rated it), each rating pointing at its user's and its
    item's row, and four hyperprior groups (users, their implicit items, items, their implicit
    users). It is the features of ``bpmf implicit=true``; myFM's model also lets a user's
    one-hot column interact with its own implicit columns."""

    state_attrs = None
    state_note = "the myfm peer keeps its samples in myFM's objects"
    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "burn_in": NON_NEGATIVE_INT,
        "init_std": NON_NEGATIVE,
        "implicit": BOOLEAN,
    }
    added_params = ("implicit",)

    def __init__(
        self,
        *,
        k: int = 10,
        epochs: int = 200,
        burn_in: int = 5,
        init_std: float = 0.1,
        implicit: bool = False,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.burn_in, self.init_std = k, epochs, burn_in, init_std
        self.implicit = implicit

    def _one_hot(self, users: np.ndarray, items: np.ndarray) -> Any:
        from scipy import sparse

        n = len(users)
        cols = np.concatenate([users, self.n_users_ + np.asarray(items, np.int64)])
        rows = np.concatenate([np.arange(n), np.arange(n)])
        return sparse.csr_matrix((np.ones(2 * n), (rows, cols)), shape=(n, self.n_users_ + self.n_items_))

    def _blocks(self, users: np.ndarray, items: np.ndarray) -> list[Any]:
        """The two relational blocks of ``implicit=true`` for the pairs ``users, items``."""
        import myfm

        return [
            myfm.RelationBlock(np.asarray(users, np.int64), self._user_rows),
            myfm.RelationBlock(np.asarray(items, np.int64), self._item_rows),
        ]

    def _prepare(self, train: Ratings) -> None:
        from scipy import sparse

        myfm = _library("myfm", "the myfm peer needs myFM")
        self._y = train.values.astype(np.float64)
        if self.implicit:
            rated = sparse.csr_matrix(
                (np.ones(len(train)), (train.users, train.items)), shape=(self.n_users_, self.n_items_)
            )
            rated.data[:] = 1.0  # a pair rated twice counts once
            by_item = rated.T.tocsr()

            def normalized(m: Any) -> Any:
                counts = np.diff(m.indptr).astype(np.float64)
                scale = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts), where=counts > 0)
                return sparse.diags(scale) @ m

            self._user_rows = sparse.hstack(
                [sparse.identity(self.n_users_), normalized(rated)], format="csr", dtype=np.float64
            )
            self._item_rows = sparse.hstack(
                [sparse.identity(self.n_items_), normalized(by_item)], format="csr", dtype=np.float64
            )
            self._X = None
            self._groups = [self.n_users_, self.n_items_, self.n_items_, self.n_users_]
        else:
            self._X = self._one_hot(train.users, train.items)
            self._groups = [self.n_users_, self.n_items_]
        self._rel = self._blocks(train.users, train.items) if self.implicit else []
        self.model_ = myfm.MyFMRegressor(rank=self.k, init_stdev=self.init_std, random_seed=self.seed)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        import functools

        import myfm.base

        # myFM draws a progress bar per fit, with no option to turn it off; the harness shows its own
        bar = myfm.base.tqdm
        myfm.base.tqdm = functools.partial(bar, disable=True)
        try:
            self.model_.fit(
                self._X,
                self._y,
                X_rel=self._rel,
                n_iter=self.epochs,
                n_kept_samples=max(self.epochs - self.burn_in, 1),
                group_shapes=self._groups,
            )
        finally:
            myfm.base.tqdm = bar
        yield {}

    def _predict(self, users: Any, items: Any) -> Any:
        if self.implicit:
            return self.model_.predict(None, self._blocks(users, items)).astype(np.float32)
        return self.model_.predict(self._one_hot(users, items)).astype(np.float32)
