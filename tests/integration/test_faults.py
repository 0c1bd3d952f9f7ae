"""Faults and bad input end in one clear line, never a traceback (``--debug`` shows it): a full
disk, a malformed baseline, damaged records, a dataset bigger than the machine's memory."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from support.cli import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SMALL = [
    "--algos",
    "global_mean",
    "--dataset",
    "synthetic",
    "--data-param",
    "synthetic.n_ratings=2000",
    "--no-calibrate",
    "-q",
]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full to fill a disk")
def test_a_full_disk_is_one_line_naming_the_file(tmp_path, capsys):
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "runs.jsonl").symlink_to("/dev/full")  # every write: ENOSPC
    code, out, err = run_cli(["run", *SMALL, "--out", str(tmp_path), "--run-id", "r"], capsys)
    assert code == 2
    assert err == (
        f"mfbench: error: {tmp_path / 'r' / 'runs.jsonl'}: No space left on device; free some space, or "
        "give --out a folder on another disk\n"
    )


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"cells": 5}', "cells = 5: not a baseline (cells is an object of cells by key)"),
        ('{"cells": {"a": 1}}', "cells['a'] = 1: not a cell"),
        (
            '{"cells": {"a": {"algorithm": "x", "fit_seconds": "fast", "calibrated_fit": 1}}}',
            "cells['a'].fit_seconds = \"fast\": not a number",
        ),
        (
            '{"cells": {"a": {"algorithm": "x", "fit_seconds": 1, "calibrated_fit": 0}}}',
            "calibrated_fit = 0: not positive",
        ),
        (
            '{"cells": {"a": {"algorithm": "x", "fit_seconds": 1, "calibrated_fit": 1, "threads_in_force": 2}}}',
            "threads_in_force = 2: not a table of thread counts",
        ),
        ('{"cells": {}, "calibration_seconds": "x"}', 'calibration_seconds = "x": not a positive number'),
        ('{"schema": "new", "cells": {}}', "schema = 'new': not a baseline schema version"),
        ('{"cells": {}, "fingerprint": 5}', "fingerprint = 5: not a machine's fingerprint"),
        ("[1, 2", "not a baseline (invalid JSON"),
        (b"\xff\xfe", "not a baseline (invalid JSON"),
    ],
)
def test_a_malformed_baseline_is_one_line(tmp_path, capsys, text, message):
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES / "runs", runs)
    base = tmp_path / "b.json"
    base.write_bytes(text if isinstance(text, bytes) else text.encode())
    code, out, err = run_cli(["gate", "a", "--out", str(runs), "--baseline", str(base)], capsys)
    assert code == 2 and err.startswith(f"mfbench: error: {base}: ") and message in err, err
    assert len(err.splitlines()) == 1


def test_damaged_record_lines_are_skipped_and_reported(tmp_path, capsys):
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES / "runs", runs)
    path = runs / "a" / "runs.jsonl"
    lines = path.read_bytes().splitlines()
    lines[1] = lines[1][: len(lines[1]) // 2]  # torn
    lines[3] = b"\xff\xfe" + lines[3][2:]  # not UTF-8
    lines.insert(4, b'{"cell_id": 5}')  # JSON, but no record
    path.write_bytes(b"\n".join(lines) + b"\n")
    code, out, err = run_cli(["report", "a", "--out", str(runs)], capsys)
    assert code == 0
    assert err == (
        f"note: {path}: lines 2, 4, 5 not a whole record (a run killed mid-write, or damage on disk): "
        "skipped; --resume runs their cells again\n"
    )
    assert "global_mean" in out


def test_a_dataset_bigger_than_memory_is_refused_before_allocating(capsys):
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "global_mean",
            "--dataset",
            "synthetic",
            "--data-param",
            "synthetic.n_users=20000000",
            "--data-param",
            "synthetic.n_items=200000",
            "--data-param",
            "synthetic.n_ratings=20000000000",
            "-q",
            "--no-calibrate",
        ],
        capsys,
    )
    assert code == 2 and len(err.splitlines()) == 1
    assert err.startswith(
        "mfbench: error: synthetic: n_ratings=20,000,000,000, n_users=20,000,000, n_items=200,000 "
        "needs about 298.9 GiB of cpu memory and "
    )
    assert err.rstrip().endswith("available; ask for fewer (--data-param synthetic.n_ratings=N)")


def test_a_model_bigger_than_memory_is_refused_before_allocating(tmp_path, capsys):
    """The cell fails at once with the estimate (no allocation, no kill by the kernel's OOM killer)."""
    code, out, err = run_cli(
        [
            "run",
            "--algos",
            "sgd,als",
            "--param",
            "sgd.k=10000000000",
            "--param",
            "als.k=2000000000",
            "--out",
            str(tmp_path),
            "--run-id",
            "big",
            "--no-calibrate",
        ],
        capsys,
    )
    records = [json.loads(line) for line in (tmp_path / "big" / "runs.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["failed", "failed"]
    assert records[0]["error"].startswith(
        "MfbenchError: SGD(k=10000000000) on 943 users x 1,682 items needs about 195577.7 GiB of cpu memory and "
    )
    assert records[1]["error"].startswith("MfbenchError: ALS(k=2000000000) on 943 users x 1,682 items needs about ")
    assert records[0]["error"].endswith("available; ask for a smaller model (k) or a smaller dataset")
    assert records[0]["peak_rss_bytes"] < 2**30


def test_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    runs = tmp_path / "runs"
    shutil.copytree(FIXTURES / "runs", runs)
    (tmp_path / "b.json").write_text('{"cells": 5}')
    args = ["gate", "a", "--out", str(runs), "--baseline", str(tmp_path / "b.json")]
    code, _, err = run_cli(args, capsys)
    assert "Traceback" not in err
    code, _, err = run_cli(["--debug", *args], capsys)
    assert code == 2 and "Traceback (most recent call last)" in err
    assert err.rstrip().endswith(
        "cells = 5: not a baseline (cells is an object of cells by key); write one with "
        "mfbench gate RUN --baseline FILE --update"
    )
    monkeypatch.setenv("MFBENCH_DEBUG", "1")
    code, _, err = run_cli(args, capsys)
    assert "Traceback (most recent call last)" in err


def test_an_unexpected_error_is_one_line_with_the_way_to_its_traceback(monkeypatch, capsys):
    import mfbench.commands.listing

    def boom(*args, **kwargs):
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(mfbench.commands.listing, "list_command", boom)
    code, _, err = run_cli(["list"], capsys)
    assert code == 70
    assert err == (
        "mfbench: internal error: ZeroDivisionError: planted (run again with --debug for the traceback, "
        "and report it)\n"
    )
