"""MkDocs hook: fill the reference pages' tables from the code, so that nothing is written twice.

``<!-- mfbench:options -->`` becomes the run options' table (``mfbench.request.OPTIONS``),
``<!-- mfbench:experiment-keys -->`` the experiment file's keys (``mfbench.experiment``) and
``<!-- mfbench:algorithms -->`` every installed algorithm's parameters with their defaults and
allowed values (``mfbench.params``)."""

from __future__ import annotations

from typing import Any


def _table(headers: list[str], rows: list[list[str]]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    out = ["| " + " | ".join(headers) + " |", "| " + " | ".join("---" for _ in headers) + " |"]
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _code(text: Any) -> str:
    return f"`{text}`" if text not in (None, "") else ""


def _default(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return _code(",".join(map(str, value)))
    return _code(value) if value is not None else "none"


def options() -> str:
    from mfbench.request import OPTIONS

    rows = []
    for o in OPTIONS:
        flag = f"{o.flag}/{o.secondary_flag}" if o.secondary_flag else o.flag
        default = o.cli_default if o.cli_default is not None else o.default
        rows.append(
            [
                _code(flag),
                _code(o.key),
                _code(o.arg),
                o.kind_text,
                _default(default),
                o.help + (f" Rule: {o.rule}." if o.rule else ""),
            ]
        )
    return _table(["flag", "file key", "mfbench.run", "value", "default", "meaning"], rows)


def experiment_keys() -> str:
    from mfbench.experiment import CONTROL_KEYS, TOP_KEYS

    rows = [[_code(k), v] for k, v in TOP_KEYS.items()] + [
        [_code(f"[control] {k}"), v] for k, v in CONTROL_KEYS.items()
    ]
    return _table(["key", "what it must be"], rows)


def algorithms() -> str:
    from mfbench.params import constraints_of, describe_constraints
    from mfbench.registry import get_registry

    blocks = []
    for entry in get_registry().listing("algorithm"):
        spec = entry.spec
        declared = constraints_of(spec.factory)
        rows = []
        for key, default in spec.defaults.items():
            accepts = describe_constraints(declared[key]) if key in declared else "any value"
            rows.append([_code(key), _default(default), accepts])
        head = f"## `{spec.name}`\n\n{spec.description} (devices: {', '.join(spec.devices)}; from {entry.distribution})\n\n"
        blocks.append(head + (_table(["parameter", "default", "accepts"], rows) if rows else "No parameters."))
    return "\n\n".join(blocks)


_MARKERS = {"options": options, "experiment-keys": experiment_keys, "algorithms": algorithms}


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    for name, make in _MARKERS.items():
        marker = f"<!-- mfbench:{name} -->"
        if marker in markdown:
            markdown = markdown.replace(marker, make())
    return markdown
