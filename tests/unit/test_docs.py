"""The documentation is made from the code where it can be, and the README stays a page."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from mfbench.registry import get_registry
from mfbench.request import OPTIONS

REPO = Path(__file__).resolve().parents[2]


def _hooks():
    spec = importlib.util.spec_from_file_location("generated", REPO / "docs" / "_hooks" / "generated.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_tables_come_from_the_code():
    hooks = _hooks()
    options = hooks.on_page_markdown("<!-- mfbench:options -->")
    assert all(f"`{o.flag}" in options for o in OPTIONS if o.flag)
    keys = hooks.on_page_markdown("<!-- mfbench:experiment-keys -->")
    assert "`[control] valid`" in keys and "`seeds`" in keys
    algorithms = hooks.on_page_markdown("<!-- mfbench:algorithms -->")
    for entry in get_registry().listing("algorithm"):
        assert f"## `{entry.spec.name}`" in algorithms


def test_the_readme_is_a_page_that_opens_with_the_two_set_up_lines():
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= 150
    assert lines[3].endswith(".venv/bin/mfbench run") and lines[4].endswith(".venv/bin/python -m pytest")
