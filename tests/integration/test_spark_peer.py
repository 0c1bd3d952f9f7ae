"""``spark_als``: Spark MLlib's ALS on a local SparkSession (a real JVM), against ``als`` with the
same model (ALS-WR, no biases) on the ml-100k folds; its cell's memory counts the JVM; a machine
without Java gets one line saying what to install."""

import numpy as np
import pytest

pytest.importorskip("pyspark", reason='spark_als needs pyspark: pip install "mfbench[spark]"')

from mfbench.data import make_splits, parse_protocol  # noqa: E402
from mfbench.errors import MfbenchError  # noqa: E402
from mfbench_plugins.algorithms.als.als import ALS  # noqa: E402
from mfbench_plugins.peers.spark import SparkALS, java_major  # noqa: E402

needs_java = pytest.mark.skipif((java_major() or 0) < 17, reason="Spark 4 needs Java 17 or newer")


def _rmse(algo, split):
    algo.prepare(split.train)
    list(algo.fit(split.train))
    p = algo.predict(split.test.users, split.test.items)
    return float(np.sqrt(np.mean((p - split.test.values) ** 2)))


@needs_java
def test_spark_als_agrees_with_als_on_the_ml100k_folds(ml100k):
    """Same model, same numbers: mean test RMSE over u1..u5 within 0.005 (k=10, reg=0.1, 10 iterations).

    Started alike, too: MLlib draws each initial factor row as a Gaussian vector scaled to unit
    length, whose entries have about the spread of ``init_std = 1/sqrt(k)``. With ``als``'s default
    ``init_std=0.1`` instead, ten iterations end 0.006 apart (0.9317 against 0.9257): the fits
    have not yet forgotten their start."""
    ours, theirs = [], []
    for split in make_splits(ml100k, parse_protocol("official")):
        ours.append(_rmse(ALS(k=10, epochs=10, reg=0.1, weighted=True, biased=False, init_std=10**-0.5, seed=0), split))
        theirs.append(_rmse(SparkALS(k=10, epochs=10, reg=0.1, threads=2, seed=0), split))
    assert abs(np.mean(ours) - np.mean(theirs)) <= 0.005, (ours, theirs)
    assert 0.90 < np.mean(theirs) < 1.0, theirs  # ALS-WR at reg 0.1 on ml-100k


@needs_java
def test_a_spark_cell_counts_the_jvm_in_its_peak_memory(tmp_path, data_dir):
    import mfbench

    res = mfbench.run(
        ["spark_als", "global_mean"],
        ["ml-100k"],
        folds="official@1",
        data_dir=data_dir,
        out=tmp_path,
        calibrate=False,
        params={"spark_als": {"epochs": 2}},
    )
    assert res.ok, [r.get("error") for r in res.records]
    peak = {r["algorithm"]: r["peak_rss_bytes"] for r in res.records}
    rec = next(r for r in res.records if r["algorithm"] == "spark_als")
    assert rec["epochs"] == 1 and rec["prepare_seconds"] > 0
    # the JVM holds hundreds of MB beside the Python process
    assert peak["spark_als"] > peak["global_mean"] + 150 * 2**20, peak


def test_without_java_the_cell_says_what_to_install(monkeypatch, tmp_path):
    from mfbench_datasets.synthetic import generate

    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "no-java"))
    train, _ = generate(n_users=20, n_items=10, n_ratings=100, seed=0)
    with pytest.raises(MfbenchError, match="Java 17 or newer.*apt-get install openjdk-17-jre-headless"):
        SparkALS().prepare(train)
