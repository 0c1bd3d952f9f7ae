"""``--executor dask`` against ``local`` on one machine: a 12-cell matrix of one-thread cells,
run both ways in interleaved rounds. Prints the wall-time ratio of the whole run (local / dask:
near the worker count when cells dominate, cluster start and calibrations included) and each
cell's fit-time ratio (dask / local: near 1 when a worker's cell gets its core to itself).

    pytest tests/benchmarks/test_dask_executor.py -s
"""

import time
from statistics import median

import pytest
from _bench import SCALE, interleaved, per_round, spread

pytest.importorskip("distributed", reason='pip install "mfbench[dask]"')

import mfbench  # noqa: E402

WORKERS = 2
MATRIX = dict(
    algos=["sgd", "als"],
    datasets=["synthetic"],
    seeds=list(range(6)),
    threads=1,
    calibrate=False,
    data_params={"synthetic": {"n_ratings": int(200_000 * SCALE)}},
    params={"sgd": {"epochs": 40}, "als": {"epochs": 8}},
)


def test_dask_with_two_workers_against_local(tmp_path):
    fits = {"local": [], "dask": []}

    def side(executor, options):
        def once():
            t0 = time.perf_counter()
            res = mfbench.run(**MATRIX, out=tmp_path, executor=executor, executor_params=options)
            wall = time.perf_counter() - t0
            assert len(res) == 12 and res.ok
            fits[executor].append({r["cell_id"]: r["fit_seconds"] for r in res.records})
            return wall

        return once

    walls = interleaved({"local": side("local", None), "dask": side("dask", {"workers": WORKERS})}, rounds=3)
    speedup = per_round(walls["local"], walls["dask"])
    cell_ratios = [median(d[c] / l[c] for c in l) for l, d in zip(fits["local"], fits["dask"])]
    print(
        f"\n12 one-thread cells, wall seconds: local {spread(walls['local'])}, dask ({WORKERS} workers) "
        f"{spread(walls['dask'])}\nlocal / dask wall, round by round: {spread(speedup, '.2f')}\n"
        f"dask / local fit time, median over cells, round by round: {spread(cell_ratios, '.2f')}"
    )
    assert median(speedup) > 1.2, "two workers should finish a 12-cell run well before one"
