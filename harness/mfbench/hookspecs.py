"""The plugin contract: what a dataset, algorithm, metric or executor plugin provides.

A plugin is a module (or object) with functions named like the hooks below, decorated with
``@mfbench.hookimpl``, and registered under the ``mfbench`` entry-point group of its
distribution::

    [project.entry-points.mfbench]
    my_algorithms = "my_package.plugin"

Each hook returns a list of spec records (``mfbench.specs``). The plugin manager collects them
from every registered plugin and refuses two specs of one kind with the same name, naming both
distributions. Hooks are called once per process, when the registry is first used.
"""

from __future__ import annotations

import pluggy

from .specs import AlgorithmSpec, DatasetSpec, ExecutorSpec, MetricSpec

hookspec = pluggy.HookspecMarker("mfbench")


@hookspec
def mfbench_algorithms() -> list[AlgorithmSpec]:
    """Return the algorithms this plugin offers.

    Called once when the registry loads. An implementation must stay cheap: it must not import
    cupy, compile numba kernels, or touch data at module level or in this hook; those belong in
    the algorithm's ``prepare``. The factory is called in the cell's own process.
    """


@hookspec
def mfbench_datasets() -> list[DatasetSpec]:
    """Return the datasets this plugin offers.

    The loader is called once per run, in the main process, before any cell starts, so that a
    missing file or bad value fails before work begins. It must not download anything until it
    is called, and it must verify what it downloads.
    """


@hookspec
def mfbench_metrics() -> list[MetricSpec]:
    """Return the metrics this plugin offers.

    A metric with ``needs="ratings"`` is called as ``function(y_true, y_pred)`` on the test
    split's ratings (numpy float32 arrays, predictions already clipped to the rating scale) and
    returns a float. A metric with ``needs="ranking"`` is called as ``function(topn, k)`` with a
    ``mfbench.ranking.TopN`` (the top-n lists of the test users that have a relevant item) and
    the cut-off users ask for as ``NAME@K``. Either must be pure: no state, no printing.
    """


@hookspec
def mfbench_executors() -> list[ExecutorSpec]:
    """Return the executors this plugin offers.

    An executor runs cells (``mfbench.runner.Job``) and yields one result record per cell, in
    any order. It must record a crash, a timeout or a killed worker as that cell's failure and
    go on with the others.
    """
