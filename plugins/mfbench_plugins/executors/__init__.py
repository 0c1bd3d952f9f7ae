"""The built-in executors: ``local`` and ``inline`` (``local``), ``dask`` (``dask_cluster``, whose
workers run each cell through ``local``'s fork server); registered here."""

from __future__ import annotations

from mfbench import hookimpl
from mfbench.specs import ExecutorSpec

from .dask_cluster import DaskExecutor
from .local import InlineExecutor, LocalExecutor

__all__ = ["InlineExecutor", "LocalExecutor", "DaskExecutor"]


@hookimpl
def mfbench_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec("local", LocalExecutor, "each cell in its own process, one at a time (default)"),
        ExecutorSpec("inline", InlineExecutor, "every cell in the mfbench process itself (debugging)"),
        ExecutorSpec(
            "dask", DaskExecutor, "cells over a dask.distributed cluster, one per worker at a time (the dask extra)"
        ),
    ]
