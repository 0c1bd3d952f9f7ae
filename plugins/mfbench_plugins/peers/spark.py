"""Spark MLlib's ALS as a peer: ``spark_als`` (the ``spark`` extra: ``pip install "mfbench[spark]"``).

MLlib's ALS is the engine users deploy when their ratings outgrow one machine; here it sits in the
same table as the built-ins. Its model is ``als``'s with ``biased=false`` and ``weighted=true``:
no biases, and the ridge of a row scaled by its rating count (ALS-WR, Zhou et al. 2008), so with
the same rank, ``reg`` and iterations the two must agree (a test holds them within 0.005 RMSE on
the ml-100k folds).

``prepare`` starts the ``SparkSession`` (``local[threads]`` unless ``master`` names a cluster,
``spark://HOST:7077``) and builds and caches the ratings' DataFrame; the JVM's start and the
transfer are there, not in the epochs. MLlib trains all its iterations in one call, so the cell
reports one epoch, holding the fit and the transfer of the learned factors back to numpy.
Predictions come from those factors; the unseen rule and clipping apply as for every algorithm.
Spark 4 needs Java 17 or newer: without it, ``prepare`` fails naming what to install. MLlib's
normal equations go through the system's BLAS and LAPACK (``libblas.so.3``, ``liblapack.so.3``:
Debian's ``libopenblas0-pthread``) where they exist, else through its Java implementation. The
cell's peak memory counts the JVM (the runner measures the cell's process tree).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import numpy as np

from mfbench import hookimpl
from mfbench.algorithm import Algorithm
from mfbench.data import Ratings
from mfbench.errors import MfbenchError
from mfbench.params import NON_NEGATIVE, NON_NEGATIVE_INT, POSITIVE_INT, Pattern
from mfbench.specs import AlgorithmSpec

__all__ = ["SparkALS"]

INSTALL_HINT = 'pip install "mfbench[spark]"'
JAVA_HINT = (
    "Spark 4 needs Java 17 or newer: install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) "
    "or point JAVA_HOME at one"
)


def _pyspark() -> Any:
    try:
        import pyspark
    except ImportError:
        raise MfbenchError(f"spark_als needs pyspark, which is not installed; {INSTALL_HINT}") from None
    return pyspark


def java_major() -> int | None:
    """The major version of the ``java`` Spark would start (``JAVA_HOME`` first), or ``None``."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.SubprocessError):
        return None
    for token in out.split():
        token = token.strip('"')
        if token[:1].isdigit():
            major = token.split(".")[0]
            return int(token.split(".")[1]) if major == "1" else int(major.split("-")[0].split("+")[0])
    return None


class SparkALS(Algorithm):
    """Spark MLlib's explicit ALS (ALS-WR, no biases) through a local or remote ``SparkSession``.

    Parameters
    ----------
    k, epochs, reg
        MLlib's ``rank``, ``maxIter`` and ``regParam`` (scaled by each row's rating count).
    master
        The Spark master: ``local`` (``local[threads]``), or a cluster's URL (``spark://HOST:7077``).
    threads
        Cores of ``local``; 0: the cell's ``--threads`` (numba's count), else every core.
    blocks
        MLlib's ``numUserBlocks`` and ``numItemBlocks``; 0: the session's parallelism (its cores
        on ``local``), Spark's best case on one machine: on ml-100k u1 with 2 cores, a fit took
        2.5-3.6 s with 2 blocks and 6-10 s with MLlib's default of 10, to the same RMSE within 1e-4.
    driver_memory
        ``spark.driver.memory`` of a local session (the JVM's heap).
    """

    parameter_constraints = {
        "k": POSITIVE_INT,
        "epochs": POSITIVE_INT,
        "reg": NON_NEGATIVE,
        "master": [
            Pattern(
                r"local|local\[(\d+|\*)\]|(spark|yarn|k8s)://.+|yarn",
                "local, local[N] or a master URL such as spark://HOST:7077",
            )
        ],
        "threads": NON_NEGATIVE_INT,
        "blocks": NON_NEGATIVE_INT,
        "driver_memory": [Pattern(r"\d+[kmgtKMGT]?", "a JVM memory size such as 4g")],
    }
    state_attrs = ("P_", "Q_")

    def __init__(
        self,
        *,
        k: int = 10,
        epochs: int = 10,
        reg: float = 0.1,
        master: str = "local",
        threads: int = 0,
        blocks: int = 0,
        driver_memory: str = "4g",
        device: str = "cpu",
        seed: int = 0,
    ):
        super().__init__(device=device, seed=seed)
        self.k, self.epochs, self.reg, self.master = k, epochs, reg, master
        self.threads, self.blocks, self.driver_memory = threads, blocks, driver_memory
        self._spark = self._frame = None

    def _cores(self) -> int:
        if self.threads:
            return self.threads
        numba = sys.modules.get("numba")
        return numba.get_num_threads() if numba is not None else (os.cpu_count() or 1)

    def _prepare(self, train: Ratings) -> None:
        _pyspark()
        major = java_major()
        if major is None or major < 17:
            found = "no Java was found" if major is None else f"Java {major} was found"
            raise MfbenchError(f"spark_als: {found}; {JAVA_HINT}")
        from pyspark.sql import SparkSession

        master = f"local[{self._cores()}]" if self.master == "local" else self.master
        if master.startswith("local"):
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: loopback, not the first NIC
            # MLlib calls the system's BLAS (libblas.so.3) when there is one; Spark's guide runs it
            # on one thread, its tasks being the parallelism (the JVM inherits this variable)
            os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        builder = (
            SparkSession.builder.master(master)
            .appName("mfbench spark_als")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            .config("spark.sql.shuffle.partitions", str(max(2, 2 * self._cores())))
            .config("spark.driver.memory", self.driver_memory)
        )
        self._spark = builder.getOrCreate()
        self._spark.sparkContext.setLogLevel("ERROR")
        # MLlib cuts the factors' lineage every checkpointInterval (10) iterations, but only where a
        # checkpoint folder is set; without one, a few dozen iterations overflow the JVM's stack
        self._checkpoints = tempfile.TemporaryDirectory(prefix="mfbench-spark-")
        self._spark.sparkContext.setCheckpointDir(self._checkpoints.name)
        import pandas as pd

        frame = pd.DataFrame({"user": train.users, "item": train.items, "rating": train.values})
        self._frame = self._spark.createDataFrame(frame).cache()
        self._frame.count()  # materialized here, not in the first epoch

    def fit(self, train: Ratings, valid: Ratings | None = None) -> Iterator[dict[str, float]]:
        from pyspark.ml.recommendation import ALS

        blocks = self.blocks or self._spark.sparkContext.defaultParallelism
        als = ALS(
            rank=self.k,
            maxIter=self.epochs,
            regParam=self.reg,
            seed=self.seed,
            userCol="user",
            itemCol="item",
            ratingCol="rating",
            numUserBlocks=blocks,
            numItemBlocks=blocks,
            coldStartStrategy="nan",
        )
        model = als.fit(self._frame)
        self.P_ = self._factors(model.userFactors, self.n_users_)
        self.Q_ = self._factors(model.itemFactors, self.n_items_)
        yield {}

    def _factors(self, frame: Any, n: int) -> np.ndarray:
        """MLlib's ``(id, features)`` rows as an ``(n, k)`` float32 array (zeros where no row)."""
        pdf = frame.toPandas()
        out = np.zeros((n, self.k), np.float32)
        if len(pdf):
            out[pdf["id"].to_numpy()] = np.stack(pdf["features"].to_numpy()).astype(np.float32)
        return out

    def _predict(self, users: Any, items: Any) -> Any:
        return np.einsum("nk,nk->n", self.P_[users], self.Q_[items])


@hookimpl
def mfbench_algorithms() -> list[AlgorithmSpec]:
    return [
        AlgorithmSpec("spark_als", SparkALS, f"Spark MLlib ALS (peer; ALS-WR, no biases; {INSTALL_HINT}, Java 17+)")
    ]
