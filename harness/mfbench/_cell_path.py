"""Preloaded first by the local executor's fork server: the cells' ``sys.path`` is the path of
the process that started the run, wherever it was started from.

The executor passes that path (and the values of the variables it set to start the server) in
one environment variable; this module applies them, so the cells' own children see the
environment of the run, not the server's start-up settings.
"""

from __future__ import annotations

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


_apply()
