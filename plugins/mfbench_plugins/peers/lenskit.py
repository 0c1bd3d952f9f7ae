"""LensKit's explicit biased ALS as an mfbench algorithm (``lenskit_als``), the peer of ``als``.

LensKit (Ekstrand 2020) fits damped user and item biases first, then alternates Cholesky solves
for user and item embeddings on the residuals. The adapter drives LensKit's own trainer one epoch
at a time, so the harness times LensKit's epochs like its own. It needs the ``lenskit`` extra
(``pip install "mfbench[lenskit]"``), which pulls in PyTorch and so stays out of the test extras.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench import hookimpl
from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import NON_NEGATIVE, POSITIVE_INT
from mfbench.specs import AlgorithmSpec

__all__ = ["LenskitALS"]


def _lenskit() -> Any:
    try:
        import lenskit.als
        import lenskit.data
        import lenskit.training
    except ImportError:
        raise MfbenchError(
            'lenskit_als needs LensKit, which is not installed; pip install "mfbench[lenskit]"'
        ) from None
    return lenskit


class LenskitALS(Algorithm):
    """LensKit's ``BiasedMFScorer`` (explicit ALS with damped biases).

    Parameters
    ----------
    k, epochs, reg
        Embedding size, epochs, L2 regularization (LensKit's ``regularization``).
    damping
        Damping of LensKit's bias model.
    """

    state_attrs = ("U_", "V_", "bu_", "bi_", "mu_")
    parameter_constraints = {"k": POSITIVE_INT, "epochs": POSITIVE_INT, "reg": NON_NEGATIVE, "damping": NON_NEGATIVE}

    def __init__(
        self,
        *,
        k: int = 50,
        epochs: int = 15,
        reg: float = 0.1,
        damping: float = 5.0,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.reg, self.damping = k, epochs, reg, damping

    def _prepare(self, train: Ratings) -> None:
        lk = _lenskit()
        import pandas as pd

        frame = pd.DataFrame(
            {"user_id": train.users, "item_id": train.items, "rating": train.values.astype(np.float64)}
        )
        self._data = lk.data.from_interactions_df(frame, user_col="user_id", item_col="item_id", rating_col="rating")
        config = lk.als.BiasedMFConfig(
            embedding_size=self.k, epochs=self.epochs, regularization=self.reg, damping=self.damping
        )
        self._scorer = lk.als.BiasedMFScorer(config)
        self._trainer = self._scorer.create_trainer(self._data, lk.training.TrainingOptions(rng=self.seed))

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        self._n = (train.n_users, train.n_items)
        for epoch in range(self.epochs):
            metrics = self._trainer.train_epoch() or {}
            if epoch == self.epochs - 1:
                self._trainer.finalize()
            self._stale = True  # re-indexed on the next predict, outside the epoch's clock
            yield {k: float(v) for k, v in metrics.items() if np.isscalar(v)}

    def _export(self) -> None:
        """LensKit's arrays, re-indexed by mfbench's codes."""
        s = self._scorer
        U, V, bias = s.user_embeddings, s.item_embeddings, s.bias
        un = s.users.numbers(np.arange(self._n[0]), missing="negative")
        inum = s.items.numbers(np.arange(self._n[1]), missing="negative")
        self.U_ = np.where((un >= 0)[:, None], np.asarray(U)[np.maximum(un, 0)], 0).astype(np.float32)
        self.V_ = np.where((inum >= 0)[:, None], np.asarray(V)[np.maximum(inum, 0)], 0).astype(np.float32)
        ub = bias.user_biases if bias.user_biases is not None else np.zeros(len(U))
        ib = bias.item_biases if bias.item_biases is not None else np.zeros(len(V))
        self.bu_ = np.where(un >= 0, np.asarray(ub)[np.maximum(un, 0)], 0).astype(np.float32)
        self.bi_ = np.where(inum >= 0, np.asarray(ib)[np.maximum(inum, 0)], 0).astype(np.float32)
        self.mu_ = np.float32(bias.global_bias)
        self._stale = False

    def _predict(self, users: Any, items: Any) -> Any:
        if getattr(self, "_stale", False):
            self._export()
        return self.mu_ + self.bu_[users] + self.bi_[items] + np.einsum("nk,nk->n", self.U_[users], self.V_[items])


@hookimpl
def mfbench_algorithms() -> list[AlgorithmSpec]:
    return [
        AlgorithmSpec("lenskit_als", LenskitALS, 'LensKit explicit biased ALS (peer; pip install "mfbench[lenskit]")')
    ]
