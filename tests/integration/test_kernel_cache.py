"""Kernels loaded from numba's cache compute what they computed when compiled.

numba caches each compiled kernel on disk with the code of the functions it calls linked in; a
kernel that calls another with literal constants once came back from the cache computing
something else (the one-thread mini-batch epoch: a different loss, on every run after the first).
Each variant a cell compiles (literal specializations, one-thread and threaded kernels, the
small shuffle) is run here twice in fresh processes sharing one empty cache: first compiled, then
loaded; their losses and factors must match bit for bit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

CHILD = r"""
import json, sys
import numba
import numpy as np
from mfbench_datasets.synthetic import generate
from mfbench_plugins.algorithms.minibatch import _numba as _minibatch_numba
from mfbench_plugins.algorithms.als.als import ALS
from mfbench_plugins.algorithms.minibatch.minibatch import AdamSGD, MomentumSGD
from mfbench_plugins.algorithms.sgd.sgd import SGD

ratings, _ = generate(n_users=60, n_items=40, n_ratings=900, rank=3, seed=4)
out = {}


def run(name, algo):
    algo.prepare(ratings)
    losses = [float(v() if callable(v) else v) for v in (info["objective"] for info in algo.fit(ratings))]
    pred = algo.predict(ratings.users[:50], ratings.items[:50])
    out[name] = [losses, np.asarray(pred, np.float64).tolist()]


run("sgd k=5", SGD(k=5, epochs=2, blocks=3, seed=1))
run("sgd k=9 plain", SGD(k=9, epochs=2, blocks=3, adaptive=False, biased=False, lr=0.01, seed=1))
run("als cholesky", ALS(k=4, epochs=2, solver="cholesky", seed=1))
run("als cg", ALS(k=4, epochs=2, solver="cg", seed=1))
run("adam one thread", AdamSGD(k=5, epochs=2, batch_size=64, seed=3))
run("momentum one thread", MomentumSGD(k=5, epochs=2, batch_size=64, seed=3))
if numba.config.NUMBA_NUM_THREADS > 1:
    _minibatch_numba.ONE_THREAD_BYTES = 0
    numba.set_num_threads(2)
    run("adam threads", AdamSGD(k=5, epochs=2, batch_size=64, seed=3))
print(json.dumps(out))
"""


def test_kernels_from_the_cache_compute_what_they_computed_when_compiled(tmp_path):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    compiled, cached = runs
    assert any((tmp_path / "numba").rglob("*.nbi")), "nothing was cached"
    assert compiled.keys() == cached.keys()
    for name in compiled:
        assert compiled[name] == cached[name], name
