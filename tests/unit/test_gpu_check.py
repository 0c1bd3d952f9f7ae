"""tests/gpu/check.sh, checked where no GPU is: it installs without a network and selects every
conformance case that runs on the device."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECK = (REPO / "tests" / "gpu" / "check.sh").read_text()


def test_the_install_step_needs_no_network():
    (install,) = [line for line in CHECK.splitlines() if line.startswith("step install")]
    assert "--no-deps" in install and "--no-build-isolation" in install


def test_the_conformance_step_selects_the_device_comparison():
    """``-k gpu`` alone never selected ``test_check_devices_agree`` (neither parametrized by
    device nor marked): the selection check.sh uses must pick it and every ``[gpu]`` case."""
    (expr,) = re.findall(r'^conformance_gpu_k="([^"]+)"', CHECK, flags=re.M)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/conformance",
            "-k",
            expr,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    ).stdout
    selected = [line for line in out.splitlines() if "::" in line]
    assert any("test_check_devices_agree" in line for line in selected)
    assert any(line.endswith("[gpu]") for line in selected)
    assert not any(line.endswith("[cpu]") for line in selected)


def test_the_check_finds_carried_data_and_never_skips_for_want_of_it():
    """Only the checkout travels to a GPU machine: the accuracy tests of the lock-free kernel and
    of half precision skipped there. check.sh reads MovieLens from the carried, git-ignored
    .gpu-data/ (tests/gpu/carry-data.sh fills it) and sets CI, under which missing data fails."""
    assert 'export CI="${CI:-true}"' in CHECK
    assert "if [ -d .gpu-data/ml-100k ]" in CHECK
    assert "/.gpu-data/" in (REPO / ".gitignore").read_text().splitlines()
    assert (REPO / "tests" / "gpu" / "carry-data.sh").exists()


def test_the_steps_time_limits_fit_the_device_budget():
    """Every step runs under a limit of its own, and the GPU run's limits add up to 8 minutes at
    most, the whole check's budget on one H200; the table of steps goes to $OUT."""
    limits = dict(re.findall(r"^\s*(?:\S+=\S+ )?step ([a-z-]+) (\d+) ", CHECK, flags=re.M))
    rehearsal_only = {"smoke", "conformance-selection"}
    device_run = {name: int(s) for name, s in limits.items() if name not in rehearsal_only}
    assert {"install", "cupy", "gpu-tests", "conformance-gpu", "benchmarks", "mfbench-run"} <= set(device_run)
    assert sum(device_run.values()) <= 8 * 60, device_run
    assert '"$out/gpu-check-table.md"' in CHECK
