"""Same-machine A/B: run A and B side by side in pairs, and decide per cell from the pairs' ratios.

A *side run* is one fresh ``mfbench run`` of every cell on one side (``revisions.run_side``);
a *pair* is one side run of A and one of B next to each other. Pairs alternate their order,
A B, B A, B A, A B, ... (ABBA, then BAAB), so that neither side is always first after the
other, and both meet the same moments of the machine. After each pre-planned step of pairs
(``Plan.steps``) every timed cell gets its ratio B/A and interval (``paired.estimate``,
Hodges-Lehmann with the Wilcoxon signed-rank interval), at a confidence corrected for the
number of cells (Bonferroni); the comparison stops at the first step where every cell is
decided, or when the next step would overrun the time budget.

The noise floor is free: within each block of two pairs, A ran twice (A B B A, or B A A B), and
the two A samples differ by the machine's noise alone; the median of their absolute log-ratio is
the floor printed beside each verdict.

``compare_pairs`` takes the side runner as a function, so that the simulation tests drive the
same decisions with a model of a noisy machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median

import numpy as np

from .paired import Estimate, estimate, pairs_to_settle, verdict
from .revisions import SideRun

__all__ = ["Plan", "CellResult", "Outcome", "order", "compare_pairs", "evaluate"]


@dataclass(frozen=True)
class Plan:
    """How a paired comparison samples and decides.

    ``steps``: cumulative pair counts at which to decide (stop early when every cell is decided);
    ``budget_seconds``: no step is begun that the pairs' measured cost says would end past it;
    ``confidence``: family-wise, over the timed cells (each cell's interval is at
    ``1 - (1 - confidence) / cells``); ``max_slowdown``: the largest ratio B/A allowed;
    ``max_rmse_increase``: the largest allowed rise of RMSE; ``min_seconds``: cells whose median
    fit on A is shorter are checked for accuracy only."""

    steps: tuple[int, ...] = (8, 12, 16, 24)
    budget_seconds: float | None = None
    confidence: float = 0.90
    max_slowdown: float = 1.05
    max_rmse_increase: float = 0.005
    min_seconds: float = 0.05


@dataclass
class CellResult:
    """One cell's comparison: its verdict (``pass``, ``fail``, ``inconclusive``, ``accuracy``
    when untimed and accurate, ``failed`` when B's cell failed or is missing), and why."""

    key: str
    verdict: str
    estimate: Estimate | None = None
    noise_floor: float | None = None
    rmse: tuple[float | None, float | None] = (None, None)
    fit_seconds: tuple[float | None, float | None] = (None, None)
    cpu_seconds: tuple[float | None, float | None] = (None, None)
    reason: str = ""
    settle_pairs: int | None = None


@dataclass
class Outcome:
    """Every cell's result, the pairs taken and what they cost."""

    cells: list[CellResult]
    pairs: list[tuple[SideRun, SideRun]] = field(default_factory=list)
    stopped: str = "decided"

    @property
    def seconds(self) -> float:
        return sum(a.wall_seconds + b.wall_seconds for a, b in self.pairs)

    @property
    def steal_seconds(self) -> float | None:
        steals = [r.steal_seconds for pair in self.pairs for r in pair]
        return None if not steals or any(s is None for s in steals) else float(sum(steals))  # type: ignore[arg-type]

    def exit_code(self) -> int:
        """0 every cell passed, 1 a cell failed (slower, less accurate, failing), 3 inconclusive."""
        verdicts = {c.verdict for c in self.cells}
        if verdicts & {"fail", "failed"}:
            return 1
        return 3 if "inconclusive" in verdicts else 0


def order(pair: int) -> tuple[str, str]:
    """Which side runs first in pair ``pair``: A B, B A, B A, A B, and again (ABBA, BAAB)."""
    return ("A", "B") if pair % 4 in (0, 3) else ("B", "A")


def _median(values: list[float]) -> float | None:
    return median(values) if values else None


def _noise_floor(a_times: list[float | None]) -> float | None:
    """Median ``|log(A / A')|`` of the two A samples in each block of two pairs."""
    logs = [abs(math.log(second / first)) for first, second in zip(a_times[::2], a_times[1::2]) if first and second]
    return math.expm1(median(logs)) if logs else None


def evaluate(keys: list[str], pairs: list[tuple[SideRun, SideRun]], plan: Plan) -> list[CellResult]:
    """Every cell's result from the pairs so far."""
    results: list[CellResult] = []
    timed = [
        k
        for k in keys
        if (t := _median([a.samples[k].fit_seconds for a, _ in pairs if k in a.samples])) is not None
        and t >= plan.min_seconds
    ]
    cell_confidence = 1 - (1 - plan.confidence) / max(1, len(timed))
    for key in keys:
        ref_failed = [a.failures[key] for a, _ in pairs if key in a.failures]
        if ref_failed:
            results.append(CellResult(key, "failed", reason=f"fails at A, the reference: {ref_failed[-1]}"))
            continue
        failed = [b.failures[key] for _, b in pairs if key in b.failures]
        if failed:
            results.append(CellResult(key, "failed", reason=f"fails at B: {failed[-1]}"))
            continue
        both = [(a.samples[key], b.samples[key]) for a, b in pairs if key in a.samples and key in b.samples]
        if not both:
            results.append(CellResult(key, "failed", reason="missing at B"))
            continue
        res = CellResult(key, "pass")
        rmse_a = _median([s.metrics["rmse"] for s, _ in both if "rmse" in s.metrics])
        rmse_b = _median([s.metrics["rmse"] for _, s in both if "rmse" in s.metrics])
        res.rmse = (rmse_a, rmse_b)
        res.fit_seconds = (_median([s.fit_seconds for s, _ in both]), _median([s.fit_seconds for _, s in both]))
        res.cpu_seconds = (
            _median([s.fit_cpu_seconds for s, _ in both if s.fit_cpu_seconds is not None]),
            _median([s.fit_cpu_seconds for _, s in both if s.fit_cpu_seconds is not None]),
        )
        res.noise_floor = _noise_floor([a.samples[key].fit_seconds if key in a.samples else None for a, _ in pairs])
        if key in timed:
            d = np.log([b.fit_seconds / a.fit_seconds for a, b in both])
            res.estimate = estimate(d, cell_confidence)
            res.verdict = verdict(res.estimate, plan.max_slowdown)
            if res.verdict == "inconclusive":
                res.settle_pairs = pairs_to_settle(res.estimate, plan.max_slowdown)
        else:
            res.verdict = "accuracy"
            res.reason = f"{(res.fit_seconds[0] or 0) * 1000:.1f} ms fit at A, below min_seconds: accuracy only"
        if rmse_a is not None and rmse_b is not None and rmse_b - rmse_a > plan.max_rmse_increase:
            res.verdict = "fail"
            res.reason = f"RMSE {rmse_b:.4f} against {rmse_a:.4f} (+{rmse_b - rmse_a:.4f} > {plan.max_rmse_increase})"
        results.append(res)
    return results


def compare_pairs(
    side_run: Callable[[str, int], SideRun], plan: Plan, say: Callable[[str], None] = lambda line: None
) -> Outcome:
    """Take pairs of side runs (``side_run(side, n)``, side ``"A"`` or ``"B"``, ``n`` a serial) step
    by step until every cell is decided, the steps end or the budget would be overrun."""
    pairs: list[tuple[SideRun, SideRun]] = []
    keys: list[str] = []
    results: list[CellResult] = []
    stopped = "steps"
    spent = 0.0
    serial = 0
    for step in plan.steps:
        if len(pairs) >= step:
            continue
        per_pair = spent / len(pairs) if pairs else 0.0
        if plan.budget_seconds is not None and pairs and spent + per_pair * (step - len(pairs)) > plan.budget_seconds:
            stopped = "budget"
            break
        while len(pairs) < step:
            runs = {}
            for side in order(len(pairs)):
                runs[side] = side_run(side, serial)
                serial += 1
            pair = (runs["A"], runs["B"])
            spent += pair[0].wall_seconds + pair[1].wall_seconds
            pairs.append(pair)
            for k in (*pair[0].samples, *pair[0].failures, *pair[1].samples, *pair[1].failures):
                if k not in keys:
                    keys.append(k)
        results = evaluate(keys, pairs, plan)
        undecided = [r.key for r in results if r.verdict == "inconclusive"]
        say(
            f"{len(pairs)} pairs, {spent:.0f} s: "
            + (f"{len(undecided)} cell(s) undecided" if undecided else "every cell decided")
        )
        if not undecided:
            stopped = "decided"
            break
    return Outcome(results, pairs, stopped)
