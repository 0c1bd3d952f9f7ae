"""Ctrl-C and SIGTERM stop a run within two seconds: the running cell's process group is killed,
the cell is recorded ``interrupted``, nothing is left running, the exit code is the shell's
(130, 143), and ``--resume`` finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUN = [
    "run",
    "--algos",
    "global_mean,biases",
    "--dataset",
    "synthetic",
    "--param",
    "biases.epochs=3000",
    "--no-calibrate",
]


def _live(session: int) -> list[str]:
    """Processes of ``session`` that are not zombies (a zombie is dead, waiting to be reaped)."""
    out = subprocess.run(["pgrep", "-s", str(session)], capture_output=True, text=True).stdout.split()
    live = []
    for pid in out:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            live.append(pid)
    return live


def _start(tmp_path: Path, run_id: str) -> subprocess.Popen:
    """``mfbench run`` in a session of its own, as from a terminal (SIGINT not ignored), once its
    second cell is under way."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mfbench", *RUN, "--out", str(tmp_path), "--run-id", run_id],
        start_new_session=True,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    records = tmp_path / run_id / "runs.jsonl"
    deadline = time.monotonic() + 60
    while not (records.exists() and records.read_text().count("\n") >= 1):  # global_mean done: biases runs
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)
    return proc


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="process groups are POSIX")
@pytest.mark.parametrize("how, code", [("SIGINT to the group", 130), ("SIGTERM to mfbench", 143)])
def test_a_signal_stops_the_run_and_resume_finishes_it(tmp_path, how, code):
    proc = _start(tmp_path, "r")
    t0 = time.monotonic()
    if how.startswith("SIGINT"):
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C at a terminal does
    else:
        os.kill(proc.pid, signal.SIGTERM)  # what a CI runner or a process manager does
    _, err = proc.communicate(timeout=30)
    took = time.monotonic() - t0
    assert proc.returncode == code, err
    assert took < 2.0, f"stopped after {took:.2f} s"
    time.sleep(1.0)
    assert _live(proc.pid) == [], "processes left behind"
    assert "continue with: mfbench run ... --resume r" in err
    recs = [json.loads(line) for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()]
    assert [(r["algorithm"], r["status"]) for r in recs] == [("global_mean", "ok"), ("biases", "interrupted")]
    assert how.split()[0] in recs[1]["error"]
    done = subprocess.run(
        [sys.executable, "-m", "mfbench", *RUN, "--out", str(tmp_path), "--resume", "r"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    latest = {
        json.loads(line)["algorithm"]: json.loads(line)["status"]
        for line in (tmp_path / "r" / "runs.jsonl").read_text().splitlines()
    }
    assert latest == {"global_mean": "ok", "biases": "ok"}


def test_a_run_folder_has_one_writer(tmp_path):
    from mfbench.errors import MfbenchError
    from mfbench.results import RunStore

    first = RunStore(tmp_path, "same")
    with first.locked():
        holder = json.loads((tmp_path / "same" / ".lock").read_text())
        assert holder["pid"] == os.getpid()
        with pytest.raises(MfbenchError, match=rf"in use by another mfbench run \(PID {os.getpid()} on "):
            with RunStore(tmp_path, "same").locked():
                pass
    assert not (tmp_path / "same" / ".lock").exists()  # released


def test_a_lock_left_by_a_dead_run_is_taken_over_with_a_note(tmp_path):
    from mfbench.results import RunStore

    (tmp_path / "same").mkdir()
    (tmp_path / "same" / ".lock").write_text(json.dumps({"pid": 999999, "host": "gone", "started": "then"}))
    notes = []
    with RunStore(tmp_path, "same").locked(notes.append):
        pass
    assert notes == [
        f"{tmp_path / 'same'}: the run that held it (PID 999999 on gone) ended without releasing it; taken over"
    ]


def test_two_runs_of_one_id_started_together(tmp_path):
    args = [
        sys.executable,
        "-m",
        "mfbench",
        "run",
        "--algos",
        "global_mean,biases",
        "--dataset",
        "synthetic",
        "--param",
        "biases.epochs=3000",
        "--no-calibrate",
        "--out",
        str(tmp_path),
        "--run-id",
        "same",
        "-q",
    ]
    first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / "same" / ".lock"
    deadline = time.monotonic() + 60
    while not (lock.exists() and lock.read_text()):
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    holder = json.loads(lock.read_text())
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2
    assert second.stderr.strip() == (
        f"mfbench: error: {tmp_path / 'same'} is in use by another mfbench run (PID "
        f"{first.pid} on {holder['host']}, since {holder['started']}): wait for it to "
        "end, or give another --run-id"
    )
    assert first.wait(timeout=120) == 0
    assert len((tmp_path / "same" / "runs.jsonl").read_text().splitlines()) == 2
