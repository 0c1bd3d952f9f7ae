"""Deep matrix factorization: an MLP over concatenated user and item embeddings (the neural
collaborative filtering family, He et al. 2017), trained jointly by mini-batch Adam.

    x = [U_u, V_i (, mean of item i's genre embeddings)]
    h = relu(BN(x W_1 + b_1)) ... relu(BN(h W_L + b_L))      (BN only with batchnorm=true)
    regression:  r_hat = mu + h w + c                        loss 1/2 (r_hat - r)^2
    classes:     p = softmax(h W + c) over the rating values  loss -log p[r]

plus ``weight_decay / 2`` times the squared dense weights and ``reg / 2`` times each embedding
row's squared norm once per rating it serves (as in ``model.py``). Batch normalization (Ioffe &
Szegedy 2015) uses the batch's statistics in training and, at predict time, statistics of a
sample of the training data taken after each epoch. The classification head predicts the
expected rating (``predict=mean``) or the most probable one (``predict=argmax``).
Gradients are derived by hand (``loss_and_grads``) and checked against finite differences; the
code is written once against the array namespace (numpy or cupy).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import BOOLEAN, NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE, POSITIVE_INT, Options
from mfbench_plugins.algorithms.minibatch.minibatch import Adam, AdamSGD
from mfbench_plugins.algorithms.model import sum_touched, touched_rows

__all__ = ["DeepMF", "MFAdam", "loss_and_grads", "forward", "flush_tiny", "FLUSH"]

BN_EPS = 1e-5
#: dense weights and their moments below this magnitude are set to zero after each step
FLUSH = 1e-20


def _layers(params: dict[str, Any]) -> int:
    return sum(1 for k in params if k.startswith("W") and k[1:].isdigit())


def inputs(xp: Any, params: dict[str, Any], users: Any, items: Any, genres: Any | None) -> Any:
    parts = [params["U"][users], params["V"][items]]
    if genres is not None:
        parts.append(genres[items] @ params["G"])
    return xp.concatenate(parts, axis=1)


def forward(
    xp: Any, params: dict[str, Any], x: Any, batchnorm: bool, training: bool, running: dict[str, Any] | None = None
) -> tuple[Any, list[dict[str, Any]]]:
    """Output of the network for inputs ``x`` and the cache the backward pass needs.

    Batch normalization uses the batch's statistics when ``training`` (kept in the cache as
    ``mean`` and ``var``), else the ``running`` ones.
    """
    caches = []
    h = x
    for l in range(_layers(params)):
        cache: dict[str, Any] = {"in": h}
        z = h @ params[f"W{l}"] + params[f"b{l}"]
        if batchnorm:
            if training:
                mean, var = z.mean(0), z.var(0)
            else:
                mean, var = running[f"mean{l}"], running[f"var{l}"]
            inv = 1.0 / xp.sqrt(var + BN_EPS)
            zhat = (z - mean) * inv
            cache.update(zhat=zhat, inv=inv, mean=mean, var=var)
            z = params[f"gamma{l}"] * zhat + params[f"beta{l}"]
        cache["pre"] = z
        h = xp.maximum(z, 0)
        caches.append(cache)
    caches.append({"in": h})
    return h @ params["Wo"] + params["bo"], caches


def loss_and_grads(
    xp: Any,
    params: dict[str, Any],
    users: Any,
    items: Any,
    target: Any,
    genres: Any | None,
    head: str,
    mu: float,
    weight_decay: float,
    reg: float,
    batchnorm: bool,
) -> tuple[Any, dict[str, Any]]:
    """Mean loss of a batch (a 0-d array in ``xp``: no device sync) and its gradient for every
    parameter. The embeddings' gradients are ``(rows, gradient of those rows)`` over the rows the
    batch touches, so that a batch costs what the batch holds, whatever the tables' size.

    ``target`` is the rating (``head="regression"``) or the class index (``head="classes"``).
    """
    n = len(users)
    x = inputs(xp, params, users, items, genres)
    out, caches = forward(xp, params, x, batchnorm, training=True)
    if head == "regression":
        e = out[:, 0] + mu - target
        loss = 0.5 * (e * e).mean()
        dout = (e / n)[:, None]
    else:
        z = out - out.max(1, keepdims=True)
        p = xp.exp(z)
        p /= p.sum(1, keepdims=True)
        loss = -xp.log(p[xp.arange(n), target] + 1e-30).mean()
        dout = p
        dout[xp.arange(n), target] -= 1
        dout /= n
    grads: dict[str, Any] = {"Wo": caches[-1]["in"].T @ dout, "bo": dout.sum(0)}
    dh = dout @ params["Wo"].T
    for l in range(_layers(params) - 1, -1, -1):
        c = caches[l]
        dz = dh * (c["pre"] > 0)
        if batchnorm:
            grads[f"gamma{l}"] = (dz * c["zhat"]).sum(0)
            grads[f"beta{l}"] = dz.sum(0)
            dzhat = dz * params[f"gamma{l}"]
            # the batch-statistics gradient of BN, in its compact form
            dz = c["inv"] / n * (n * dzhat - dzhat.sum(0) - c["zhat"] * (dzhat * c["zhat"]).sum(0))
        grads[f"W{l}"] = c["in"].T @ dz
        grads[f"b{l}"] = dz.sum(0)
        dh = dz @ params[f"W{l}"].T
    du, dv = params["U"].shape[1], params["V"].shape[1]
    if genres is not None:
        grads["G"] = genres[items].T @ dh[:, du + dv :]
    # weight decay on dense weights; embedding rows once per rating they serve (mean over the batch)
    dense = [k for k in params if k.startswith(("W", "G"))]
    for k in dense:
        loss = loss + 0.5 * weight_decay * (params[k] ** 2).sum()
        grads[k] = grads[k] + weight_decay * params[k]
    for name, index, cols in (("U", users, slice(0, du)), ("V", items, slice(du, du + dv))):
        rows, inverse = touched_rows(xp, index, params[name].shape[0])
        emb = params[name][index]
        loss = loss + 0.5 * reg * (emb * emb).sum() / n
        grads[name] = (rows, sum_touched(xp, inverse, dh[:, cols] + (reg / n) * emb))
    return loss, grads


def flush_tiny(xp: Any, *arrays: Any) -> None:
    """Set the entries of ``arrays`` below ``FLUSH`` in magnitude to zero, in place.

    The weights into a ReLU unit that no longer fires get only weight decay, and with their Adam
    moments they shrink geometrically toward zero, through the float32 subnormals (below 1.2e-38);
    on many x86 cores an operation on a subnormal takes a microcode assist, about 100 cycles,
    and a deep MF epoch at the ML-20M shape ran 3.5x slower once half of a layer's weights got
    there. A weight or first moment below ``FLUSH`` moves no float32 output of the network (its
    products sit 13 orders of magnitude below a rating's rounding), and a second moment below it
    changes a step by at most ``sqrt(FLUSH) / eps = 1%`` of an already negligible size. Only the
    CPU needs it: a GPU computes on subnormals at full speed, and the flush would cost about 50
    launches a batch there, so ``fit`` calls it on the host's arrays alone."""
    for a in arrays:
        xp.copyto(a, 0, where=xp.abs(a) < FLUSH)


class DeepMF(Algorithm):
    """An MLP over concatenated embeddings (see the module docstring).

    Parameters
    ----------
    user_dim, item_dim, genre_dim
        Embedding sizes; ``genre_dim > 0`` adds the mean embedding of the item's genres (datasets
        with item genres: ml-100k, ml-latest-small).
    hidden
        Sizes of the hidden layers (ReLU).
    batchnorm
        Batch normalization between each dense layer and its activation.
    head, predict
        ``regression`` (MSE) or ``classes`` (softmax over the rating values); for ``classes``,
        predict the expected value (``mean``) or the most probable value (``argmax``).
    epochs, batch_size, lr, weight_decay, reg
        Mini-batch Adam (lazy on the embeddings); L2 decay of the dense weights; L2 of the
        embedding rows per rating.
    """

    # the network's weights and batch-norm statistics (dicts of arrays), its rating classes and mean,
    # and the item genres it embeds
    state_attrs = ("params_", "running_", "classes_", "mu_", "_genres")
    parameter_constraints = {
        "user_dim": POSITIVE_INT,
        "item_dim": POSITIVE_INT,
        "genre_dim": NON_NEGATIVE_INT,
        "batchnorm": BOOLEAN,
        "head": [Options("regression", "classes")],
        "predict": [Options("mean", "argmax")],
        "epochs": POSITIVE_INT,
        "batch_size": POSITIVE_INT,
        "lr": POSITIVE,
        "weight_decay": NON_NEGATIVE,
        "reg": NON_NEGATIVE,
    }

    def __init__(
        self,
        *,
        user_dim: int = 32,
        item_dim: int = 32,
        genre_dim: int = 0,
        hidden: tuple = (64, 64),
        batchnorm: bool = False,
        head: str = "regression",
        predict: str = "mean",
        epochs: int = 10,
        batch_size: int = 512,
        lr: float = 0.002,
        weight_decay: float = 1e-4,
        reg: float = 4.0,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.reg = reg
        self.user_dim, self.item_dim, self.genre_dim, self.hidden = user_dim, item_dim, genre_dim, hidden
        self.batchnorm, self.head, self.predict_mode = batchnorm, head, predict
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay

    def params(self) -> dict[str, Any]:
        out = super().params()
        out["predict"] = self.predict_mode
        return out

    @classmethod
    def param_names(cls) -> list[str]:
        return [n for n in super().param_names() if n != "predict"]

    def _prepare(self, train: Ratings) -> None:
        if self.head not in ("regression", "classes") or self.predict_mode not in ("mean", "argmax"):
            raise MfbenchError(
                f"dmf: head must be regression or classes and predict mean or argmax "
                f"(got head={self.head!r}, predict={self.predict_mode!r})"
            )
        xp = self.xp
        genres = train.item_meta.get("genres") if train.item_meta else None
        if self.genre_dim and genres is None:
            raise MfbenchError("dmf: genre_dim > 0 needs a dataset with item genres (ml-100k, ml-latest-small)")
        self._genres = None
        if self.genre_dim:
            g = genres.astype(np.float32)
            self._genres = xp.asarray(g / np.maximum(g.sum(1, keepdims=True), 1.0))
        rng = np.random.default_rng(self.seed)
        classes = np.unique(train.values)
        self.classes_ = classes.astype(np.float32)
        self.mu_ = np.float32(train.values.mean())
        width = self.user_dim + self.item_dim + self.genre_dim
        p: dict[str, np.ndarray] = {
            "U": rng.normal(0, 0.05, (train.n_users, self.user_dim)),
            "V": rng.normal(0, 0.05, (train.n_items, self.item_dim)),
        }
        if self.genre_dim:
            p["G"] = rng.normal(0, 0.05, (genres.shape[1], self.genre_dim))
        running = {}
        for l, size in enumerate(self.hidden):
            p[f"W{l}"] = rng.normal(0, np.sqrt(2.0 / width), (width, size))  # He initialization for ReLU
            p[f"b{l}"] = np.zeros(size)
            if self.batchnorm:
                p[f"gamma{l}"], p[f"beta{l}"] = np.ones(size), np.zeros(size)
                running[f"mean{l}"], running[f"var{l}"] = xp.zeros(size, xp.float32), xp.ones(size, xp.float32)
            width = size
        out = 1 if self.head == "regression" else len(classes)
        p["Wo"] = rng.normal(0, np.sqrt(1.0 / width), (width, out))
        p["bo"] = np.zeros(out)
        self.params_ = {k: xp.asarray(v.astype(np.float32)) for k, v in p.items()}
        self.running_ = running
        self._u, self._i = xp.asarray(train.users), xp.asarray(train.items)
        target = train.values if self.head == "regression" else np.searchsorted(classes, train.values)
        self._t = xp.asarray(target.astype(np.float32 if self.head == "regression" else np.int64))
        self._rng = rng
        self._opt = Adam(xp, self.lr, 0.9, 0.999, 1e-8)
        self._step = 0

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        xp = self.xp
        n = len(self._t)
        for _ in range(self.epochs):
            perm = xp.asarray(self._rng.permutation(n))
            total = 0.0
            for start in range(0, n, self.batch_size):
                idx = perm[start : start + self.batch_size]
                if len(idx) < 2 and self.batchnorm:
                    continue  # batch statistics need two ratings
                u, i = self._u[idx], self._i[idx]
                loss, grads = loss_and_grads(
                    xp,
                    self.params_,
                    u,
                    i,
                    self._t[idx],
                    self._genres,
                    self.head,
                    float(self.mu_),
                    self.weight_decay,
                    self.reg,
                    self.batchnorm,
                )
                self._step += 1
                for name, g in grads.items():
                    embedding = name in ("U", "V")
                    rows, g = g if embedding else (slice(None), g)  # embeddings: touched rows only
                    self._opt.step(name, self.params_[name], rows, g, self._step)
                    if not embedding and xp is np:
                        flush_tiny(xp, self.params_[name], self._opt.m[name], self._opt.v[name])
                total = total + loss * len(idx)  # summed in xp: one read an epoch, not one a batch
            self._refresh_running()
            yield {"objective": float(total) / n}  # the batches' mean loss as they were trained

    def _refresh_running(self) -> None:
        """BN statistics for predict time: those of a training-mode pass over a sample of the
        training data, taken after each epoch (exact, where a momentum average lags)."""
        if not self.batchnorm:
            return
        xp = self.xp
        sample = xp.asarray(self._rng.choice(len(self._t), min(len(self._t), 20_000), replace=False))
        x = inputs(xp, self.params_, self._u[sample], self._i[sample], self._genres)
        _, caches = forward(xp, self.params_, x, True, training=True)
        for l in range(len(self.hidden)):
            self.running_[f"mean{l}"], self.running_[f"var{l}"] = caches[l]["mean"], caches[l]["var"]

    def _predict(self, users: Any, items: Any) -> Any:
        xp = self.xp
        out = []
        for start in range(0, len(users), 65536):
            u, i = xp.asarray(users[start : start + 65536]), xp.asarray(items[start : start + 65536])
            x = inputs(xp, self.params_, u, i, self._genres)
            o, _ = forward(xp, self.params_, x, self.batchnorm, training=False, running=self.running_)
            if self.head == "regression":
                out.append(o[:, 0] + self.mu_)
            else:
                z = o - o.max(1, keepdims=True)
                p = xp.exp(z)
                p /= p.sum(1, keepdims=True)
                values = xp.asarray(self.classes_)
                out.append(p @ values if self.predict_mode == "mean" else values[p.argmax(1)])
        return xp.concatenate(out) if out else xp.zeros(0, xp.float32)


class MFAdam(AdamSGD):
    """Plain dot-product MF trained like ``dmf``: mini-batch Adam on MSE, the same batch size and
    step, so that MF and deep MF compare with one optimizer."""

    parameter_constraints = {key: c for key, c in AdamSGD.parameter_constraints.items() if key != "backend"}

    def __init__(
        self,
        *,
        k: int = 32,
        epochs: int = 20,
        batch_size: int = 512,
        lr: float = 0.005,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
        reg: float = 0.1,
        reg_bias: float = 0.01,
        init_std: float = 0.1,
        biased: bool = True,
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(
            k=k,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            beta1=beta1,
            beta2=beta2,
            eps=eps,
            reg=reg,
            reg_bias=reg_bias,
            init_std=init_std,
            biased=biased,
            device=device,
            seed=seed,
        )
