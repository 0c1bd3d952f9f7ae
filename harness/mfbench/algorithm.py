"""The algorithm protocol and the base class the built-ins share.

An algorithm is constructed with keyword hyper-parameters plus ``device`` and ``seed``;
``__init__`` stores them unchanged and does no work. Learned arrays (names ending in ``_``)
appear in ``prepare``/``fit``. The harness drives the epochs::

    algo = Biases(reg_user=15.0, device="cpu", seed=0)
    algo.prepare(train)                # transfers, compilation, warm-up: timed apart
    for info in algo.fit(train, valid):  # yields once per epoch: {"objective": ...}
        ...
    algo.predict(users, items)         # float32, clipped to the rating scale

``AlgorithmProtocol`` is the contract the harness relies on, whatever class an algorithm is.
``Algorithm`` is the base class that fulfils it: subclasses implement ``fit`` and ``_predict``
(abstract: for pairs whose user and item both have training ratings) and may implement
``_prepare`` and ``_score_block``; the base class applies the unseen rule (see
``mfbench.data``), clips to the rating scale, ranks through ``mfbench.ranking.recommend``, and
saves and restores the attributes named in ``state_attrs``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from . import devices
from .data import Ratings
from .params import Constraint, check_params
from .specs import signature_defaults

__all__ = ["AlgorithmProtocol", "Algorithm", "Baseline", "fit_biases"]

#: ``fit_biases`` compiles its passes from this many ratings on (below, numpy takes milliseconds
#: and loading numba would cost a small cell more than it saves)
COMPILED_BIASES_MIN = 1 << 20

#: pairs per ``_predict`` call: 2^20 pairs of k=128 float32 rows gather 1 GiB
PREDICT_CHUNK = 1 << 20


def fit_biases(
    xp: Any,
    users: Any,
    items: Any,
    values: Any,
    n_users: int,
    n_items: int,
    reg_user: float,
    reg_item: float,
    passes: int,
) -> Iterator[tuple[float, Any, Any]]:
    """Regularized user and item biases by alternating exact minimization (Koren 2010, sec. 2.1).

    Minimizes ``sum (r - mu - b_u - b_i)^2 + reg_user * sum b_u^2 + reg_item * sum b_i^2``
    one block at a time: items given users, then users given items. Yields
    ``(mu, b_user, b_item)`` after each pass, so callers can time and report passes.
    """
    mu = float(values.mean())
    bu = xp.zeros(n_users, dtype=xp.float32)
    bi = xp.zeros(n_items, dtype=xp.float32)
    n_u = xp.bincount(users, minlength=n_users).astype(xp.float32)
    n_i = xp.bincount(items, minlength=n_items).astype(xp.float32)
    if xp is np and values.dtype == np.float32 and len(values) >= COMPILED_BIASES_MIN:
        # the same arithmetic, compiled: no per-pass temporaries
        from ._biases_numba import bias_pass

        f32 = np.float32
        for _ in range(passes):
            bias_pass(users, items, values, f32(mu), n_u, n_i, f32(reg_user), f32(reg_item), bu, bi)
            yield mu, bu.copy(), bi.copy()
        return
    resid = values - mu
    for _ in range(passes):
        bi = (xp.bincount(items, weights=resid - bu[users], minlength=n_items) / (reg_item + n_i)).astype(xp.float32)
        bu = (xp.bincount(users, weights=resid - bi[items], minlength=n_users) / (reg_user + n_u)).astype(xp.float32)
        yield mu, bu, bi


@dataclass
class Baseline:
    """The training baseline ``mu + b_u + b_i`` that predicts cold pairs (damped, two passes)."""

    mu: float
    user_bias: np.ndarray
    item_bias: np.ndarray

    REG: ClassVar[float] = 10.0

    @classmethod
    def fit(cls, train: Ratings) -> Baseline:
        *_, (mu, bu, bi) = fit_biases(
            np, train.users, train.items, train.values, train.n_users, train.n_items, cls.REG, cls.REG, passes=2
        )
        return cls(mu, bu, bi)

    def predict(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        return (self.mu + self.user_bias[users] + self.item_bias[items]).astype(np.float32)


@runtime_checkable
class AlgorithmProtocol(Protocol):
    """What the harness asks of an algorithm object (``AlgorithmSpec.factory`` returns one).

    Built with keyword hyper-parameters plus ``device`` and ``seed``; ``prepare`` is timed apart
    from training; ``fit`` yields once per epoch (a dict of values to record, callables evaluated
    off the clock); ``predict`` returns float32 ratings for any pairs; ``recommend`` the top-n
    items per user; ``state``/``load_state`` round-trip what predictions need. The harness owns
    the threads; an algorithm whose kernels chose to run on fewer says so in an optional
    ``threads_used_`` attribute, and the record's ``threads_in_force`` reports it."""

    device: str
    seed: int

    def params(self) -> dict[str, Any]: ...

    def prepare(self, train: Ratings) -> None: ...

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, Any]]: ...

    def predict(self, users: Any, items: Any) -> np.ndarray: ...

    def recommend(
        self, users: Any, n: int = 10, exclude_seen: bool = True, train: Ratings | None = None, block: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def state(self) -> dict[str, np.ndarray]: ...

    def load_state(self, state: dict[str, np.ndarray]) -> None: ...


class Algorithm(ABC):
    """Base class of the built-in algorithms (third-party ones may use it or follow
    ``AlgorithmProtocol``).

    Parameters
    ----------
    device
        ``"cpu"`` (numpy, numba) or ``"gpu"`` (cupy).
    seed
        Seed for every random choice the algorithm makes.
    """

    #: Names of the learned attributes that ``state()`` saves, besides the baseline's: arrays,
    #: scalars, dicts of arrays (saved as ``name.key``) or ``None``. ``None`` instead of a tuple:
    #: the model lives in another library's objects and ``state()`` refuses, saying why
    #: (``state_note``).
    state_attrs: ClassVar[tuple[str, ...] | None] = ()
    state_note: ClassVar[str] = ""
    #: What each hyper-parameter accepts (``mfbench.params``): checked by the planner before any
    #: work, and by ``prepare`` for algorithms built directly.
    parameter_constraints: ClassVar[dict[str, list[Constraint]]] = {}
    #: Hyper-parameters added after cells were recorded: a cell that leaves one at its default
    #: does not list it in its parameters, so it keeps the id (and the history) it had before.
    added_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, device: str = "cpu", seed: int = 0):
        self.device = device
        self.seed = seed

    # -- parameters ----------------------------------------------------------------------------
    @classmethod
    def param_names(cls) -> list[str]:
        return list(signature_defaults(cls))

    def params(self) -> dict[str, Any]:
        """Hyper-parameters as given (device and seed excluded)."""
        return {name: getattr(self, name) for name in self.param_names()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    # -- lifecycle -------------------------------------------------------------------------------
    def prepare(self, train: Ratings) -> None:
        """Everything before the first epoch: the parameters checked against their constraints,
        the device's namespace, the baseline, ``_prepare``."""
        check_params(type(self).__name__, self.params(), signature_defaults(type(self)), self.parameter_constraints)
        need = self.memory_bytes(train)
        if need:
            defaults = signature_defaults(type(self))
            given = " ".join(f"{k}={v}" for k, v in self.params().items() if defaults.get(k) != v)
            devices.ensure_memory(
                self.device,
                need,
                f"{type(self).__name__}({given}) on {train.n_users:,} users x {train.n_items:,} items",
                "ask for a smaller model (k) or a smaller dataset",
            )
        self.xp = devices.array_namespace(self.device)
        self.n_users_, self.n_items_ = train.n_users, train.n_items
        self.rating_scale_ = train.rating_scale
        self.baseline_ = Baseline.fit(train)
        self.seen_users_ = train.user_counts() > 0
        self.seen_items_ = train.item_counts() > 0
        self._seen_by_user: Any = None
        self._prepare(train)

    def _prepare(self, train: Ratings) -> None:  # noqa: B027 - an optional hook, empty by default
        """Subclass hook: allocate, transfer, compile. Default: nothing."""

    #: the threads the algorithm's kernels ran on, where it chose fewer than numba's count (set in
    #: ``prepare`` or ``fit``); the record's ``threads_in_force`` then says it
    threads_used_: int | None = None

    def memory_bytes(self, train: Ratings) -> int | None:
        """About how many bytes of the device's memory this algorithm allocates for ``train`` (its
        model and working arrays, not the ratings), or ``None`` (the default: not estimated).
        ``prepare`` refuses, before any allocation, a request that needs more than the device has
        free, with the estimate and the free memory in one line."""
        return None

    @abstractmethod
    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, Any]]:
        """Train, yielding a dict after each epoch (``{}`` when there is nothing to report).

        ``objective`` is the algorithm's own training loss as its docstring defines it (not
        comparable across algorithms); the runner adds ``train_mse``, measured the same way for
        every algorithm (``docs/RECORDS.md``). A value may be a callable of no arguments: the
        runner calls it after it has stopped the epoch's clock, so that monitoring (a loss over
        the training set, say) is not timed as training."""

    # -- prediction ----------------------------------------------------------------------------
    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted ratings (float32 numpy), cold pairs from the baseline, clipped to the scale."""
        users = np.asarray(users, dtype=np.int32)
        items = np.asarray(items, dtype=np.int32)
        warm = np.flatnonzero(self.seen_users_[users] & self.seen_items_[items])
        out = self.baseline_.predict(users, items)
        # in chunks: a factor model gathers (chunk, k) rows per side, bounded however many pairs come
        for start in range(0, len(warm), PREDICT_CHUNK):
            sel = warm[start : start + PREDICT_CHUNK]
            out[sel] = devices.to_numpy(self._predict(users[sel], items[sel]))
        return self._clip(out)

    @abstractmethod
    def _predict(self, users: np.ndarray, items: np.ndarray) -> Any:
        """Raw predictions (the device's array) for pairs whose user and item both have training
        ratings; the base class clips them and fills the cold pairs."""

    def _clip(self, out: np.ndarray) -> np.ndarray:
        if self.rating_scale_ is not None:
            np.clip(out, *self.rating_scale_, out=out)
        return out.astype(np.float32, copy=False)

    def score_users(self, users: np.ndarray) -> np.ndarray:
        """Predicted ratings of ``users`` for every item, shape ``(len(users), n_items)``."""
        users = np.asarray(users, dtype=np.int32)
        u = np.repeat(users, self.n_items_)
        i = np.tile(np.arange(self.n_items_, dtype=np.int32), len(users))
        return self.predict(u, i).reshape(len(users), self.n_items_)

    def _score_block(self, users: np.ndarray) -> Any:
        """Subclass hook for ranking: the model's raw (unclipped) scores of warm ``users`` for
        every item, ``(len(users), n_items)`` on the algorithm's device, computed at once (a
        matrix product for factor models). ``None`` (the default) falls back to ``score_users``."""
        return None

    def recommend(
        self, users: Any, n: int = 10, exclude_seen: bool = True, train: Ratings | None = None, block: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``n`` items per user, best first: ``(items, scores)``, each ``(len(users), n)``
        (``mfbench.ranking.recommend`` explains the protocol). ``train`` holds the ratings whose
        items are excluded (``exclude_seen``)."""
        from .ranking import recommend

        return recommend(self, users, n, exclude_seen, train, block)

    # -- state ---------------------------------------------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        """Learned arrays by name (host numpy copies), enough to restore predictions: each of
        ``state_attrs`` (a dict's arrays as ``name.key``; ``None`` left out) and the baseline."""
        from .errors import MfbenchError

        if self.state_attrs is None:
            raise MfbenchError(f"{type(self).__name__} offers no state(): {self.state_note}")
        out: dict[str, np.ndarray] = {}
        for name in self.state_attrs:
            value = getattr(self, name, None)
            if isinstance(value, dict):
                out.update({f"{name}.{key}": devices.to_numpy(v).copy() for key, v in value.items()})
            elif value is not None:
                out[name] = np.array(devices.to_numpy(value), copy=True)
        out["baseline.mu"] = np.asarray(self.baseline_.mu)
        out["baseline.user_bias"] = self.baseline_.user_bias.copy()
        out["baseline.item_bias"] = self.baseline_.item_bias.copy()
        out["seen_users"] = self.seen_users_.copy()
        out["seen_items"] = self.seen_items_.copy()
        out["rating_scale"] = np.asarray(self.rating_scale_ or (), dtype=np.float64)
        return out

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore what ``state()`` returned (onto this object's device)."""
        xp = getattr(self, "xp", None) or devices.array_namespace(self.device)
        self.xp = xp
        for name in self.state_attrs or ():
            prefix = f"{name}."
            if name in state:
                value = state[name]
                setattr(self, name, xp.asarray(value) if np.ndim(value) else value.item())
            elif any(key.startswith(prefix) for key in state):
                setattr(self, name, {k[len(prefix) :]: xp.asarray(v) for k, v in state.items() if k.startswith(prefix)})
            else:
                setattr(self, name, None)
        self.baseline_ = Baseline(
            float(state["baseline.mu"]), state["baseline.user_bias"].copy(), state["baseline.item_bias"].copy()
        )
        self.seen_users_ = state["seen_users"].copy()
        self.seen_items_ = state["seen_items"].copy()
        self.n_users_, self.n_items_ = len(self.seen_users_), len(self.seen_items_)
        scale = state.get("rating_scale", np.empty(0))
        self.rating_scale_ = (float(scale[0]), float(scale[1])) if len(scale) == 2 else None
