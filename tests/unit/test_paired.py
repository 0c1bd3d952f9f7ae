"""The paired statistics of the same-machine gate: the signed-rank distribution, the Hodges-Lehmann
interval, the verdicts, and the sequential plan's error rates on a simulated noisy machine."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from mfbench.ab import Plan, order
from mfbench.gate import read_gate_file
from mfbench.paired import (
    Estimate,
    estimate,
    estimate_unpaired,
    pairs_to_settle,
    rank_sum_cdf,
    signed_rank_cdf,
    verdict,
    walsh_rank,
)
from support.gate_sim import Machine, simulate

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n", [5, 8, 13, 20])
def test_signed_rank_cdf_matches_scipy_exact_test(n):
    rng = np.random.default_rng(n)
    for _ in range(5):
        d = rng.normal(0.3, 1, n)
        t_plus = stats.rankdata(np.abs(d))[d > 0].sum()
        p = stats.wilcoxon(d, alternative="less", method="exact").pvalue  # P(T+ <= t) under the null
        assert signed_rank_cdf(n, int(t_plus)) == pytest.approx(p, rel=1e-12)


def test_walsh_rank_is_the_tabled_critical_value_plus_one():
    # two-sided 5% critical values of T (Hollander & Wolfe, table A.4): n=6 0, 8 3, 10 8, 12 13, 20 52
    assert [walsh_rank(n, 0.95) for n in (6, 8, 10, 12, 20)] == [1, 4, 9, 14, 53]
    assert walsh_rank(5, 0.95) == 0  # 5 pairs cannot reach 95%: the interval is unbounded


def test_estimate_is_the_median_of_walsh_averages_and_its_interval_brackets_it():
    d = np.log([1.10, 1.20, 0.95, 1.30, 1.15, 1.05, 1.25, 1.12])
    walsh = sorted((d[i] + d[j]) / 2 for i in range(8) for j in range(i, 8))
    est = estimate(d, 0.95)
    assert est.ratio == pytest.approx(math.exp(np.median(walsh)))
    assert (est.lo, est.hi) == pytest.approx((math.exp(walsh[3]), math.exp(walsh[-4])))
    assert est.lo < est.ratio < est.hi and est.n == 8
    assert estimate(d[:5], 0.95).hi == math.inf
    assert str(estimate(d[:5], 0.95)).endswith("x [no interval below 6 pairs]")


def test_interval_covers_a_planted_ratio_at_its_confidence():
    rng = np.random.default_rng(7)
    covered = [(e := estimate(np.log(1.2) + rng.normal(0, 0.05, 12), 0.9)).lo <= 1.2 <= e.hi for _ in range(2000)]
    assert 0.88 <= np.mean(covered) <= 0.95  # 12 pairs reach 90.8%: the nearest level not below 0.9


def test_verdicts_against_the_tolerance():
    assert verdict(Estimate(1.3, 1.2, 1.4, 12, 0.9), 1.05) == "fail"
    assert verdict(Estimate(1.0, 0.97, 1.03, 12, 0.9), 1.05) == "pass"
    assert verdict(Estimate(1.04, 1.0, 1.09, 12, 0.9), 1.05) == "inconclusive"
    assert pairs_to_settle(Estimate(1.02, 0.98, 1.06, 8, 0.9), 1.05) > 8


def test_pairs_alternate_abba_then_baab():
    assert "".join(a + b for a, b in map(order, range(4))) == "ABBABAAB"


# -- the sequential plan on a simulated machine ----------------------------------------------------
#: the CI gate's cells and their fit seconds at the reference (results/baselines/ci.toml's run)
CELLS = {"sgd": 0.25, "als": 0.59, "adam_sgd": 0.37}


def _rates(machine: Machine, plan: Plan, planted: float, n: int = 200, seed: int = 0) -> tuple[float, float]:
    """FAIL rate of the planted cell (als) and how often its interval covered the planted ratio."""
    rng = np.random.default_rng(seed)
    fails = covered = 0
    for _ in range(n):
        cell = {r.key: r for r in simulate(machine, plan, {"als": planted}, CELLS, rng).cells}["als"]
        fails += cell.verdict == "fail"
        covered += cell.estimate.lo <= planted <= cell.estimate.hi
    return fails / n, covered / n


@pytest.fixture(scope="module")
def ci_plan() -> Plan:
    return read_gate_file(REPO / "results" / "baselines" / "ci.toml").plan


#: lognormal jitter of 2-10%, a two-speed machine (a vCPU that comes and goes), slow drift
QUIET, JITTERY, NOISY = Machine(sigma=0.02), Machine(sigma=0.05), Machine(sigma=0.10)
TWO_SPEED = Machine(sigma=0.03, slow=1.5, spell=60)
FLICKER = Machine(sigma=0.03, slow=1.8, spell=20)
DRIFT = Machine(sigma=0.03, drift=0.3, drift_period=120)


@pytest.mark.parametrize("machine", [QUIET, JITTERY, NOISY, TWO_SPEED, FLICKER, DRIFT], ids=str)
def test_an_unchanged_tree_rarely_fails_and_intervals_cover(ci_plan, machine):
    fails, covered = _rates(machine, ci_plan, 1.0)
    assert fails <= 0.05
    assert covered >= 0.90


@pytest.mark.parametrize("machine", [QUIET, JITTERY, TWO_SPEED, DRIFT], ids=str)
def test_a_ten_percent_slowdown_fails_at_the_ci_budget(ci_plan, machine):
    fails, covered = _rates(machine, ci_plan, 1.10)
    assert fails >= 0.95
    assert covered >= 0.90


@pytest.mark.parametrize("machine", [NOISY, FLICKER], ids=str)
def test_on_the_noisiest_machines_a_quarter_slowdown_still_fails(ci_plan, machine):
    # 10% jitter a sample, or a 1.8x speed switch every 20 s: +10% needs more pairs than CI's
    # budget (the gate then says INCONCLUSIVE), +25% does not
    fails, covered = _rates(machine, ci_plan, 1.25)
    assert fails >= 0.95
    assert covered >= 0.90


@pytest.mark.parametrize("m, n", [(3, 4), (5, 5), (6, 9)])
def test_rank_sum_cdf_matches_scipy_exact_test(m, n):
    rng = np.random.default_rng(m * n)
    for _ in range(5):
        a, b = rng.normal(0, 1, m), rng.normal(0.5, 1, n)
        u = int((b[None, :] > a[:, None]).sum())  # pairs where B's value is above A's
        p = stats.mannwhitneyu(b, a, alternative="less", method="exact").pvalue  # P(U_B <= u)
        assert rank_sum_cdf(m, n, u) == pytest.approx(p, rel=1e-12)


def test_unpaired_interval_brackets_the_median_difference():
    a, b = np.log([1.0, 1.02, 0.98, 1.01, 0.99]), np.log([1.2, 1.22, 1.19, 1.25, 1.18])
    est = estimate_unpaired(a, b, 0.95)
    assert est.lo < est.ratio < est.hi and 1.15 < est.lo and est.hi < 1.30
    assert estimate_unpaired(a[:2], b[:2], 0.95).hi == math.inf  # 2 and 2 repeats cannot reach 95%


def test_a_cell_line_says_what_it_knows_of_the_rmse():
    from mfbench.ab import CellResult
    from mfbench.gate import cell_line

    est = Estimate(1.0, 0.98, 1.02, 8, 0.9)
    lines = [
        cell_line(CellResult("c", "pass", est, 0.02, rmse, (0.5, 0.5), (None, None)), Plan())
        for rmse in ((0.9, 0.9), (0.9, 0.91), (None, None), (0.9, None))
    ]
    assert [line.split("; ")[-1] for line in lines] == [
        "RMSE identical",
        "RMSE +0.0100",
        "no RMSE",
        "RMSE on one side only",
    ]
    assert lines[0].startswith("c: 1.00x [0.98, 1.02] over 8 pairs (noise floor ±2%): PASS\n      fit 0.500 s")
