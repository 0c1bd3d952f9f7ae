"""Datasets at scale: generating the Netflix shape, loading a 20M-row file, and the binary cache.

``pytest tests/benchmarks/test_datasets_scale.py -s`` prints the seconds and peak memory of each
step; each step runs in a fresh process so that its peak RSS is its own.
"""

import json
import subprocess
import sys

import pytest
from _bench import SCALE

GENERATE = """
import json, resource, sys, time
from mfbench_datasets.synthetic import PRESETS, generate
shape = dict(PRESETS[sys.argv[1]])
shape.update(n_users=int(shape["n_users"] * float(sys.argv[2])), n_ratings=int(shape["n_ratings"] * float(sys.argv[2])))
t = time.perf_counter()
r, _ = generate(**shape, seed=0)
out = {"seconds": time.perf_counter() - t, "ratings": len(r)}
if len(sys.argv) > 3:
    import numpy as np, pandas as pd
    ts = 1_000_000_000 + np.arange(len(r), dtype=np.int64)
    pd.DataFrame({"userId": r.users + 1, "movieId": r.items + 1, "rating": r.values, "timestamp": ts}).to_csv(
        sys.argv[3], index=False, chunksize=1_000_000)
out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(json.dumps(out))
"""

LOAD = """
import json, resource, sys, time
from mfbench_datasets.files import load_file
t = time.perf_counter()
d = load_file(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - t, "ratings": len(d.ratings), "cached": any("cache" in n for n in d.notes),
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}))
"""


def _run(code, *args, env=None):
    out = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, check=True, env=env
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_generate_netflix_shape(benchmark):
    res = benchmark.pedantic(lambda: _run(GENERATE, "synthetic-netflix", SCALE), rounds=1, iterations=1)
    benchmark.extra_info.update(res)
    print(
        f"\nsynthetic-netflix x{SCALE}: {res['ratings']:,} ratings in {res['seconds']:.1f} s, "
        f"peak RSS {res['peak_rss_gb']:.2f} GB"
    )


@pytest.fixture(scope="module")
def ml20m_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "ratings.csv"
    _run(GENERATE, "synthetic-ml20m", SCALE, path)
    return path


def test_load_20m_rows_then_from_the_cache(benchmark, ml20m_csv, tmp_path):
    import os

    env = {**os.environ, "MFBENCH_CACHE_DIR": str(tmp_path / "cache")}
    first = _run(LOAD, ml20m_csv, env=env)
    second = benchmark.pedantic(lambda: _run(LOAD, ml20m_csv, env=env), rounds=1, iterations=1)
    assert not first["cached"] and second["cached"] and first["ratings"] == second["ratings"]
    benchmark.extra_info.update(
        first_seconds=first["seconds"],
        first_peak_rss_gb=first["peak_rss_gb"],
        cached_seconds=second["seconds"],
        cached_peak_rss_gb=second["peak_rss_gb"],
    )
    print(
        f"\n{first['ratings']:,} rows: parse {first['seconds']:.1f} s (peak RSS {first['peak_rss_gb']:.2f} GB), "
        f"from the cache {second['seconds']:.2f} s (peak {second['peak_rss_gb']:.2f} GB): "
        f"{second['seconds'] / first['seconds']:.2f} of the first"
    )
