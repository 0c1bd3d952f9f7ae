"""Golden outputs: ``report``, ``compare`` and ``gate`` on two small committed run folders
(``tests/fixtures/runs``: ``a``, and ``b``, a copy of it with sgd planted 1.5x slower and one
biases cell failed) print exactly the committed text (``tests/fixtures/golden``).

After a deliberate change of the output, rewrite the golden files with
``MFBENCH_UPDATE_GOLDEN=1 pytest tests/integration/test_golden.py`` and review the diff.
"""

import os
import shutil
from pathlib import Path

import pytest

from support.cli import run_cli

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
UPDATE = bool(os.environ.get("MFBENCH_UPDATE_GOLDEN"))


@pytest.fixture
def runs(tmp_path):
    for name in ("a", "b"):
        shutil.copytree(FIXTURES / "runs" / name, tmp_path / name)
    return tmp_path


def check(name: str, text: str, runs: Path) -> None:
    text = text.replace(str(runs), "<out>")
    golden = FIXTURES / "golden" / name
    if UPDATE:
        golden.write_text(text, newline="")  # csv rows end in \r\n, kept as written
    with open(golden, newline="") as fh:
        want = fh.read()
    assert text == want, f"output differs from {golden}; if meant, MFBENCH_UPDATE_GOLDEN=1"


@pytest.mark.parametrize("fmt", ["table", "md", "csv", "json"])
def test_report(runs, capsys, fmt):
    code, out, err = run_cli(["report", "b", "--out", str(runs), "--format", fmt], capsys)
    assert code == 0, err
    check(f"report_b.{fmt}", out, runs)


def test_compare(runs, capsys):
    code, out, err = run_cli(["compare", "a", "b", "--out", str(runs)], capsys)
    assert code == 0, err
    check("compare_a_b.txt", out + err, runs)


def test_gate(runs, capsys):
    base = runs / "baseline.json"
    code, _, err = run_cli(["gate", "a", "--out", str(runs), "--baseline", str(base), "--update"], capsys)
    assert code == 0, err
    code, out, err = run_cli(["gate", "b", "--out", str(runs), "--baseline", str(base), "--min-seconds", "0"], capsys)
    assert code == 1
    check("gate_b.txt", out + err, runs)
