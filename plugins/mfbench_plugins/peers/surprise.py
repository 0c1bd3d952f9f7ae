"""scikit-surprise's SVD, SVD++ and BaselineOnly as mfbench algorithms (the peers extra)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.params import BOOLEAN, NON_NEGATIVE, POSITIVE, POSITIVE_INT

from ._library import library as _library

__all__ = ["SurpriseSVD", "SurpriseSVDpp", "SurpriseBaseline"]


class _SurprisePeer(Algorithm):
    state_attrs = None
    state_note = "the Surprise peers keep their state in Surprise objects"

    def _model(self, surprise: Any) -> Any:
        raise NotImplementedError

    def _prepare(self, train: Ratings) -> None:
        surprise = _library("surprise", "the Surprise peers need scikit-surprise")
        import pandas as pd

        low, high = train.rating_scale or (float(train.values.min()), float(train.values.max()))
        # Surprise's best case, the order of its own files (MovieLens's u1.base): sorted by user, then
        # item. Its epochs walk the ratings in trainset order; built from a split's shuffled order,
        # SVD's fit on ml-100k u1 takes 2.4x as long.
        order = np.lexsort((train.items, train.users))
        frame = pd.DataFrame(
            {"u": train.users[order], "i": train.items[order], "r": train.values[order].astype(np.float64)}
        )
        data = surprise.Dataset.load_from_df(frame, surprise.Reader(rating_scale=(low, high)))
        self._trainset = data.build_full_trainset()
        self._index(train)
        self.model_ = self._model(surprise)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        self.model_.fit(self._trainset)
        yield {}

    def _index(self, train: Ratings) -> None:
        ts = self._trainset
        self._u_inner = np.full(train.n_users, -1, np.int64)
        self._i_inner = np.full(train.n_items, -1, np.int64)
        for raw, inner in ts._raw2inner_id_users.items():
            self._u_inner[raw] = inner
        for raw, inner in ts._raw2inner_id_items.items():
            self._i_inner[raw] = inner
        self.mu_ = float(ts.global_mean)


class SurpriseSVD(_SurprisePeer):
    """scikit-surprise's SVD: biased MF by per-rating SGD over a shuffle (Funk; Koren et al. 2009)."""

    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "lr": POSITIVE,
        "reg": NON_NEGATIVE,
        "init_std": NON_NEGATIVE,
        "biased": BOOLEAN,
    }

    def __init__(
        self,
        *,
        k: int = 100,
        epochs: int = 20,
        lr: float = 0.005,
        reg: float = 0.02,
        init_std: float = 0.1,
        biased: bool = True,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.lr, self.reg, self.init_std, self.biased = k, epochs, lr, reg, init_std, biased

    def _model(self, surprise: Any) -> Any:
        return surprise.SVD(
            n_factors=self.k,
            n_epochs=self.epochs,
            lr_all=self.lr,
            reg_all=self.reg,
            init_std_dev=self.init_std,
            biased=self.biased,
            random_state=self.seed,
        )

    def _predict(self, users: Any, items: Any) -> Any:
        m = self.model_
        u, i = self._u_inner[users], self._i_inner[items]
        out = np.einsum("nk,nk->n", m.pu[u], m.qi[i])
        if self.biased:
            out += self.mu_ + m.bu[u] + m.bi[i]
        return out.astype(np.float32)


class SurpriseSVDpp(SurpriseSVD):
    """scikit-surprise's SVD++ (Koren 2008): SVD plus implicit feedback from the items a user rated."""

    def __init__(
        self,
        *,
        k: int = 20,
        epochs: int = 20,
        lr: float = 0.007,
        reg: float = 0.02,
        init_std: float = 0.1,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(k=k, epochs=epochs, lr=lr, reg=reg, init_std=init_std, device=device, seed=seed)
        del self.biased

    parameter_constraints = {key: c for key, c in SurpriseSVD.parameter_constraints.items() if key != "biased"}

    @classmethod
    def param_names(cls) -> list[str]:
        return ["k", "epochs", "lr", "reg", "init_std"]

    def _model(self, surprise: Any) -> Any:
        return surprise.SVDpp(
            n_factors=self.k,
            n_epochs=self.epochs,
            lr_all=self.lr,
            reg_all=self.reg,
            init_std_dev=self.init_std,
            random_state=self.seed,
        )

    def _predict(self, users: Any, items: Any) -> Any:
        m, ts = self.model_, self._trainset
        u, i = self._u_inner[users], self._i_inner[items]
        # y-sum per user, once per distinct user
        implicit = {}
        for uu in np.unique(u):
            rated = [j for j, _ in ts.ur[int(uu)]]
            implicit[uu] = m.yj[rated].sum(0) / np.sqrt(len(rated))
        pu = np.stack([m.pu[uu] + implicit[uu] for uu in u]) if len(u) else np.zeros((0, self.k))
        return (self.mu_ + m.bu[u] + m.bi[i] + np.einsum("nk,nk->n", pu, m.qi[i])).astype(np.float32)


class SurpriseBaseline(_SurprisePeer):
    """scikit-surprise's BaselineOnly: ``mu + b_u + b_i`` by ALS (Koren 2010)."""

    parameter_constraints = {"epochs": POSITIVE_INT, "reg_user": NON_NEGATIVE, "reg_item": NON_NEGATIVE}

    def __init__(
        self, *, epochs: int = 10, reg_user: float = 15.0, reg_item: float = 10.0, device: str = "cpu", seed: int = 0
    ):
        super().__init__(device=device, seed=seed)
        self.epochs, self.reg_user, self.reg_item = epochs, reg_user, reg_item

    def _model(self, surprise: Any) -> Any:
        options = {"method": "als", "n_epochs": self.epochs, "reg_u": self.reg_user, "reg_i": self.reg_item}
        return surprise.BaselineOnly(bsl_options=options, verbose=False)

    def _predict(self, users: Any, items: Any) -> Any:
        m = self.model_
        return (self.mu_ + m.bu[self._u_inner[users]] + m.bi[self._i_inner[items]]).astype(np.float32)
