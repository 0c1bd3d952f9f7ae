"""The small frozen records that plugins return from their hooks."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["AlgorithmSpec", "DatasetSpec", "ExecutorSpec", "MetricSpec"]

#: Parameters every algorithm takes that are set by the harness, not by ``--param``.
HARNESS_PARAMS = ("device", "seed")


@dataclass(frozen=True)
class AlgorithmSpec:
    """An algorithm a plugin offers.

    Parameters
    ----------
    name
        The name users type (``--algos als``): lower case, digits, ``_``.
    factory
        A callable (usually the class) taking keyword hyper-parameters plus ``device`` and
        ``seed`` and returning an object with the algorithm protocol (see ``mfbench.Algorithm``).
    description
        One line for ``mfbench list``.
    devices
        The devices the algorithm runs on, among ``"cpu"`` and ``"gpu"``.
    reproducible_on
        The devices on which one seed gives bit-identical results (default: every device in
        ``devices``). Leave out a device whose path is nondeterministic by design: lock-free
        updates, atomic scatter-adds, a library's unordered reductions. The conformance suite
        then holds two runs of one seed to the same test RMSE within a tolerance instead.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""
    devices: tuple[str, ...] = ("cpu",)
    reproducible_on: tuple[str, ...] | None = None

    @property
    def reproducible_devices(self) -> tuple[str, ...]:
        return self.devices if self.reproducible_on is None else self.reproducible_on

    @property
    def defaults(self) -> dict[str, Any]:
        """Hyper-parameters and their defaults, read from the factory's signature."""
        return signature_defaults(self.factory)

    def cell_params(self, setting: dict[str, Any]) -> dict[str, Any]:
        """A cell's parameters: the defaults with ``setting`` over them, less the factory's
        ``added_params`` at their defaults, given or not (so that the cells of before a
        parameter existed keep their ids)."""
        defaults = self.defaults
        full = {**defaults, **setting}
        added = getattr(self.factory, "added_params", ())
        return {k: v for k, v in full.items() if not (k in added and v == defaults[k])}


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a plugin offers.

    Parameters
    ----------
    name
        The name users type (``--dataset ml-100k``). A *parametric* dataset takes an argument
        after a colon (``file:ratings.csv``).
    loader
        ``loader(arg, data_dir, **options) -> mfbench.Dataset``. ``arg`` is the text after the
        colon (``None`` when absent), ``data_dir`` the folder given by ``--data-dir`` or
        ``MFBENCH_DATA_DIR`` (``None`` when neither is set), ``options`` the
        ``--data-param NAME.key=value`` settings.
    default_split
        The split protocol used when ``--folds`` is not given (see ``mfbench.data.parse_protocol``).
    licence
        What users must know before using or sharing the data.
    parametric
        Whether ``NAME:ARG`` is accepted (and required).
    """

    name: str
    loader: Callable[..., Any]
    description: str = ""
    default_split: str = "holdout:0.2"
    licence: str = ""
    parametric: bool = False

    @property
    def options(self) -> dict[str, Any]:
        """Loader options and their defaults, read from the loader's signature."""
        return signature_defaults(self.loader, exclude=("arg", "data_dir"))


@dataclass(frozen=True)
class MetricSpec:
    """A metric a plugin offers: ``function(y_true, y_pred) -> float`` on the test ratings
    (``needs="ratings"``), or ``function(topn, k) -> float`` on top-n lists (``needs="ranking"``,
    see ``mfbench.ranking``)."""

    name: str
    function: Callable[..., float]
    direction: Literal["lower", "higher"] = "lower"
    needs: Literal["ratings", "ranking"] = "ratings"
    description: str = ""


@dataclass(frozen=True)
class ExecutorSpec:
    """A way to run cells: ``factory(**options)`` returns an ``mfbench.runner.Executor``.

    ``options`` preset some of the factory's keyword arguments, so that one factory can back
    several executors (``ExecutorSpec("dask-local", DaskExecutor, options={"workers": 2})``); a
    user's ``--executor-param`` overrides them."""

    name: str
    factory: Callable[..., Any]
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def defaults(self) -> dict[str, Any]:
        """The executor's options with their defaults, ``options`` included
        (``--executor-param NAME.KEY=VALUE``)."""
        return {**signature_defaults(self.factory, exclude=()), **self.options}

    def make(self, **options: Any) -> Any:
        """The executor, with ``options`` (checked against ``defaults``) over the preset ones."""
        return self.factory(**{**self.options, **options})


def signature_defaults(fn: Callable[..., Any], exclude: tuple[str, ...] = HARNESS_PARAMS) -> dict[str, Any]:
    """Keyword parameters of ``fn`` (a class's ``__init__`` for a class) with their defaults,
    less ``exclude`` (by default the parameters the harness sets on algorithms)."""
    target = fn.__init__ if inspect.isclass(fn) else fn
    out: dict[str, Any] = {}
    for name, p in inspect.signature(target).parameters.items():
        if name == "self" or name in exclude:
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[name] = None if p.default is p.empty else p.default
    return out
