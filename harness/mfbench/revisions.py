"""Two versions of mfbench on one machine: a git revision checked out once, the working tree as installed.

A revision is exported once (``git archive``) into ``<cache>/revisions/<commit>/`` and imported
instead of the working tree's code by putting its packages first on ``PYTHONPATH``: same
interpreter, same dependencies, its own numba cache. The packages and the entry points come from
the revision's own ``pyproject.toml``, so a revision whose layout differs from the working
tree's still loads its own plugins (a ``mfbench`` distribution written beside the export, which
Python's ``importlib.metadata`` finds before the installed one).

A *side* is one of the two; ``run_side`` runs ``mfbench run ARGS`` once on a side in a fresh
process and returns one sample per cell: its fit seconds, fit CPU seconds and metrics, with the
side run's own wall, CPU and steal seconds.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import MfbenchError
from .paths import cache_dir

__all__ = [
    "Side",
    "Sample",
    "SideRun",
    "repo_root",
    "resolve",
    "working_tree",
    "revision",
    "run_side",
    "sample_key",
    "steal_seconds",
]


@dataclass(frozen=True)
class Side:
    """How to start mfbench at one version: a label, and the environment to start it with."""

    label: str
    commit: str | None = None  # None: the working tree as installed
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Sample:
    """One cell's result in one side run."""

    fit_seconds: float
    fit_cpu_seconds: float | None
    metrics: dict[str, float]


@dataclass(frozen=True)
class SideRun:
    """One ``mfbench run`` on one side: a sample per cell, failures, and what the run cost."""

    samples: dict[str, Sample]
    failures: dict[str, str]
    wall_seconds: float
    cpu_seconds: float
    steal_seconds: float | None


def _git(repo: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise MfbenchError("git is not installed: comparing revisions needs it") from None
    if done.returncode != 0:
        raise MfbenchError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout.strip()


def repo_root(start: Path | None = None) -> Path:
    """The git repository holding ``start`` (default: the current folder)."""
    start = Path(start or Path.cwd())
    try:
        return Path(_git(start, "rev-parse", "--show-toplevel"))
    except MfbenchError:
        raise MfbenchError(
            f"{start} is not inside a git repository: run mfbench gate from the project's checkout"
        ) from None


def resolve(repo: Path, rev: str) -> str:
    """The full commit id of ``rev``, or a clear error (a shallow clone lacks old commits)."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except MfbenchError:
        shallow = _git(repo, "rev-parse", "--is-shallow-repository") == "true"
        hint = " (this clone is shallow: git fetch --unshallow)" if shallow else ""
        raise MfbenchError(f"{rev!r} is not a commit of {repo}{hint}") from None


def _package_roots(tree: Path, pyproject: dict[str, Any]) -> list[Path]:
    """The folders to put on ``sys.path`` so that the revision's packages import from ``tree``."""
    mapping = pyproject.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    roots: list[Path] = []
    for package, folder in mapping.items():
        folder = Path(folder)
        root = (
            tree / folder if package == "" else tree / folder.parent if folder.name == package.split(".")[-1] else None
        )
        if root is not None and root not in roots and "." not in package:
            roots.append(root)
    return roots or [tree / "src" if (tree / "src").is_dir() else tree]


def _write_distribution(tree: Path, pyproject: dict[str, Any]) -> Path:
    """A ``mfbench`` dist-info with the revision's entry points, in a folder of its own."""
    project = pyproject.get("project", {})
    folder = tree / ".mfbench-dist"
    info = folder / f"mfbench-{project.get('version', '0')}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: mfbench\nVersion: {project.get('version', '0')}\n")
    groups = project.get("entry-points", {})
    scripts = project.get("scripts", {})
    lines = []
    for group, entries in ({"console_scripts": scripts, **groups}).items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    return folder


def _export(repo: Path, commit: str, dest: Path) -> None:
    """``git archive`` of ``commit`` unpacked into ``dest``, atomically (a half export never shows)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{commit[:12]}."))
    try:
        archive = tmp / "tree.tar"
        _git(repo, "archive", "--format=tar", f"--output={archive}", commit)
        with tarfile.open(archive) as tar:
            # the "data" filter (Python 3.11.4 and later) refuses links out of the tree
            safe: dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
            tar.extractall(tmp / "tree", **safe)
        archive.unlink()
        pyproject = tomllib.loads((tmp / "tree" / "pyproject.toml").read_text())
        _write_distribution(tmp / "tree", pyproject)
        (tmp / "tree" / ".mfbench-complete").write_text(commit + "\n")
        try:
            os.replace(tmp / "tree", dest)
        except OSError:  # another process exported it first
            if not (dest / ".mfbench-complete").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def revision(repo: Path, rev: str) -> Side:
    """A side that runs ``rev``'s code: exported once into the cache, with its own numba cache."""
    commit = resolve(repo, rev)
    tree = cache_dir() / "revisions" / commit
    if not (tree / ".mfbench-complete").exists():
        shutil.rmtree(tree, ignore_errors=True)
        _export(repo, commit, tree)
    pyproject = tomllib.loads((tree / "pyproject.toml").read_text())
    paths = [str(tree / ".mfbench-dist"), *(str(p) for p in _package_roots(tree, pyproject))]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    env = {"PYTHONPATH": os.pathsep.join(paths), "NUMBA_CACHE_DIR": str(tree / ".numba_cache")}
    return Side(f"{rev} ({commit[:10]})" if not commit.startswith(rev) else commit[:10], commit, env)


def working_tree(repo: Path | None = None) -> Side:
    """The side that runs the installed mfbench (the working tree, for an editable install)."""
    label = "working tree"
    if repo is not None:
        try:
            label += f" (on {_git(repo, 'rev-parse', '--short', 'HEAD')})"
        except MfbenchError:
            pass
    return Side(label)


def sample_key(record: dict[str, Any]) -> str:
    """The cell a record samples, as both sides name it: algorithm, dataset, split, device and seed
    (the cell id's parameter hash would change when a version adds a hyper-parameter)."""
    split = (record.get("split") or {}).get("name", "")
    return f"{record['algorithm']}|{record['dataset']}|{split}|{record['device']}|seed={record['seed']}"


def steal_seconds() -> float | None:
    """CPU time the hypervisor gave to others so far, from ``/proc/stat`` (``None`` where absent)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    if len(fields) < 9 or fields[0] != "cpu":
        return None
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_side(side: Side, args: list[str], workdir: Path, run_id: str, timeout: float | None = None) -> SideRun:
    """Run ``mfbench run ARGS`` once on ``side`` in a fresh process (no calibration, quiet) and
    read one sample per cell back from its records."""
    out = workdir / "runs"
    env = {**os.environ, **side.env}
    cmd = [sys.executable, "-m", "mfbench", "run", *args, "--out", str(out), "--run-id", run_id, "-q", "--no-calibrate"]
    steal0, cpu0, t0 = steal_seconds(), _children_cpu(), time.perf_counter()
    try:
        done = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MfbenchError(f"{side.label}: mfbench run did not finish within {timeout:.0f} s") from None
    wall, cpu = time.perf_counter() - t0, _children_cpu() - cpu0
    steal1 = steal_seconds()
    records_path = out / run_id / "runs.jsonl"
    if not records_path.exists():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-5:])
        raise MfbenchError(
            f"{side.label}: mfbench run {' '.join(args)} wrote no records (exit {done.returncode}):\n{tail}"
        )
    samples, failures = {}, {}
    for line in records_path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        key = sample_key(rec)
        if key in samples or key in failures:
            raise MfbenchError(
                f"{side.label}: two cells of mfbench run {' '.join(args)} are {key}: compare "
                "revisions on runs without a grid or repeats"
            )
        if rec.get("status") == "ok":
            samples[key] = Sample(float(rec["fit_seconds"]), rec.get("fit_cpu_seconds"), dict(rec.get("metrics") or {}))
        else:
            failures[key] = f"{rec.get('status')}: {rec.get('error')}"
    shutil.rmtree(out / run_id, ignore_errors=True)
    steal = steal1 - steal0 if steal0 is not None and steal1 is not None else None
    return SideRun(samples, failures, wall, cpu, steal)
