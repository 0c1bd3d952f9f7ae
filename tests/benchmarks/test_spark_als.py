"""``als`` against Spark MLlib's ALS (``spark_als``) in one run, same model (ALS-WR, no biases)
at k=64 and 5 iterations, on ml-100k and the ML-20M shape: prepare (MLlib: the JVM's start and
the DataFrame), seconds per iteration, RMSE and the cell's peak RSS, the JVM included. The honest
cost of a distributed engine on one machine.

    MFBENCH_DATA_DIR=../shared/data pytest tests/benchmarks/test_spark_als.py -s
"""

import pytest

pytest.importorskip("pyspark", reason='pip install "mfbench[spark]"')

import mfbench  # noqa: E402
from mfbench_plugins.peers.spark import java_major  # noqa: E402

K, ITERATIONS = 64, 5
PARAMS = {
    "als": {"k": K, "epochs": ITERATIONS, "biased": False, "weighted": True, "reg": 0.1},
    "spark_als": {"k": K, "epochs": ITERATIONS, "reg": 0.1},
}


@pytest.mark.skipif((java_major() or 0) < 17, reason="Spark 4 needs Java 17 or newer")
@pytest.mark.parametrize("dataset", ["ml-100k", "synthetic-ml20m"])
def test_als_against_spark_als(dataset, tmp_path, request):
    folds = "official@1" if dataset == "ml-100k" else None
    data_dir = request.getfixturevalue("data_dir") if dataset == "ml-100k" else None
    res = mfbench.run(
        ["als", "spark_als"], [dataset], params=PARAMS, folds=folds, data_dir=data_dir, out=tmp_path, calibrate=False
    )
    assert res.ok, [r.get("error") for r in res.records]
    rows = {}
    print(f"\n{dataset}, k={K}, {ITERATIONS} iterations:")
    for r in res.records:
        per_iteration = r["fit_seconds"] / ITERATIONS
        rows[r["algorithm"]] = per_iteration
        print(
            f"  {r['algorithm']:10s} prepare {r['prepare_seconds']:7.2f} s   {per_iteration:7.3f} s per iteration   "
            f"RMSE {r['metrics']['rmse']:.4f}   peak RSS {r['peak_rss_bytes'] / 2**20:6.0f} MB"
        )
    print(f"  spark_als / als, seconds per iteration: {rows['spark_als'] / rows['als']:.1f}")
