"""The Python API works wherever Python runs: a script without a main guard, standard input,
``python -c``, IPython, a Jupyter kernel, a dask worker. Cells never re-import the user's
``__main__`` (a script would otherwise start its run again inside each cell)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""\
    import mfbench
    res = mfbench.run(algos=["global_mean"], datasets=["synthetic"], out={out!r},
                      data_params={{"synthetic": {{"n_ratings": 2000}}}})
    print("cells ok:", sum(r["status"] == "ok" for r in res.records))
""")


def _script(tmp_path: Path) -> str:
    return SCRIPT.format(out=str(tmp_path / "results"))


def _check(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cells ok: 1" in done.stdout, done.stdout + done.stderr


def test_a_script_without_a_main_guard(tmp_path):
    path = tmp_path / "analysis.py"
    path.write_text(_script(tmp_path))
    _check(subprocess.run([sys.executable, str(path)], cwd=tmp_path, capture_output=True, text=True, timeout=120))


def test_a_script_on_standard_input(tmp_path):
    _check(
        subprocess.run(
            [sys.executable, "-"], input=_script(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    )


def test_python_dash_c(tmp_path):
    _check(
        subprocess.run(
            [sys.executable, "-c", _script(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
    )


def test_ipython(tmp_path):
    pytest.importorskip("IPython", reason="IPython comes with the test extras (ipykernel)")
    _check(
        subprocess.run(
            [sys.executable, "-m", "IPython", "--no-banner", "--quick", "-c", _script(tmp_path)],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    )


def test_a_jupyter_notebook(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the test extras")
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(_script(tmp_path))])
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    out = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("output_type") == "stream")
    assert "cells ok: 1" in out, nb.cells[0].outputs


def _run_on_a_worker(out: str) -> int:
    import mfbench

    res = mfbench.run(
        algos=["global_mean"], datasets=["synthetic"], out=out, data_params={"synthetic": {"n_ratings": 2000}}
    )
    return sum(r["status"] == "ok" for r in res.records)


def test_inside_a_dask_worker(tmp_path):
    distributed = pytest.importorskip("distributed", reason="dask comes with the test extras")
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        assert client.submit(_run_on_a_worker, str(tmp_path / "results")).result(timeout=120) == 1
