"""Rating-prediction metrics on the test split: lower is better."""

from __future__ import annotations

import numpy as np

from mfbench import hookimpl
from mfbench.specs import MetricSpec

__all__ = ["rmse", "mae"]


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, accumulated in float64."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error, accumulated in float64."""
    return float(np.mean(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64))))


@hookimpl
def mfbench_metrics() -> list[MetricSpec]:
    return [
        MetricSpec("rmse", rmse, "lower", description="root mean squared error of the test ratings"),
        MetricSpec("mae", mae, "lower", description="mean absolute error of the test ratings"),
    ]
