"""What a run says while it runs: its cell count, each cell's end, and the time left; a plan of
more than 1,000 cells is confirmed first."""

from __future__ import annotations

import io

import pytest

import mfbench
from mfbench._progress import Progress, duration, eta
from mfbench.errors import MfbenchError

SMALL = {"synthetic": {"n_ratings": 2000}}


def test_durations_read_like_a_person_writes_them():
    assert [duration(s) for s in (0.4, 42, 200, 7500)] == ["0 s", "42 s", "3 min 20 s", "2 h 05 min"]
    assert eta(10.0, 2, 10) == "about 40 s" and eta(0.0, 0, 10) == "unknown"


def test_lines_off_a_terminal_say_the_time_left():
    out = io.StringIO()
    p = Progress(3, stream=out)
    rec = {"status": "ok", "metrics": {"rmse": 1.0}, "fit_seconds": 0.1, "epochs": 1}
    p.cell_done(rec, "a")
    p.cell_done(rec, "b")
    p.cell_done(rec, "c")
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[1/3] a: ok rmse 1.0000") and lines[0].endswith(" left")
    assert "· about " in lines[1] and lines[2].endswith("1 epochs)")  # the last: nothing left


def test_a_plan_above_a_thousand_cells_runs_only_when_confirmed(tmp_path):
    asked = []

    def no(cells: int) -> bool:
        asked.append(cells)
        return False

    with pytest.raises(MfbenchError, match=r"1,001 cells planned and not confirmed: nothing ran \(mfbench run --yes"):
        mfbench.api.execute(
            mfbench.api.request(
                ["global_mean"],
                ["synthetic"],
                seeds=1001,
                data_params=SMALL,
                out=tmp_path,
                run_id="big",
                calibrate=False,
            ),
            confirm=no,
        )
    assert asked == [1001] and not (tmp_path / "big").exists()
    small = mfbench.api.request(
        ["global_mean"], ["synthetic"], seeds=2, data_params=SMALL, out=tmp_path, run_id="small", calibrate=False
    )
    assert not mfbench.api.execute(small, confirm=no).interrupted and asked == [1001]  # 2 cells: not asked
