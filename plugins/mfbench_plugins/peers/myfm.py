"""myFM's Bayesian factorization machine (Gibbs sampling) on users and items (the peers extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.params import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT

from ._library import library as _library

__all__ = ["MyFM"]


class MyFM(Algorithm):
    """myFM's ``MyFMRegressor``: a factorization machine by Gibbs sampling, on one-hot user and item
    columns, users and items in separate hyperprior groups (myFM's own MovieLens setup). With
    only those columns the model is Bayesian MF with biases; the prediction averages the kept
    samples (the last ``epochs - burn_in``, at least one; myFM's default keeps all but 5). The one-hot matrix
    is built in ``prepare``, off the fit's clock."""

    state_attrs = None
    state_note = "the myfm peer keeps its samples in myFM's objects"
    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "burn_in": NON_NEGATIVE_INT,
        "init_std": NON_NEGATIVE,
    }

    def __init__(
        self,
        *,
        k: int = 10,
        epochs: int = 200,
        burn_in: int = 5,
        init_std: float = 0.1,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.burn_in, self.init_std = k, epochs, burn_in, init_std

    def _one_hot(self, users: np.ndarray, items: np.ndarray) -> Any:
        from scipy import sparse

        n = len(users)
        cols = np.concatenate([users, self.n_users_ + np.asarray(items, np.int64)])
        rows = np.concatenate([np.arange(n), np.arange(n)])
        return sparse.csr_matrix((np.ones(2 * n), (rows, cols)), shape=(n, self.n_users_ + self.n_items_))

    def _prepare(self, train: Ratings) -> None:
        myfm = _library("myfm", "the myfm peer needs myFM")
        self._X = self._one_hot(train.users, train.items)
        self._y = train.values.astype(np.float64)
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
                n_iter=self.epochs,
                n_kept_samples=max(self.epochs - self.burn_in, 1),
                group_shapes=[self.n_users_, self.n_items_],
            )
        finally:
            myfm.base.tqdm = bar
        yield {}

    def _predict(self, users: Any, items: Any) -> Any:
        return self.model_.predict(self._one_hot(users, items)).astype(np.float32)
