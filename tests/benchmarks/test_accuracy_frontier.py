"""The accuracy frontier on ml-100k's official folds, against the peers, in one run each:

* ``bpmf`` against myFM (``myfm``) at the same rank and sweeps: ``bpmf``'s fit must take at most
  myFM's (median of the per-fold ratios), and its mean RMSE must be at most myFM's + 0.002.
* ``bpmf implicit=true`` against ``myfm implicit=true`` (the same flipped implicit features,
  through myFM's relational blocks), same rank and sweeps: the same two holds, and ``bpmf``'s
  mean RMSE is at most 0.885.
* ``svdpp`` with Surprise's hyper-parameters against ``surprise_svdpp`` (Surprise's defaults):
  mean RMSE within 0.003, fit at least 20x faster.

Cells run as the local executor runs them (a process each, setup outside the clock); the two
sides alternate fold by fold (A B, B A, ...), and each fold's pair is one ratio.

    pytest tests/benchmarks/test_accuracy_frontier.py -s
"""

import numpy as np
import pytest
from _bench import per_round, spread

pytest.importorskip("surprise", reason='the peers extra: pip install "mfbench[peers]"')
pytest.importorskip("myfm", reason='the peers extra: pip install "mfbench[peers]"')

from mfbench.data import make_splits, parse_protocol  # noqa: E402
from mfbench.registry import get_registry  # noqa: E402
from mfbench.runner import Cell, Job  # noqa: E402
from mfbench_plugins.executors import LocalExecutor  # noqa: E402
from mfbench_plugins.metrics import rmse  # noqa: E402

#: Surprise's SVDpp defaults, in svdpp's names
SURPRISE_SVDPP = {
    "k": 20,
    "epochs": 20,
    "lr": 0.007,
    "reg": 0.02,
    "reg_bias": 0.02,
    "reg_y": 0.02,
    "init_std": 0.1,
    "lr_decay": 1.0,
}


def summary(by, peer, ours):
    """``(fit seconds by side, mean RMSE by side, the peer's fit over ours fold by fold)``."""
    fit = {name: [r["fit_seconds"] for r in recs] for name, recs in by.items()}
    acc = {name: float(np.mean([r["metrics"]["rmse"] for r in recs])) for name, recs in by.items()}
    return fit, acc, per_round(fit[peer], fit[ours])


def run_pair(ml100k, sides):
    """Run ``sides`` (``[(name, params), (name, params)]``) on the five folds, alternating which
    goes first; returns ``{name: records}`` in fold order."""
    registry = get_registry()
    jobs = []
    for n, split in enumerate(make_splits(ml100k, parse_protocol("official"))):
        for name, params in sides if n % 2 == 0 else sides[::-1]:
            cell = Cell(name, params, "ml-100k", split.name, "cpu", 0)
            jobs.append(Job("frontier", cell, split, registry.algorithm(name).factory, {"rmse": rmse}))
    records = list(LocalExecutor().run(jobs, lambda e: None))
    assert all(r["status"] == "ok" for r in records), [r.get("error") for r in records if r["status"] != "ok"]
    return {
        name: sorted((r for r in records if r["algorithm"] == name), key=lambda r: r["split"]["name"])
        for name, _ in sides
    }


@pytest.mark.parametrize("k", [10, 32])
def test_bpmf_against_myfm(ml100k, benchmark, k):
    sweeps = 200
    by = benchmark.pedantic(
        lambda: run_pair(ml100k, [("myfm", {"k": k, "epochs": sweeps}), ("bpmf", {"k": k, "epochs": sweeps})]),
        rounds=1,
        iterations=1,
    )
    fit, acc, ratios = summary(by, "myfm", "bpmf")
    benchmark.extra_info.update({"fit_seconds": fit, "rmse": acc, "myfm_over_bpmf": ratios})
    print(
        f"\nk={k}, {sweeps} sweeps, 5 folds: fit s myfm {spread(fit['myfm'])}, bpmf {spread(fit['bpmf'])}; "
        f"myfm/bpmf {spread(ratios, '.2f')}; mean RMSE myfm {acc['myfm']:.4f}, bpmf {acc['bpmf']:.4f}"
    )
    assert np.median(ratios) >= 1.0
    assert acc["bpmf"] <= acc["myfm"] + 0.002


def test_bpmf_implicit_against_myfm_implicit(ml100k, benchmark):
    k, sweeps = 10, 200
    params = {"k": k, "epochs": sweeps, "implicit": True}
    by = benchmark.pedantic(lambda: run_pair(ml100k, [("myfm", params), ("bpmf", params)]), rounds=1, iterations=1)
    fit, acc, ratios = summary(by, "myfm", "bpmf")
    benchmark.extra_info.update({"fit_seconds": fit, "rmse": acc, "myfm_over_bpmf": ratios})
    print(
        f"\nimplicit features, k={k}, {sweeps} sweeps, 5 folds: fit s myfm {spread(fit['myfm'])}, bpmf "
        f"{spread(fit['bpmf'])}; myfm/bpmf {spread(ratios, '.2f')}; mean RMSE myfm {acc['myfm']:.4f}, "
        f"bpmf {acc['bpmf']:.4f}"
    )
    assert acc["bpmf"] <= 0.885
    assert acc["bpmf"] <= acc["myfm"] + 0.002
    assert np.median(ratios) >= 1.0


def test_svdpp_against_surprise_svdpp(ml100k, benchmark):
    by = benchmark.pedantic(
        lambda: run_pair(ml100k, [("surprise_svdpp", {}), ("svdpp", SURPRISE_SVDPP)]), rounds=1, iterations=1
    )
    fit, acc, ratios = summary(by, "surprise_svdpp", "svdpp")
    benchmark.extra_info.update({"fit_seconds": fit, "rmse": acc, "surprise_over_svdpp": ratios})
    print(
        f"\nSurprise's hyper-parameters, 5 folds: fit s surprise_svdpp {spread(fit['surprise_svdpp'])}, svdpp "
        f"{spread(fit['svdpp'])}; surprise/svdpp {spread(ratios, '.0f')}; mean RMSE surprise_svdpp "
        f"{acc['surprise_svdpp']:.4f}, svdpp {acc['svdpp']:.4f}"
    )
    assert abs(acc["svdpp"] - acc["surprise_svdpp"]) <= 0.003
    assert np.median(ratios) >= 20
