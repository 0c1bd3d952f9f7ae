"""Where mfbench keeps what it can rebuild: downloads, parsed datasets, checkouts of revisions."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """``MFBENCH_CACHE_DIR``, else the platform's cache folder for mfbench (platformdirs:
    ``$XDG_CACHE_HOME/mfbench`` or ``~/.cache/mfbench`` on Linux, ``~/Library/Caches/mfbench`` on
    macOS, ``%LOCALAPPDATA%\\mfbench\\Cache`` on Windows). A cache left at ``~/.cache/mfbench`` by
    an earlier mfbench on another platform is moved there once."""
    if os.environ.get("MFBENCH_CACHE_DIR"):
        return Path(os.environ["MFBENCH_CACHE_DIR"])
    import platformdirs

    folder = Path(platformdirs.user_cache_dir("mfbench", appauthor=False))
    old = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mfbench"
    if old != folder and old.is_dir() and not folder.exists():
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(old), str(folder))
    return folder
