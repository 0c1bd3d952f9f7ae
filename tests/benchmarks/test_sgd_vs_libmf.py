"""``sgd`` against LIBMF, the anchor of per-rating SGD on the CPU, on the same 10M uniform ratings
in one run: epoch throughput at k = 32, 64, 128 with 1 and 2 threads, the ratios, and each one's
2-thread speed-up. Three sides are sampled in interleaved rounds (LIBMF, ``sgd``, ``sgd
biased=false``, then the reverse order, ...; ``MFBENCH_BENCH_ROUNDS``, default 5), each sample the
mean epoch over five epochs, and reported as median [min, max]. ``sgd`` as users run it learns two
bias terms per rating that LIBMF does not; ``biased=false`` is LIBMF's model, the same arithmetic
per rating. The assertions read the medians of the round-by-round ratios: the default ``sgd``
reaches 1.1x LIBMF's throughput on one thread and 1.0x on two; on LIBMF's own model it reaches
1.2x and 1.1x; and ``sgd`` gains 1.8x from a second thread.

LIBMF is built here from its C++ source with the flags of its own Makefile (AVX kernels, OpenMP).
Point ``MFBENCH_LIBMF_SRC`` at a folder holding its ``mf.cpp`` and ``mf.h``: a clone of
https://github.com/cjlin1/libmf, or the ``src_cpp`` folder of the ``libmf`` sdist
(``pip download --no-deps --no-binary :all: libmf``). Both run LIBMF's default update: AdaGrad
steps per row, lambda 0.1, eta 0.1.
"""

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from _bench import epoch_runner, interleaved, per_round, spread

from mfbench_plugins.algorithms.sgd.sgd import SGD

LIBMF_FLAGS = ["-O3", "-std=c++11", "-march=native", "-pthread", "-DUSEAVX", "-mavx", "-fopenmp", "-DUSEOMP"]
#: the grid LIBMF uses by default (nr_bins)
LIBMF_BINS = 20
#: the floors on the default ``sgd``'s epoch throughput over LIBMF's, by thread count
MIN_RATIO = {1: 1.1, 2: 1.0}
#: the floors on ``sgd biased=false`` (LIBMF's model) over LIBMF, by thread count
MIN_RATIO_SAME_MODEL = {1: 1.2, 2: 1.1}
#: and its floor on the 2-thread speed-up of ``sgd``
MIN_SPEEDUP = 1.8
#: interleaved rounds per cell
ROUNDS = int(os.environ.get("MFBENCH_BENCH_ROUNDS", "5"))
#: epochs in each sample: LIBMF's driver takes its epoch as (7 epochs - 2 epochs) / 5
EPOCHS_PER_SAMPLE = 5


@pytest.fixture(scope="session")
def libmf_driver(tmp_path_factory):
    src = os.environ.get("MFBENCH_LIBMF_SRC")
    if not src:
        pytest.skip("set MFBENCH_LIBMF_SRC to a folder with LIBMF's mf.cpp and mf.h (see this module's docstring)")
    src = Path(src)
    missing = [name for name in ("mf.cpp", "mf.h") if not (src / name).is_file()]
    if missing:
        pytest.fail(f"MFBENCH_LIBMF_SRC={src} lacks {', '.join(missing)}")
    cxx = shutil.which(os.environ.get("CXX", "g++"))
    if cxx is None:
        pytest.skip("no C++ compiler (set CXX)")
    out = tmp_path_factory.mktemp("libmf") / "libmf_driver"
    driver = Path(__file__).with_name("libmf_driver.cpp")
    subprocess.run([cxx, *LIBMF_FLAGS, f"-I{src}", str(src / "mf.cpp"), str(driver), "-o", str(out)], check=True)
    return out


@pytest.fixture(scope="session")
def uniform_10m_files(uniform_10m, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ratings")
    uniform_10m.users.astype(np.int32).tofile(folder / "users.i32")
    uniform_10m.items.astype(np.int32).tofile(folder / "items.i32")
    uniform_10m.values.astype(np.float32).tofile(folder / "values.f32")
    return folder


def libmf_epoch(driver, folder, ratings, k, threads):
    out = subprocess.run(
        [str(driver), str(folder), str(ratings.n_users), str(ratings.n_items), str(k), str(threads), str(LIBMF_BINS)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)["epoch_seconds"]


def mfbench_sampler(ratings, k, threads, biased=True):
    """Prepare ``sgd`` once (outside the clock), warm it with one epoch, and return a callable
    that times ``EPOCHS_PER_SAMPLE`` epochs and returns their mean."""
    run_epoch = epoch_runner(SGD(k=k, threads=threads, biased=biased, seed=0), ratings)
    run_epoch()  # warm the caches and the thread pool

    def sample():
        start = time.perf_counter()
        for _ in range(EPOCHS_PER_SAMPLE):
            run_epoch()
        return (time.perf_counter() - start) / EPOCHS_PER_SAMPLE

    return sample


@pytest.mark.parametrize("k", [32, 64, 128])
def test_sgd_against_libmf(benchmark, libmf_driver, uniform_10m, uniform_10m_files, k):
    n = len(uniform_10m)
    sides = ("libmf", "mfbench", "mfbench_same_model")

    def measure():
        out = {}
        for t in (1, 2):
            samples = interleaved(
                {
                    "libmf": lambda t=t: libmf_epoch(libmf_driver, uniform_10m_files, uniform_10m, k, t),
                    "mfbench": mfbench_sampler(uniform_10m, k, t),
                    "mfbench_same_model": mfbench_sampler(uniform_10m, k, t, biased=False),
                },
                ROUNDS,
            )
            out.update({(who, t): s for who, s in samples.items()})
        return out

    seconds = benchmark.pedantic(measure, rounds=1, iterations=1)
    rates = {key: [n / s / 1e6 for s in samples] for key, samples in seconds.items()}
    # throughput over LIBMF's, round by round (a round's samples were taken together)
    ratios = {(who, t): per_round(seconds["libmf", t], seconds[who, t]) for who in sides[1:] for t in (1, 2)}
    ratio = {key: float(np.median(r)) for key, r in ratios.items()}
    speedup = {who: float(np.median(rates[who, 2]) / np.median(rates[who, 1])) for who in sides}
    benchmark.extra_info.update(
        {
            "M_ratings_per_s": {f"{w}/{t}": [round(x, 2) for x in r] for (w, t), r in rates.items()},
            "ratio_per_round": {f"{w}/{t}": [round(x, 3) for x in r] for (w, t), r in ratios.items()},
            "ratio_median": {f"{w}/{t}": r for (w, t), r in ratio.items()},
            "speedup_2_threads": speedup,
        }
    )
    print(f"\nk={k}, {ROUNDS} interleaved rounds, median [min, max]")
    for t in (1, 2):
        print(
            f"  {t} thread{'s' if t > 1 else ''}: M ratings/s libmf {spread(rates['libmf', t])}, "
            f"sgd {spread(rates['mfbench', t])}, sgd biased=false {spread(rates['mfbench_same_model', t])}"
        )
        print(
            f"    over libmf: sgd {spread(ratios['mfbench', t], '.2f')}, "
            f"sgd biased=false {spread(ratios['mfbench_same_model', t], '.2f')}"
        )
    print("  2-thread speed-up (of the medians): " + ", ".join(f"{w} {speedup[w]:.2f}" for w in sides))
    assert all(ratio["mfbench", t] >= floor for t, floor in MIN_RATIO.items()), ratio
    assert all(ratio["mfbench_same_model", t] >= floor for t, floor in MIN_RATIO_SAME_MODEL.items()), ratio
    assert speedup["mfbench"] >= MIN_SPEEDUP, speedup
