"""Importing a peer's library lazily, with the extra that installs it."""

from __future__ import annotations

from typing import Any

from mfbench.errors import MfbenchError

__all__ = ["library", "INSTALL_HINT"]

INSTALL_HINT = 'pip install "mfbench[peers]"'


def library(module: str, who: str) -> Any:
    """Import a peer's library, or fail saying what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MfbenchError(f"{who}, which is not installed; {INSTALL_HINT}") from None
