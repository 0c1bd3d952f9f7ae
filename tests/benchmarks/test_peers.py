"""mfbench ``sgd`` against scikit-surprise's SVD: same model, k, epochs, lr and reg, same ml-100k
folds, in one run. Reports the fit-time ratio and both RMSEs; mfbench must be at least 3x faster
at equal or better RMSE. And every Surprise peer plugin against Surprise called directly: the
plugin must hand Surprise its best-case input, so that its fit inside mfbench costs what Surprise
alone costs."""

import os
import time

import numpy as np
import pytest
from _bench import interleaved, per_round, spread

pytest.importorskip("surprise", reason='the peers extra: pip install "mfbench[peers]"')

from mfbench.data import make_splits, parse_protocol  # noqa: E402
from mfbench.runner import Cell, Job  # noqa: E402
from mfbench_plugins.algorithms.sgd.sgd import SGD  # noqa: E402
from mfbench_plugins.executors import LocalExecutor  # noqa: E402
from mfbench_plugins.metrics import rmse  # noqa: E402
from mfbench_plugins.peers import SurpriseSVD  # noqa: E402

SHARED = {"k": 100, "epochs": 20, "lr": 0.005, "reg": 0.02, "init_std": 0.1}


def test_sgd_against_surprise_svd(ml100k, benchmark):
    jobs = []
    for split in make_splits(ml100k, parse_protocol("official")):
        for name, factory, params in (
            ("surprise_svd", SurpriseSVD, SHARED),
            ("sgd", SGD, {**SHARED, "reg_bias": SHARED["reg"], "adaptive": False, "lr_decay": 1.0}),
        ):
            jobs.append(
                Job("peers", Cell(name, params, "ml-100k", split.name, "cpu", 0), split, factory, {"rmse": rmse})
            )
    records = benchmark.pedantic(lambda: list(LocalExecutor().run(jobs, lambda e: None)), rounds=1, iterations=1)
    by = {name: [r for r in records if r["algorithm"] == name] for name in ("sgd", "surprise_svd")}
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records if r["status"] != "ok"]
    fit = {name: [r["fit_seconds"] for r in recs] for name, recs in by.items()}
    acc = {name: float(np.mean([r["metrics"]["rmse"] for r in recs])) for name, recs in by.items()}
    # the jobs alternate the two, fold by fold: each fold's pair is one interleaved round
    ratios = per_round(fit["surprise_svd"], fit["sgd"])
    ratio = float(np.median(ratios))
    benchmark.extra_info.update({"fit_ratio_surprise_over_mfbench": ratios, "rmse": acc, "fit_seconds": fit})
    print(
        f"\nfit seconds per fold (5 folds, median [min, max]): surprise {spread(fit['surprise_svd'])}, mfbench sgd "
        f"{spread(fit['sgd'])}; surprise/sgd {spread(ratios, '.1f')}; mean RMSE surprise {acc['surprise_svd']:.4f}, "
        f"mfbench {acc['sgd']:.4f}"
    )
    assert ratio >= 3.0
    assert acc["sgd"] <= acc["surprise_svd"] + 1e-4


#: a peer inside mfbench may take at most this much longer than the peer library called directly
MAX_PEER_OVERHEAD = 1.2


def surprise_alone(name: str, path: str) -> float:
    """Surprise by itself, as its users run it: its reader on ``u1.base`` (sorted by user, then
    item), its defaults (the plugins' defaults), the trainset built outside the clock. Seconds of
    ``fit``."""
    import surprise

    trainset = surprise.Dataset.load_from_file(path, surprise.Reader("ml-100k")).build_full_trainset()
    model = {
        "surprise_svd": lambda: surprise.SVD(random_state=0),
        "surprise_svdpp": lambda: surprise.SVDpp(random_state=0),
        "surprise_baseline": lambda: surprise.BaselineOnly(
            bsl_options={"method": "als", "n_epochs": 10, "reg_u": 15, "reg_i": 10}, verbose=False
        ),
    }[name]()
    start = time.perf_counter()
    model.fit(trainset)
    return time.perf_counter() - start


@pytest.mark.parametrize("name", ["surprise_svd", "surprise_svdpp", "surprise_baseline"])
def test_a_surprise_peer_fits_inside_mfbench_as_fast_as_surprise_alone(ml100k, data_dir, benchmark, name):
    """The peer gets its best case. Surprise alone reads ml-100k's ``u1.base`` with its own reader
    and fits with its defaults; inside mfbench the same model fits on the u1 split mfbench cut,
    as a cell of the local executor (``fit_seconds`` of its record). Each sample runs in a fresh
    process, as cells do (Surprise's epochs walk Python objects, whose placement in a long-lived
    heap alone changes its speed by 1.7x). Interleaved rounds, median [min, max]; the median
    ratio must stay under ``MAX_PEER_OVERHEAD``."""
    from concurrent.futures import ProcessPoolExecutor

    from mfbench.registry import get_registry

    executor = LocalExecutor()  # first: its fork server carries this process's sys.path to the children
    spec = get_registry().algorithm(name)
    rounds = int(os.environ.get("MFBENCH_BENCH_ROUNDS", "5"))
    split = next(iter(make_splits(ml100k, parse_protocol("official@1"))))
    job = Job("peer-overhead", Cell(name, {}, "ml-100k", split.name, "cpu", 0), split, spec.factory, {"rmse": rmse})
    u1_base = str(data_dir / "ml-100k" / "u1.base")

    def alone():
        with ProcessPoolExecutor(1, mp_context=executor.ctx) as pool:
            return pool.submit(surprise_alone, name, u1_base).result()

    def inside():
        (record,) = executor.run([job], lambda e: None)
        assert record["status"] == "ok", record["error"]
        return record["fit_seconds"]

    samples = benchmark.pedantic(
        lambda: interleaved({"alone": alone, "mfbench": inside}, rounds), rounds=1, iterations=1
    )
    ratios = per_round(samples["mfbench"], samples["alone"])
    benchmark.extra_info.update({"fit_seconds": samples, "ratio_per_round": ratios})
    print(
        f"\n{name} on ml-100k u1, {rounds} interleaved rounds: fit s alone {spread(samples['alone'])}, inside "
        f"mfbench {spread(samples['mfbench'])}; mfbench/alone {spread(ratios, '.2f')}"
    )
    assert np.median(ratios) <= MAX_PEER_OVERHEAD, ratios
