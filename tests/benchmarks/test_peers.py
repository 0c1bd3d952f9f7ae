"""mfbench ``sgd`` against scikit-surprise's SVD: same model, k, epochs, lr and reg, same ml-100k
folds, in one run. Reports the fit-time ratio and both RMSEs; mfbench must be at least 3x faster
at equal or better RMSE."""

import numpy as np
import pytest

pytest.importorskip("surprise", reason='the peers extra: pip install "mfbench[peers]"')

from mfbench.data import make_splits, parse_protocol  # noqa: E402
from mfbench.runner import Cell, Job  # noqa: E402
from mfbench_plugins.algorithms.sgd import SGD  # noqa: E402
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
            jobs.append(Job("peers", Cell(name, params, "ml-100k", split.name, "cpu", 0), split, factory, {"rmse": rmse}))
    records = benchmark.pedantic(lambda: list(LocalExecutor().run(jobs, lambda e: None)), rounds=1, iterations=1)
    by = {name: [r for r in records if r["algorithm"] == name] for name in ("sgd", "surprise_svd")}
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records if r["status"] != "ok"]
    fit = {name: float(np.mean([r["fit_seconds"] for r in recs])) for name, recs in by.items()}
    acc = {name: float(np.mean([r["metrics"]["rmse"] for r in recs])) for name, recs in by.items()}
    ratio = fit["surprise_svd"] / fit["sgd"]
    benchmark.extra_info.update({"fit_ratio_surprise_over_mfbench": ratio, "rmse": acc, "fit_seconds": fit})
    print(f"\nfit seconds per fold: surprise {fit['surprise_svd']:.3f}, mfbench sgd {fit['sgd']:.3f} "
          f"(ratio {ratio:.1f}); mean RMSE surprise {acc['surprise_svd']:.4f}, mfbench {acc['sgd']:.4f}")
    assert ratio >= 3.0
    assert acc["sgd"] <= acc["surprise_svd"] + 1e-4
