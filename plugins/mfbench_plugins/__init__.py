"""The built-in algorithms, metrics and executors of mfbench, registered through entry points."""
