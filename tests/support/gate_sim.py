"""A simulated shared machine for the paired gate: the same decisions (``mfbench.ab.compare_pairs``)
driven by side runs whose times come from a noise model instead of a real run.

The model of one cell's fit time in a side run at simulated time ``t`` (seconds since the gate
began): ``true * planted (B only) * drift(t) * speed(t) * lognormal(sigma)``, where

- ``sigma``: each sample's own jitter, independent between samples (2-10% on this project's
  2-vCPU machines: caches, frequency steps, the timer);
- ``speed(t)``: a two-speed machine, 1 or ``slow`` (a vCPU lent elsewhere, a neighbour), switching
  at random after exponential spells of mean ``spell`` seconds: both sides of a pair usually meet
  the same speed, but a switch can fall between them;
- ``drift(t)``: a slow sinusoidal drift of amplitude ``drift`` over ``drift_period`` seconds.

Each side run advances ``t`` by the fits of its cells plus ``overhead`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mfbench.ab import Outcome, Plan, compare_pairs
from mfbench.revisions import Sample, SideRun


@dataclass(frozen=True)
class Machine:
    sigma: float = 0.05
    slow: float = 1.0
    spell: float = 30.0
    drift: float = 0.0
    drift_period: float = 600.0
    overhead: float = 3.0


def simulate(
    machine: Machine, plan: Plan, planted: dict[str, float], true: dict[str, float], rng: np.random.Generator
) -> Outcome:
    """One simulated gate: cells ``true`` (name -> seconds at A), B slower by ``planted[name]``."""
    state = {"t": 0.0, "slow": False, "switch": rng.exponential(machine.spell)}

    def side_run(side: str, serial: int) -> SideRun:
        samples = {}
        start = state["t"]
        for name, seconds in true.items():
            while state["t"] >= state["switch"]:
                state["slow"] = not state["slow"]
                state["switch"] += rng.exponential(machine.spell)
            speed = machine.slow if state["slow"] else 1.0
            drift = 1 + machine.drift * math.sin(2 * math.pi * state["t"] / machine.drift_period)
            factor = planted.get(name, 1.0) if side == "B" else 1.0
            fit = seconds * factor * drift * speed * math.exp(rng.normal(0, machine.sigma))
            samples[name] = Sample(fit, fit, {"rmse": 0.9})
            state["t"] += fit
        state["t"] += machine.overhead
        return SideRun(samples, {}, state["t"] - start, state["t"] - start, 0.0)

    return compare_pairs(side_run, plan)


#: the scenarios of docs/gate.md's table, by name
SCENARIOS = {
    "jitter 2%": Machine(sigma=0.02),
    "jitter 5%": Machine(sigma=0.05),
    "jitter 10%": Machine(sigma=0.10),
    "two-speed 1.5x, 60 s spells": Machine(sigma=0.03, slow=1.5, spell=60),
    "two-speed 1.8x, 20 s spells": Machine(sigma=0.03, slow=1.8, spell=20),
    "drift ±30% over 2 min": Machine(sigma=0.03, drift=0.3, drift_period=120),
}


def main() -> None:
    """Print FAIL, INCONCLUSIVE and coverage rates of the CI gate file's plan on each scenario."""
    import argparse
    from pathlib import Path

    from tabulate import tabulate

    from mfbench.gate import read_gate_file

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--gates", type=int, default=1000, help="simulated gates per scenario and slowdown")
    parser.add_argument("--planted", default="1.0,1.10,1.25", help="als's slowdowns at B, comma-separated")
    opts = parser.parse_args()
    plan = read_gate_file(Path(__file__).resolve().parents[2] / "results" / "baselines" / "ci.toml").plan
    cells = {"sgd": 0.25, "als": 0.59, "adam_sgd": 0.37}
    rows = []
    for name, machine in SCENARIOS.items():
        for planted in (float(x) for x in opts.planted.split(",")):
            rng = np.random.default_rng(0)
            verdicts, covered, seconds = [], 0, []
            for _ in range(opts.gates):
                out = simulate(machine, plan, {"als": planted}, cells, rng)
                cell = {r.key: r for r in out.cells}["als"]
                verdicts.append(cell.verdict)
                covered += cell.estimate.lo <= planted <= cell.estimate.hi
                seconds.append(out.seconds)
            rows.append(
                [
                    name,
                    f"{planted:.2f}",
                    f"{verdicts.count('fail') / opts.gates:.3f}",
                    f"{verdicts.count('inconclusive') / opts.gates:.3f}",
                    f"{covered / opts.gates:.3f}",
                    f"{np.median(seconds):.0f}",
                ]
            )
    print(
        tabulate(
            rows,
            headers=["machine", "als B/A", "FAIL", "INCONCLUSIVE", "interval covers", "median s"],
            tablefmt="github",
            disable_numparse=True,
        )
    )


if __name__ == "__main__":
    main()
