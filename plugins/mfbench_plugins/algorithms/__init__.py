"""The built-in algorithms: one module per method family, registered here."""

from __future__ import annotations

from mfbench import hookimpl
from mfbench.specs import AlgorithmSpec

from .baselines import Biases, GlobalMean


@hookimpl
def mfbench_algorithms() -> list[AlgorithmSpec]:
    return [
        AlgorithmSpec("global_mean", GlobalMean, "predicts the mean training rating", ("cpu", "gpu")),
        AlgorithmSpec("biases", Biases, "user + item biases, regularized, by alternating exact passes", ("cpu", "gpu")),
    ]
