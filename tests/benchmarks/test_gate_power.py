"""The same-machine gate's power on this machine: how often it catches a planted slowdown, how often
it cries wolf, and what a gate costs.

A scratch clone of this repository gets three commits on top of HEAD:

- ``base``: a fake algorithm ``busywork`` (registered through an entry point, as a plugin
  package's would be: ``tests/support/planted.py``) whose epochs multiply float32 matrices, ``work`` products an epoch;
- ``+10%`` and ``+25%``: ``busywork`` doing that much more work an epoch, and ``als`` with the same
  share of busy-waiting added inside each timed epoch (same factors, same RMSE).

Each trial is one ``mfbench gate --head REV --against base`` over the two cells on ml-100k u1,
with the gate file's plan; ``unchanged`` trials time ``base`` against itself. Prints, per
condition and cell, the FAIL rate, and the gates' median time.

    MFBENCH_DATA_DIR=../shared/data pytest tests/benchmarks/test_gate_power.py -s
    MFBENCH_POWER_TRIALS=20 ...   # trials per condition (default 6)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

import pytest

from support.planted import commit, scratch_clone

TRIALS = int(os.environ.get("MFBENCH_POWER_TRIALS", "6"))

BUSYWORK = '''
import numpy as np
import mfbench
from mfbench import Algorithm


class Busywork(Algorithm):
    """Predicts the mean; each epoch multiplies ``work`` pairs of 256 x 256 float32 matrices."""

    state_attrs = ("mu_",)

    def __init__(self, *, work: int = 60, epochs: int = 5, device="cpu", seed=0):
        super().__init__(device=device, seed=seed)
        self.work, self.epochs = work, epochs

    def fit(self, train, valid=None):
        rng = np.random.default_rng(self.seed)
        a = rng.standard_normal((256, 256), dtype=np.float32)
        self.mu_ = float(train.values.mean())
        for _ in range(self.epochs):
            for _ in range(round(self.work * FACTOR)):
                a = (a @ a) * np.float32(1 / 16)
            yield {}

    def _predict(self, users, items):
        return np.full(len(users), self.mu_, np.float32)


@mfbench.hookimpl
def mfbench_algorithms():
    return [mfbench.AlgorithmSpec("busywork", Busywork, "planted work", devices=("cpu",))]
'''

ALS_PLANT = (
    "            t2 = time.perf_counter()\n",
    "            t2 = time.perf_counter()\n"
    "            _until = t0 + (t2 - t0) * FACTOR\n"
    "            while time.perf_counter() < _until:\n"
    "                pass\n",
)

GATE = """reference = "base"
run = "--algos busywork,als --dataset ml-100k --folds official@1 --threads 1"
max_slowdown = 1.05
confidence = 0.80
steps = [8, 12, 16, 24, 32]
budget_seconds = 240
"""


def _planted(clone: Path, tag: str, factor: float, parent: str | None = None) -> None:
    """Commit the busywork plugin and the als edit whose work grows ``factor`` times, as ``tag``."""
    edits = (
        {}
        if factor == 1.0
        else {
            "plugins/mfbench_plugins/algorithms/als.py": lambda text: text.replace(*ALS_PLANT).replace(
                "import time\n", f"import time\n\nFACTOR = {factor}\n", 1
            )
        }
    )
    commit(clone, tag, f"FACTOR = {factor}\n" + BUSYWORK, parent=parent, edits=edits)


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    path = scratch_clone(tmp_path_factory.mktemp("power") / "repo")
    _planted(path, "base", 1.0)
    _planted(path, "plus10", 1.10, parent="base")
    _planted(path, "plus25", 1.25, parent="base")
    (path / "gate.toml").write_text(GATE)
    return path


def _gate(clone: Path, head: str, data: Path) -> tuple[dict[str, str], float, str]:
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mfbench", "gate", "--gate-file", "gate.toml", "--head", head, "-q"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "MFBENCH_DATA_DIR": str(data)},
    )
    seconds = time.perf_counter() - t0
    verdicts = dict(re.findall(r"^(\w+)\|.*: (PASS|FAIL|INCONCLUSIVE)$", done.stdout, re.M))
    assert done.returncode in (0, 1, 3), done.stderr
    return verdicts, seconds, done.stdout


@pytest.mark.realdata
def test_gate_power(clone, data_dir):
    conditions = {"unchanged": "base", "+10%": "plus10", "+25%": "plus25"}
    tally: dict[str, dict[str, list[str]]] = {c: {"busywork": [], "als": []} for c in conditions}
    seconds: list[float] = []
    for trial in range(TRIALS):
        for condition, head in conditions.items():  # conditions interleaved, trial by trial
            verdicts, took, out = _gate(clone, head, data_dir)
            seconds.append(took)
            for cell in ("busywork", "als"):
                tally[condition][cell].append(verdicts.get(cell, "?"))
            print(f"trial {trial + 1} {condition}: {verdicts} in {took:.0f} s", flush=True)
    print(
        f"\n{TRIALS} trials a condition; a gate took {median(seconds):.0f} s [{min(seconds):.0f}, {max(seconds):.0f}]"
    )
    for condition, cells in tally.items():
        for cell, verdicts in cells.items():
            print(
                f"{condition:9} {cell:8} FAIL {verdicts.count('FAIL')}/{len(verdicts)}, "
                f"INCONCLUSIVE {verdicts.count('INCONCLUSIVE')}, PASS {verdicts.count('PASS')}"
            )
    for cell in ("busywork", "als"):
        assert tally["unchanged"][cell].count("FAIL") <= max(1, TRIALS // 20)
        assert tally["+25%"][cell].count("FAIL") >= 0.8 * TRIALS
