"""The HTML report: one self-contained page (no network), with its sections, tested in a
real browser (headless Chromium: Debian's ``chromium``, which ``.ci/run`` installs)."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from support.cli import run_cli

pytest.importorskip("matplotlib", reason="the plot extra is part of the test extras")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runs"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "chrome")


@pytest.fixture
def runs(tmp_path):
    for name in ("a", "b"):
        shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path


def external_references(page: str) -> list[str]:
    """Every ``src``/``href`` that would fetch something: only in-page (``#``) and ``data:``
    references are allowed; ``xmlns`` namespace names are identifiers, not fetches."""
    refs = re.findall(r'\b(?:src|href|xlink:href)\s*=\s*"([^"]*)"', page)
    bad = [r for r in refs if not r.startswith(("#", "data:"))]
    bad += re.findall(r"<link\b[^>]*>", page) + re.findall(r"@import|url\(\s*['\"]?http", page)
    return bad


def test_the_run_page_holds_every_section_and_fetches_nothing(runs, capsys):
    page_path = runs / "report.html"
    code, out, err = run_cli(["report", "b", "--out", str(runs), "--html", str(page_path)], capsys)
    assert code == 0, err
    assert f"HTML report: {page_path}" in err
    page = page_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    for section in ("Comparison", "Accuracy against time", "Learning curves", "Costs", "Environment"):
        assert f"<h2>{section}</h2>" in page, section
    assert page.count("<svg") == 4  # accuracy-time, curves by epoch and by time, costs
    assert external_references(page) == []
    assert "biases on synthetic (cpu): failed: RuntimeError: planted failure" in page
    assert "CPU and GPU" not in page  # one device only
    env = json.loads((runs / "b" / "environment.json").read_text())
    assert f"{env['calibration_seconds']:.3f} s" in page and env["versions"]["numpy"] in page
    assert "mfbench run --algos global_mean,biases,sgd" in page  # the command, from request.json


def test_cpu_and_gpu_side_by_side(runs, capsys):
    path = runs / "a" / "runs.jsonl"
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    gpu = []
    for r in recs:
        if r["algorithm"] == "sgd":
            g = dict(
                r,
                device="gpu",
                cell_id=r["cell_id"].replace("|cpu|", "|gpu|"),
                peak_gpu_bytes=50 * 2**20,
                fit_seconds=r["fit_seconds"] / 4,
                epoch_seconds=[s / 4 for s in r["epoch_seconds"]],
            )
            gpu.append(g)
    path.write_text("".join(json.dumps(r) + "\n" for r in recs + gpu))
    page_path = runs / "both.html"
    code, _, err = run_cli(["report", "a", "--out", str(runs), "--html", str(page_path)], capsys)
    assert code == 0, err
    page = page_path.read_text()
    section = page[page.index("<h2>CPU and GPU</h2>") :]
    assert ">sgd<" in section and "4.00x" in section and "peak GPU MB" in page


def test_the_compare_page(runs, capsys):
    page_path = runs / "compare.html"
    code, out, err = run_cli(["compare", "a", "b", "--out", str(runs), "--html", str(page_path)], capsys)
    assert code == 0, err
    page = page_path.read_text()
    marks = re.findall(r'<td class="mark">(.)</td><td>([a-z_]+)</td>', page)
    assert marks == [("~", "global_mean"), ("!", "biases"), ("+", "sgd")]
    assert "<h2>A: a</h2>" in page and "<h2>B: b</h2>" in page and page.count("<svg") == 1
    assert external_references(page) == []


def browser() -> str:
    found = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("no headless browser in CI: .ci/run installs Debian's chromium", pytrace=False)
        pytest.skip("no chromium here (apt-get install chromium); CI installs it")
    return found


def load_in_browser(page: Path, shot: Path) -> list[str]:
    """Open ``page`` in headless Chromium, screenshot it; return its console messages."""
    cmd = [
        browser(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1280,3000",
        f"--screenshot={shot}",
        page.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def not_blank(shot: Path) -> float:
    """The share of the screenshot's pixels that are not the background white."""
    import matplotlib.image as mpimg
    import numpy as np

    img = mpimg.imread(shot)[..., :3]
    return float((np.abs(img - 1.0).sum(axis=-1) > 0.1).mean())


def test_the_browser_check_catches_a_broken_page(tmp_path):
    """The check below is not vacuous: a page whose script fails is caught."""
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><p>x</p><script>noSuchFunction();</script></body></html>")
    console = load_in_browser(bad, tmp_path / "bad.png")
    assert any("Uncaught ReferenceError" in line for line in console), console


@pytest.mark.realdata
def test_an_ml100k_report_opens_in_a_browser(tmp_path, capsys, data_dir):
    code, _, err = run_cli(
        [
            "run",
            "--algos",
            "biases,sgd,als",
            "--dataset",
            "ml-100k",
            "--folds",
            "official@1",
            "--param",
            "sgd.epochs=5",
            "--param",
            "als.epochs=3",
            "--valid",
            "0.05",
            "--data-dir",
            str(data_dir),
            "--out",
            str(tmp_path),
            "--run-id",
            "ml",
            "-q",
        ],
        capsys,
    )
    assert code == 0, err
    page = tmp_path / "ml.html"
    code, _, err = run_cli(["report", "ml", "--out", str(tmp_path), "--html", str(page)], capsys)
    assert code == 0, err
    console = load_in_browser(page, tmp_path / "ml.png")
    assert console == [], console
    assert not_blank(tmp_path / "ml.png") > 0.05
