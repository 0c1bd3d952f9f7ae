"""mfbench ``als`` against LensKit's explicit biased ALS: same k and epochs, same ml-100k folds, in
one run. mfbench must fit at least as fast at equal or better RMSE. Needs the ``lenskit`` extra."""

import numpy as np
import pytest

pytest.importorskip("lenskit", reason='LensKit is not installed (the lenskit extra: pip install "mfbench[lenskit]")')

from mfbench.data import make_splits, parse_protocol  # noqa: E402
from mfbench.runner import Cell, Control, Job  # noqa: E402
from mfbench_plugins.algorithms.als.als import ALS  # noqa: E402
from mfbench_plugins.executors import LocalExecutor  # noqa: E402
from mfbench_plugins.metrics import rmse  # noqa: E402
from mfbench_plugins.peers.lenskit import LenskitALS  # noqa: E402


def test_als_against_lenskit(ml100k, benchmark):
    jobs = []
    for split in make_splits(ml100k, parse_protocol("official")):
        for name, factory in (("lenskit_als", LenskitALS), ("als", ALS)):
            cell = Cell(name, {"k": 50, "epochs": 15}, "ml-100k", split.name, "cpu", 0)
            jobs.append(Job("lenskit", cell, split, factory, {"rmse": rmse}, Control(threads=2)))
    records = benchmark.pedantic(lambda: list(LocalExecutor().run(jobs, lambda e: None)), rounds=1, iterations=1)
    assert all(r["status"] == "ok" for r in records), [r["error"] for r in records if r["status"] != "ok"]
    fit = {
        n: float(np.mean([r["fit_seconds"] for r in records if r["algorithm"] == n])) for n in ("als", "lenskit_als")
    }
    acc = {n: float(np.mean([r["metrics"]["rmse"] for r in records if r["algorithm"] == n])) for n in fit}
    benchmark.extra_info.update({"fit_seconds": fit, "rmse": acc})
    print(
        f"\nfit seconds per fold: lenskit {fit['lenskit_als']:.3f}, mfbench als {fit['als']:.3f} "
        f"(ratio {fit['lenskit_als'] / fit['als']:.2f}); mean RMSE lenskit {acc['lenskit_als']:.4f}, mfbench {acc['als']:.4f}"
    )
    assert fit["als"] <= fit["lenskit_als"]
    assert acc["als"] <= acc["lenskit_als"] + 1e-4
