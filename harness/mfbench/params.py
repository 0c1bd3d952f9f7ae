"""Hyper-parameter constraints, declared as data and checked before any work.

An algorithm declares what each parameter accepts in a class attribute, as scikit-learn's
estimators do with ``_parameter_constraints``; a value is valid when any of the listed
constraints accepts it::

    class ALS(Algorithm):
        parameter_constraints = {
            "k": [Interval(int, 1, None)],
            "reg": [Interval(float, 0, None)],
            "solver": [Options("cholesky", "cg", "batched")],
        }

The planner checks every cell's parameters against them, for the command line, the Python API
and experiment files alike, and ``mfbench list ALGO`` prints them. A parameter with no declared
constraint is checked against the type of its default, as before constraints existed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import MfbenchError

__all__ = [
    "Constraint",
    "Interval",
    "Options",
    "Boolean",
    "Pattern",
    "check_params",
    "describe_constraints",
    "constraints_of",
]


class Constraint:
    """Accepts some values; ``convert`` turns an accepted value into the one the algorithm gets."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Interval(Constraint):
    """A number of ``kind`` (``int`` or ``float``) in ``[low, high]``; ``None`` leaves a side open,
    ``closed`` says which ends belong (``"both"``, ``"left"``, ``"right"``, ``"neither"``). A float
    interval takes ints; an int interval takes floats that are whole numbers."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.kind is int and not (isinstance(value, int) or float(value).is_integer()):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        left = self.closed in ("both", "left")
        right = self.closed in ("both", "right")
        if self.low is not None and (value < self.low or (value == self.low and not left)):
            return False
        if self.high is not None and (value > self.high or (value == self.high and not right)):
            return False
        return True

    def convert(self, value: Any) -> Any:
        return int(value) if self.kind is int else float(value)

    def __str__(self) -> str:
        name = "an int" if self.kind is int else "a number"
        left, right = self.closed in ("both", "left"), self.closed in ("both", "right")
        if self.low is not None and self.high is not None:
            return f"{name} in {'[' if left else '('}{self.low:g}, {self.high:g}{']' if right else ')'}"
        if self.low is not None:
            return f"{name} {'>=' if left else '>'} {self.low:g}"
        if self.high is not None:
            return f"{name} {'<=' if right else '<'} {self.high:g}"
        return name


class Options(Constraint):
    """One of the given values."""

    def __init__(self, *values: Any):
        self.values = values

    def accepts(self, value: Any) -> bool:
        return any(value == v and type(value) is type(v) for v in self.values)

    def __str__(self) -> str:
        if self.values == (None,):
            return "none"
        return "one of " + ", ".join("none" if v is None else str(v) for v in self.values)


class Boolean(Constraint):
    """``true`` or ``false``."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def __str__(self) -> str:
        return "true or false"


class Pattern(Constraint):
    """Text matching ``regex`` whole; ``check`` (on the match) may narrow it further;
    ``description`` is what users read."""

    def __init__(self, regex: str, description: str, check: Any = None):
        self.regex, self.description, self.check = re.compile(regex), description, check

    def accepts(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        m = self.regex.fullmatch(value.strip())
        return m is not None and (self.check is None or bool(self.check(m)))

    def convert(self, value: Any) -> Any:
        return value.strip()

    def __str__(self) -> str:
        return self.description


def constraints_of(factory: Any) -> Mapping[str, list[Constraint]]:
    """The constraints a factory (an algorithm class) declares; none for other callables."""
    return getattr(factory, "parameter_constraints", None) or {}


def describe_constraints(options: Iterable[Constraint]) -> str:
    return " or ".join(str(c) for c in options)


def _by_default_type(value: Any, default: Any) -> tuple[bool, Any]:
    """Without declared constraints: the type of the default decides (a float takes an int, an
    int a whole float, a tuple a list)."""
    if default is None or value is None:
        return True, value
    if isinstance(default, bool):
        return isinstance(value, bool), value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False, value
        if isinstance(default, float):
            return True, float(value)
        return (True, int(value)) if float(value).is_integer() else (False, value)
    if isinstance(default, tuple) and isinstance(value, list):
        return True, tuple(value)
    return True, value


def check_params(
    algorithm: str,
    params: Mapping[str, Any],
    defaults: Mapping[str, Any],
    constraints: Mapping[str, list[Constraint]],
    where: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """``params`` checked (and converted) against ``constraints``, or against the type of each
    default where none is declared; ``MfbenchError`` names the parameter, the value and what is
    allowed. ``where[key]`` says where a value came from (``--param als.k=0``)."""
    out = {}
    for key, value in params.items():
        if key not in defaults:
            raise MfbenchError(
                f"{algorithm} has no parameter {key!r}; its parameters: {', '.join(defaults) or '(none)'}"
            )
        source = (where or {}).get(key, algorithm)
        allowed = constraints.get(key)
        if allowed:
            match = next((c for c in allowed if c.accepts(value)), None)
            if match is None:
                raise MfbenchError(f"{source}: {key} must be {describe_constraints(allowed)}; got {value!r}")
            out[key] = match.convert(value)
        else:
            ok, converted = _by_default_type(value, defaults[key])
            if not ok:
                kind = "true or false" if isinstance(defaults[key], bool) else "a number"
                raise MfbenchError(f"{source}: expected {kind}, got {value!r}")
            out[key] = converted
    return out


#: Constraints most algorithms share, to compose in ``parameter_constraints``.
POSITIVE_INT = [Interval(int, 1, None)]
NON_NEGATIVE_INT = [Interval(int, 0, None)]
POSITIVE = [Interval(float, 0, None, closed="neither")]
NON_NEGATIVE = [Interval(float, 0, None)]
#: a decay rate such as Adam's betas or momentum: [0, 1)
DECAY = [Interval(float, 0, 1, closed="left")]
BOOLEAN = [Boolean()]
#: ``None`` (no limit) or a positive number
OPTIONAL_POSITIVE = [Options(None), Interval(float, 0, None, closed="neither")]
