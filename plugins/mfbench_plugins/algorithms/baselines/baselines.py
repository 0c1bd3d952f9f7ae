"""Baselines: the global mean, and regularized user + item biases (Koren 2010, sec. 2.1)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from mfbench.algorithm import Algorithm, fit_biases
from mfbench.data import Ratings
from mfbench.params import NON_NEGATIVE, POSITIVE_INT

__all__ = ["GlobalMean", "Biases"]


class GlobalMean(Algorithm):
    """Predict the mean training rating for every pair. One epoch."""

    state_attrs = ("mu_",)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        values = self.xp.asarray(train.values)
        self.mu_ = float(values.mean())
        yield {}

    def _predict(self, users: Any, items: Any) -> Any:
        return self.xp.full(len(users), self.mu_, dtype=self.xp.float32)


class Biases(Algorithm):
    """User and item biases: ``r_hat = mu + b_u + b_i``.

    Minimizes ``sum (r - mu - b_u - b_i)^2 + reg_user * |b_u|^2 + reg_item * |b_i|^2`` by
    alternating exact minimization, items then users; one pass is one epoch.

    Parameters
    ----------
    reg_user, reg_item
        L2 regularization of the user and item biases (in rating units squared per rating).
    epochs
        Alternating passes; three reach the fixed point to 1e-4 on MovieLens.
    """

    state_attrs = ("mu_", "user_bias_", "item_bias_")
    parameter_constraints = {"reg_user": NON_NEGATIVE, "reg_item": NON_NEGATIVE, "epochs": POSITIVE_INT}

    def __init__(
        self, *, reg_user: float = 15.0, reg_item: float = 10.0, epochs: int = 3, device: str = "cpu", seed: int = 0
    ):
        super().__init__(device=device, seed=seed)
        self.reg_user = reg_user
        self.reg_item = reg_item
        self.epochs = epochs

    def _prepare(self, train: Ratings) -> None:
        xp = self.xp
        self._u, self._i, self._r = xp.asarray(train.users), xp.asarray(train.items), xp.asarray(train.values)

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        passes = fit_biases(
            self.xp, self._u, self._i, self._r, train.n_users, train.n_items, self.reg_user, self.reg_item, self.epochs
        )
        for self.mu_, self.user_bias_, self.item_bias_ in passes:
            yield {}

    def _predict(self, users: Any, items: Any) -> Any:
        xp = self.xp
        return self.mu_ + self.user_bias_[xp.asarray(users)] + self.item_bias_[xp.asarray(items)]

    def _score_block(self, users: Any) -> Any:
        return self.mu_ + self.user_bias_[self.xp.asarray(users)][:, None] + self.item_bias_[None, :]
