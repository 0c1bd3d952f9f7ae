"""The conformance suite itself (``mfbench.testing``), run on small plugin test files with
pytester, as a plugin author would run it."""

import subprocess
import sys

pytest_plugins = ["pytester"]

HEADER = """
import numpy as np
import pytest
from mfbench import Algorithm
from mfbench.testing import AlgorithmChecks


class MeanOf(Algorithm):
    state_attrs = ("mu_",)

    def __init__(self, *, epochs: int = 1, write_input: bool = False, device="cpu", seed=0):
        super().__init__(device=device, seed=seed)
        self.epochs, self.write_input = epochs, write_input

    def fit(self, train, valid=None):
        if self.write_input:
            train.values[:] = np.clip(train.values, 1, 5)  # "harmless" in-place cleaning
        self.mu_ = np.float32(train.values.mean())
        for _ in range(self.epochs):
            yield {}

    def _predict(self, users, items):
        return np.full(len(users), self.mu_, np.float32)
"""


def run_suite(pytester, body):
    pytester.makepyfile(test_plugin=HEADER + body)
    return pytester.runpytest("-p", "no:cacheprovider", "-rxXf")


def test_a_stale_expected_failure_fails_the_suite(pytester):
    """Expected failures were applied with ``pytest.xfail()`` inside the check, which stops it
    before it runs: a check that passed still reported XFAIL. Now it runs, and passes fail."""
    result = run_suite(
        pytester,
        """
class TestMeanOf(AlgorithmChecks):
    expected_failures = {"check_params_round_trip": "no longer true", "check_state_round_trip": "still true"}

    @pytest.fixture(scope="class")
    @classmethod
    def factory(cls):
        return MeanOf

    def test_check_state_round_trip(self, trained, factory, split):
        raise AssertionError("this algorithm has no usable state")
""",
    )
    result.assert_outcomes(failed=1, xfailed=1, passed=7, skipped=2)
    result.stdout.fnmatch_lines(["*XPASS(strict)*no longer true*"])


def test_an_algorithm_that_writes_into_its_input_fails(pytester):
    result = run_suite(
        pytester,
        """
class TestMeanOf(AlgorithmChecks):
    params = {"write_input": True}

    @pytest.fixture(scope="class")
    @classmethod
    def factory(cls):
        return MeanOf
""",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) + outcomes.get("failed", 0) >= 5, outcomes
    result.stdout.fnmatch_lines(["*read-only*"])


def test_expected_failures_must_name_a_check(pytester):
    result = run_suite(
        pytester,
        """
class TestMeanOf(AlgorithmChecks):
    expected_failures = {"check_state_roundtrip": "typo"}
""",
    )
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*expected_failures names no check 'check_state_roundtrip'*"])


def test_the_suite_needs_the_harness_alone():
    """``mfbench.testing`` imported mfbench's built-in dataset and metric plugins."""
    code = (
        "import sys, mfbench.testing as t; t.planted_split(); "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('mfbench_plugins', 'mfbench_datasets')); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
