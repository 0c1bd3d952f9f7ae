"""Epoch time of one mfbench cell at two git revisions, in interleaved rounds (A B, B A, ...).

    python tests/benchmarks/compare_revisions.py BASE_REV --rounds 3 -- \\
        --algos adamax_sgd --dataset synthetic-ml20m --param adamax_sgd.epochs=2 --threads 2

BASE_REV is checked out in a temporary worktree and imported ahead of the installed mfbench
(``PYTHONPATH``); the other side is the working tree as installed. Each round runs ``mfbench run``
once per side, in a fresh process, with the arguments after ``--``; the last epoch of the run's
last cell is its sample (the first may hold warm-up). Prints each side's epoch seconds and RMSE
as median [min, max], and the round-by-round ratio BASE/HEAD.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "plugins", "datasets")


def _spread(values: list[float], fmt: str = ".3f") -> str:
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def _sample(args: list[str], out: Path, pythonpath: str | None) -> tuple[float, float]:
    env = dict(os.environ)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    shutil.rmtree(out, ignore_errors=True)
    mfbench = Path(sys.executable).with_name("mfbench")
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(mfbench), "run", *args, "--out", str(out), "--run-id", "r", "-q", "--no-calibrate"],
                   check=True, env=env, cwd=out.parent)
    rec = [json.loads(line) for line in (out / "r" / "runs.jsonl").read_text().splitlines()][-1]
    if rec["status"] != "ok":
        raise SystemExit(f"{rec['cell_id']}: {rec['status']}: {rec['error']}")
    return rec["epoch_seconds"][-1], rec["metrics"]["rmse"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    ours, run_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     usage="%(prog)s BASE_REV [--rounds N] -- MFBENCH_RUN_ARGS...")
    parser.add_argument("base", help="the git revision to compare the working tree with")
    parser.add_argument("--rounds", type=int, default=3)
    opts = parser.parse_args(ours)
    if not run_args:
        parser.error("give the arguments of mfbench run after --")
    with tempfile.TemporaryDirectory(prefix="mfbench-revisions-") as tmp:
        tree = Path(tmp) / "base"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(tree), opts.base], check=True)
        try:
            sides = {"base": os.pathsep.join(str(tree / p) for p in PACKAGES), "head": None}
            samples: dict[str, list[tuple[float, float]]] = {"base": [], "head": []}
            for r in range(opts.rounds):
                for side in (["base", "head"] if r % 2 == 0 else ["head", "base"]):
                    samples[side].append(_sample(run_args, Path(tmp) / "runs" / side, sides[side]))
                    print(f"round {r + 1} {side}: {samples[side][-1][0]:.3f} s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=False)
    for side, values in samples.items():
        print(f"{side} ({opts.base if side == 'base' else 'working tree'}): epoch s "
              f"{_spread([v[0] for v in values])}, RMSE {_spread([v[1] for v in values], '.4f')}")
    ratios = [b[0] / h[0] for b, h in zip(samples["base"], samples["head"])]
    print(f"base/head epoch time: {_spread(ratios, '.2f')}")


if __name__ == "__main__":
    main()
