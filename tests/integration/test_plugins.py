"""Third-party plugins come in through the same entry-point door as the built-ins."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

PLUGIN = '''
import numpy as np
import mfbench
from mfbench.algorithm import Algorithm


class Median(Algorithm):
    """Predicts the median training rating."""

    state_attrs = ("median_",)

    def __init__(self, *, shift: float = 0.0, device="cpu", seed=0):
        super().__init__(device=device, seed=seed)
        self.shift = shift

    def fit(self, train, valid=None):
        self.median_ = float(np.median(train.values)) + self.shift
        yield {{}}

    def _predict(self, users, items):
        return np.full(len(users), self.median_, np.float32)


@mfbench.hookimpl
def mfbench_algorithms():
    return [mfbench.AlgorithmSpec("{name}", Median, "median rating", ("cpu",))]
'''


def install_fake_distribution(root: Path, dist: str, module: str, algo_name: str) -> None:
    """A package with an entry point in the mfbench group, as pip would leave it on sys.path."""
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(PLUGIN.format(name=algo_name))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    info.joinpath("entry_points.txt").write_text(f"[mfbench]\nplugin = {module}\n")


def mfbench(args, root, cwd):
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, "-m", "mfbench.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_third_party_algorithm_is_listed_and_runs(tmp_path):
    install_fake_distribution(tmp_path / "site", "acme-mf", "acme_mf", "median")
    listed = mfbench(["list", "algorithms"], tmp_path / "site", tmp_path)
    assert listed.returncode == 0, listed.stderr
    line = next(l for l in listed.stdout.splitlines() if l.startswith("median"))
    assert "acme-mf 0.1" in line and "shift=0.0" in line
    ran = mfbench(
        ["run", "--algos", "median,biases", "--param", "median.shift=0.5", "-q", "--out", "res"],
        tmp_path / "site",
        tmp_path,
    )
    assert ran.returncode == 0, ran.stderr
    assert "median" in ran.stdout and "biases" in ran.stdout


def test_duplicate_names_are_refused_naming_both_distributions(tmp_path):
    install_fake_distribution(tmp_path / "site", "clash-mf", "clash_mf", "biases")
    res = mfbench(["list"], tmp_path / "site", tmp_path)
    assert res.returncode == 2
    assert "two plugins register the algorithm 'biases'" in res.stderr
    assert "mfbench 0.1.0" in res.stderr and "clash-mf 0.1" in res.stderr


def test_loading_every_plugin_imports_no_heavy_library():
    # cupy and matplotlib are optional; scipy, pandas (and the pyarrow it pulls in) and numba
    # are imported where a cell or a loader needs them, so that mfbench --help and mfbench list
    # start in a fraction of a second
    code = textwrap.dedent("""
        import sys, mfbench, mfbench.cli, mfbench.runner, mfbench.plan
        from mfbench.registry import get_registry
        get_registry()
        bad = [m for m in ("cupy", "matplotlib", "scipy", "pandas", "pyarrow", "numba") if m in sys.modules]
        assert not bad, bad
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def write_plugin(root: Path, dist: str, module: str, source: str) -> None:
    """A distribution whose entry point loads ``source``."""
    (root / module).mkdir(parents=True)
    (root / module / "__init__.py").write_text(textwrap.dedent(source))
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    info.joinpath("entry_points.txt").write_text(f"[mfbench]\nplugin = {module}\n")


def test_a_misspelled_hook_fails_at_load_naming_the_distribution(tmp_path):
    """``mfbench_algorithm`` (no s) was silently ignored: the plugin's algorithms never appeared."""
    write_plugin(
        tmp_path / "site",
        "typo-mf",
        "typo_mf",
        """
        import mfbench

        @mfbench.hookimpl
        def mfbench_algorithm():
            return []
    """,
    )
    res = mfbench(["list"], tmp_path / "site", tmp_path)
    assert res.returncode == 2, res.stdout
    assert "typo-mf 0.1" in res.stderr and "'mfbench_algorithm'" in res.stderr
    assert "did you mean 'mfbench_algorithms'" in res.stderr


def test_a_spec_of_the_wrong_kind_fails_at_load_naming_the_hook(tmp_path):
    """A DatasetSpec returned from mfbench_algorithms landed in the algorithm table."""
    write_plugin(
        tmp_path / "site",
        "mixed-mf",
        "mixed_mf",
        """
        import mfbench

        @mfbench.hookimpl
        def mfbench_algorithms():
            return [mfbench.DatasetSpec("oops", lambda arg, data_dir: None)]
    """,
    )
    res = mfbench(["list"], tmp_path / "site", tmp_path)
    assert res.returncode == 2, res.stdout
    assert "mfbench_algorithms of mixed-mf 0.1" in res.stderr and "returned a DatasetSpec 'oops'" in res.stderr
    assert "AlgorithmSpec" in res.stderr
