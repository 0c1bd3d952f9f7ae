"""The same-machine gate end to end: real revisions of a scratch clone, real ``mfbench run``
processes on both sides, in alternating pairs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import run_cli
from support.planted import commit, scratch_clone, sleeper

RUN = "--algos sleeper,global_mean --dataset synthetic --data-param synthetic.n_ratings=2000 --threads 1"


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """``base``: ``sleeper`` sleeps 30 ms an epoch; ``slower``: 60 ms, a planted 2x slowdown."""
    path = scratch_clone(tmp_path_factory.mktemp("gate") / "repo")
    commit(path, "base", sleeper(0.03))
    commit(path, "slower", sleeper(0.06), parent="base")
    (path / "gate.toml").write_text(f'reference = "base"\nrun = "{RUN}"\nsteps = [6]\nbudget_seconds = 120\n')
    return path


def _mfbench(clone: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mfbench", *args], cwd=clone, capture_output=True, text=True)


def test_a_planted_slowdown_fails_naming_its_cell(clone):
    done = _mfbench(clone, "gate", "--gate-file", "gate.toml", "--head", "slower")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    failing = [line for line in lines if line.endswith(": FAIL")]
    assert len(failing) == 1 and failing[0].startswith("sleeper|synthetic|"), done.stdout
    ratio = float(failing[0].split(": ")[1].split("x")[0])
    assert 1.7 < ratio < 2.3  # 3 x 60 ms against 3 x 30 ms, and the timer's overhead
    assert "over 6 pairs" in failing[0]
    assert any(line.startswith("global_mean|") and "accuracy only" in line for line in lines)
    assert "reference A: " in done.stderr and "6 pairs" in done.stderr  # progress on stderr
    assert "FAIL: 1 failing" in done.stdout


def test_ab_prints_each_cell_with_its_interval(clone):
    done = _mfbench(clone, "ab", "base", "--head", "base", "--pairs", "8", "-q", "--", *RUN.split())
    assert done.returncode == 0, done.stdout + done.stderr
    row = next(line for line in done.stdout.splitlines() if line.startswith("sleeper|"))
    ratio, lo, hi = (float(x.strip("x[],")) for x in row.split()[3:6])
    assert 0.5 < lo <= ratio <= hi < 2 and 0.9 < ratio < 1.1, row  # 8 pairs bound a 97.5% interval a cell


def test_a_reference_that_is_no_commit_is_one_clear_line(clone):
    done = _mfbench(clone, "gate", "--gate-file", "gate.toml", "--against", "no-such-rev")
    assert done.returncode == 2
    assert done.stderr.strip() == f"mfbench: error: 'no-such-rev' is not a commit of {clone}"


@pytest.mark.parametrize(
    "text, message",
    [
        ('run = "--algos als"\nsteps = [8, 4]\n', "steps = [8, 4]: give increasing pair counts"),
        ('run = "--algos als"\ntolerance = 1.1\n', "unknown key 'tolerance'"),
        ('run = "--algos als"\nmax_slowdown = 0.9\n', "max_slowdown = 0.9: give a ratio above 1"),
        ('run = "--algos als"\nconfidence = "high"\n', "confidence = 'high': give family-wise confidence"),
        ('reference = "base"\n', "no run = "),
        ('run = "--algos \'als"\n', "No closing quotation"),
        ("run = [\n", "invalid TOML"),
    ],
)
def test_a_bad_gate_file_names_the_file_and_the_key(tmp_path, capsys, text, message):
    path = tmp_path / "gate.toml"
    path.write_text(text)
    code, out, err = run_cli(["gate", "--gate-file", str(path)], capsys)
    assert code == 2 and err.startswith(f"mfbench: error: {path}: ") and message in err, err
    assert "Traceback" not in err


def test_history_against_a_baseline_of_another_machine_is_no_verdict(tmp_path, capsys):
    from mfbench.results import write_json_atomic

    runs = tmp_path / "runs"
    import shutil

    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "runs", runs)
    base = tmp_path / "baseline.json"
    assert run_cli(["gate", "a", "--out", str(runs), "--baseline", str(base), "--update"], capsys)[0] == 0
    baseline = json.loads(base.read_text())
    assert baseline["schema"] == 3 and baseline["fingerprint"]["cpu"]
    baseline["fingerprint"]["cpu"] = "Another CPU"
    write_json_atomic(base, baseline)
    code, out, _ = run_cli(["gate", "b", "--out", str(runs), "--baseline", str(base), "--min-seconds", "0"], capsys)
    assert code == 0  # b is 1.5x slower in sgd, but the baseline's machine is another
    assert "comes from another machine (cpu: 'Another CPU' there" in out
    assert "history only, exit 0" in out and "FAIL" not in out
