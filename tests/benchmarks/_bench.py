"""Helpers of the benchmarks."""

import os

SCALE = float(os.environ.get("MFBENCH_BENCH_SCALE", "1"))


def run_forever(algo):
    """Let ``algo`` run as many epochs as asked for (10^9); a sampler keeps only its last draw
    (bpmf's burn-in covers all but one sweep), not 10^9 of them. Returns ``algo``."""
    algo.epochs = 10**9
    if hasattr(algo, "burn_in"):
        algo.burn_in = algo.epochs - 1
    return algo


def epoch_runner(algo, ratings):
    """Prepare once (compile, layout), then return a callable that runs one epoch."""
    run_forever(algo)
    algo.prepare(ratings)
    it = algo.fit(ratings)
    return lambda: next(it)


def report_throughput(benchmark, n_ratings):
    stats = benchmark.stats.stats
    benchmark.extra_info["M_ratings_per_s_median"] = round(n_ratings / stats.median / 1e6, 2)
    benchmark.extra_info["n_ratings"] = n_ratings
    return n_ratings / stats.median / 1e6


def interleaved(sides, rounds=5):
    """Each side's samples (a callable returning seconds), taken in ``rounds`` rounds whose order
    alternates (A B, B A, A B, ...), so that a drift of the machine (clock, other load) falls on
    every side alike. Returns ``{side: [seconds per round]}``."""
    names = list(sides)
    out = {name: [] for name in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            out[name].append(float(sides[name]()))
    return out


def per_round(numerator, denominator):
    """Round-by-round ratios of two sides' samples from one ``interleaved`` run."""
    return [a / b for a, b in zip(numerator, denominator)]


def spread(values, fmt=".3g"):
    """``median [min, max]``, the way every comparison here is reported."""
    import numpy as np

    return f"{np.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"
