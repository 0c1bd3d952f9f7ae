"""mfbench: benchmark matrix-factorization algorithms for rating prediction.

Run an experiment and look at its results (``mfbench.api``)::

    import mfbench

    res = mfbench.run(algos=["sgd", "als"], datasets=["ml-100k"], params={"sgd": {"k": [32, 64]}})
    res.to_pandas()

Plugin authors need ``hookimpl``, the spec records and, for algorithms, ``Algorithm``::

    import mfbench

    @mfbench.hookimpl
    def mfbench_algorithms():
        return [mfbench.AlgorithmSpec("my_mf", MyMF, "my method", devices=("cpu",))]
"""

from .algorithm import Algorithm, Baseline
from .api import load, run
from .data import Dataset, Ratings, Split
from .errors import DataError, DeviceUnavailable, MfbenchError, UnknownNameError
from .registry import get_registry, hookimpl
from .results import Results
from .specs import AlgorithmSpec, DatasetSpec, ExecutorSpec, MetricSpec

__version__ = "0.1.0"

__all__ = [
    "Algorithm",
    "AlgorithmSpec",
    "Baseline",
    "DataError",
    "Dataset",
    "DatasetSpec",
    "DeviceUnavailable",
    "ExecutorSpec",
    "MetricSpec",
    "MfbenchError",
    "Ratings",
    "Results",
    "Split",
    "UnknownNameError",
    "get_registry",
    "hookimpl",
    "load",
    "run",
]
