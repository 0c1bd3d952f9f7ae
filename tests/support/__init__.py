"""Helpers of the test suite: running the CLI in-process (``cli``), scripted fake algorithms
(``fakes``), checks of ALS half-sweeps (``als_check``), a simulated machine for the gate
(``gate_sim``) and scratch clones with planted commits (``planted``)."""
