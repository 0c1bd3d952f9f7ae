"""An algorithm fitted to the end, as a test wants it."""

from __future__ import annotations

from typing import Any


def fitted(factory: Any, ratings: Any, **params: Any) -> Any:
    """``factory(**params)`` prepared on ``ratings`` and fitted through its last epoch."""
    algo = factory(**params)
    algo.prepare(ratings)
    for _ in algo.fit(ratings):
        pass
    return algo
