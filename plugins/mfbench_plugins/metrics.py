"""Rating-prediction metrics on the test split: lower is better."""

from __future__ import annotations

import numpy as np

from mfbench import hookimpl
from mfbench.specs import MetricSpec

__all__ = ["rmse", "mae", "accuracy"]


def rmse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Root mean squared error, accumulated in float64."""
    d = np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64)
    return float(np.sqrt(np.mean(d * d)))


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error, accumulated in float64."""
    return float(np.mean(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64))))


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Share of predictions that land on the true rating, each rounded to the nearest rating value
    seen in ``y_true`` (for classification heads with ``predict=argmax``, the exact hit rate)."""
    grid = np.unique(y_true)
    idx = np.clip(np.searchsorted(grid, y_pred), 1, len(grid) - 1) if len(grid) > 1 else np.zeros(len(y_pred), int)
    if len(grid) > 1:
        idx = np.where(np.abs(y_pred - grid[idx - 1]) <= np.abs(grid[idx] - y_pred), idx - 1, idx)
    return float(np.mean(grid[idx] == y_true))


@hookimpl
def mfbench_metrics() -> list[MetricSpec]:
    return [
        MetricSpec("rmse", rmse, "lower", description="root mean squared error of the test ratings"),
        MetricSpec("mae", mae, "lower", description="mean absolute error of the test ratings"),
        MetricSpec("accuracy", accuracy, "higher", description="share of predictions that round to the true rating"),
    ]
