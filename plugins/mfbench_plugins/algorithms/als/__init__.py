"""``als``: explicit ALS-WR with biases; its row solves are ``mfbench_plugins.algorithms.rows``', shared with ``bpmf``."""

from .als import ALS

__all__ = ["ALS"]
