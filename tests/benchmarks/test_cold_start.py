"""A first run's compilation: the default ``mfbench run`` with an empty numba cache, against a reference.

Each round runs the README's first command (``mfbench run``: the main families on the embedded
synthetic dataset) once at the reference commit and once at the working tree, in alternating
order, each in a fresh process with a numba cache of its own that starts empty. The reference is
exported with ``git archive`` as ``mfbench gate`` does (``mfbench.revisions``). A round's figure
is the sum of its cells' ``prepare_seconds`` (where every numba kernel a cell runs is compiled);
the run's wall time is printed beside it. The ratio working tree / reference is the median of the
rounds' ratios with its range; the test asserts that it is at most a third.

    MFBENCH_COLD_REFERENCE=1f6e6eb pytest tests/benchmarks/test_cold_start.py -s
    python tests/benchmarks/test_cold_start.py --rounds 5 --reference 1f6e6eb

The default reference is 1f6e6eb, the last commit before the kernels were reworked for
compilation time. Needs a git checkout (the reference is read from its history).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

import pytest

from mfbench import revisions

REFERENCE = os.environ.get("MFBENCH_COLD_REFERENCE", "1f6e6eb")


def cold_run(side: revisions.Side) -> tuple[float, float, dict[str, float]]:
    """One default ``mfbench run`` on ``side`` with an empty numba cache: ``(sum of prepare,
    wall seconds, prepare by algorithm)``."""
    with tempfile.TemporaryDirectory(prefix="mfbench-cold-") as tmp:
        env = {**os.environ, **side.env, "NUMBA_CACHE_DIR": str(Path(tmp) / "numba")}
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mfbench",
                "run",
                "--out",
                str(Path(tmp) / "out"),
                "--run-id",
                "cold",
                "-q",
                "--no-calibrate",
            ],
            env=env,
            cwd=tmp,
            check=True,
            capture_output=True,
        )
        wall = time.perf_counter() - t0
        records = [json.loads(line) for line in (Path(tmp) / "out" / "cold" / "runs.jsonl").read_text().splitlines()]
    assert all(r["status"] == "ok" for r in records), [r.get("error") for r in records]
    by_algo = {r["algorithm"]: r["prepare_seconds"] for r in records}
    return sum(by_algo.values()), wall, by_algo


def compare(reference: str, rounds: int, echo=print) -> list[float]:
    """``rounds`` alternating pairs of cold runs; returns the ratios working tree / reference."""
    repo = revisions.repo_root(Path(__file__).parent)
    sides = [revisions.revision(repo, reference), revisions.working_tree(repo)]
    ratios = []
    for r in range(rounds):
        order = sides if r % 2 == 0 else sides[::-1]
        result = {}
        for side in order:
            result[side.label] = cold_run(side)
            total, wall, by_algo = result[side.label]
            echo(
                f"round {r + 1} {side.label}: prepare {total:.2f} s (wall {wall:.1f} s) "
                + " ".join(f"{a} {s:.2f}" for a, s in by_algo.items())
            )
        ratios.append(result[sides[1].label][0] / result[sides[0].label][0])
    echo(
        f"cold compilation, working tree / {sides[0].label}: {median(ratios):.2f}x "
        f"[{min(ratios):.2f}, {max(ratios):.2f}] over {rounds} rounds"
    )
    return ratios


@pytest.mark.slow
def test_a_cold_first_run_compiles_in_a_third_of_the_reference_time():
    ratios = compare(REFERENCE, 3)
    assert median(ratios) <= 1 / 3


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", default=REFERENCE)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    compare(args.reference, args.rounds)
