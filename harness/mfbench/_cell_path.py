"""Preloaded first by the local executor's fork server: the cells' ``sys.path`` is the path of
the process that started the run, wherever it was started from.

The executor passes that path (and the values of the variables it set to start the server) in
one environment variable; this module applies them, so the cells' own children see the
environment of the run, not the server's start-up settings. It then imports the modules the
run's cells will need (their algorithms' and metrics'), and reads the library versions every
record carries, once, in the server: each cell is forked with them in memory instead of
importing and reading them again (about 0.2 s a cell). numba's tables of typing and lowering
rules are filled here too (about 0.3 s a process, paid by the first kernel a process compiles or
loads from the cache; 0.5 s once with numba's import): otherwise every cell's ``prepare`` would
hold it, warm cache or cold.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

ENV_VAR = "MFBENCH_CELL_SYS_PATH"


def _apply() -> None:
    raw = os.environ.pop(ENV_VAR, None)
    if raw is None:
        return
    settings = json.loads(raw)
    sys.path[:] = settings["sys_path"]
    for key, value in settings["restore"].items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for name in settings.get("preload", []):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the cell imports it again, and reports what fails
            pass
    _fill_numba_registries()
    from mfbench.results import library_versions

    library_versions()


def _fill_numba_registries() -> None:
    """Load numba's typing and lowering registries (what its first compilation in a process
    does), where numba is installed; nothing is compiled and no thread is started, so the cells
    fork from a clean state."""
    try:
        from numba.core.registry import cpu_target

        cpu_target.typing_context.refresh()
        cpu_target.target_context.refresh()
    except Exception:  # noqa: BLE001 - an internal of numba: without it, each cell fills them itself
        pass


_apply()
