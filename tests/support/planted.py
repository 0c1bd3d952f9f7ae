"""Scratch clones of this repository with planted commits, for tests of the same-machine gate.

``scratch_clone`` clones the repository (objects shared, nothing copied) and registers a plugin
module ``mfbench_plugins.planted`` through an entry point, as a plugin package would; ``commit``
writes that module (and optionally edits other files) on top of a parent and tags the commit.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = Path("plugins") / "mfbench_plugins" / "planted.py"


def _git(clone: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(clone), "-c", "user.name=test", "-c", "user.email=test@localhost", *args],
        check=True,
        capture_output=True,
    )


def scratch_clone(path: Path) -> Path:
    subprocess.run(["git", "clone", "-q", "--shared", str(REPO), str(path)], check=True, capture_output=True)
    pyproject = path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'datasets = "mfbench_datasets"\n', 'datasets = "mfbench_datasets"\nplanted = "mfbench_plugins.planted"\n'
        )
    )
    return path


def commit(
    clone: Path,
    tag: str,
    plugin_source: str,
    parent: str | None = None,
    edits: dict[str, Callable[[str], str]] | None = None,
) -> None:
    """Commit ``plugin_source`` as the planted plugin (and ``edits``: path -> text -> new text) on
    ``parent`` (default: the clone's HEAD), tagged ``tag``."""
    if parent:
        _git(clone, "checkout", "-q", parent)
    (clone / PLUGIN).write_text(plugin_source)
    for name, edit in (edits or {}).items():
        (clone / name).write_text(edit((clone / name).read_text()))
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", f"planted {tag}")
    _git(clone, "tag", tag)


def sleeper(seconds: float) -> str:
    """A plugin whose algorithm ``sleeper`` predicts the mean and sleeps ``seconds`` an epoch."""
    return f"""import time

import numpy as np

import mfbench
from mfbench import Algorithm


class Sleeper(Algorithm):
    state_attrs = ("mu_",)

    def __init__(self, *, epochs: int = 3, device="cpu", seed=0):
        super().__init__(device=device, seed=seed)
        self.epochs = epochs

    def fit(self, train, valid=None):
        self.mu_ = float(train.values.mean())
        for _ in range(self.epochs):
            time.sleep({seconds})
            yield {{}}

    def _predict(self, users, items):
        return np.full(len(users), self.mu_, np.float32)


@mfbench.hookimpl
def mfbench_algorithms():
    return [mfbench.AlgorithmSpec("sleeper", Sleeper, "sleeps", devices=("cpu",))]
"""
