"""Property tests of mfbench's other readers: any experiment file, gate file or baseline gives a
result or one ``MfbenchError``, never another exception (and so never a traceback)."""

from __future__ import annotations

import json
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfbench.errors import MfbenchError
from mfbench.experiment import CONTROL_KEYS, TOP_KEYS, load_experiment
from mfbench.gate import _GATE_KEYS, read_baseline, read_gate_file

SCALARS = st.one_of(
    st.integers(-3, 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=12),
    st.sampled_from(
        [
            "als",
            "sgd,als",
            "ml-100k",
            "official@1",
            "holdout:0.2",
            "cpu",
            "gpu",
            "rmse,ndcg@10",
            "--algos als",
            "[8]",
            "",
        ]
    ),
)
VALUES = st.one_of(SCALARS, st.lists(SCALARS, max_size=4))


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a TOML basic string
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


def _toml(doc: dict) -> str:
    top = [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    tables = [
        f"[{name}]\n" + "\n".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in table.items())
        for name, table in doc.items()
        if isinstance(table, dict)
    ]
    return "\n".join(top) + "\n" + "\n".join(tables) + "\n"


KEYS = st.one_of(st.sampled_from(sorted(TOP_KEYS)), st.text(max_size=6))
TABLES = st.dictionaries(
    st.one_of(st.sampled_from(sorted(CONTROL_KEYS) + ["k", "lr", "epochs", "n_ratings"]), st.text(max_size=5)),
    VALUES,
    max_size=4,
)
EXPERIMENTS = st.dictionaries(KEYS, st.one_of(VALUES, VALUES, TABLES), max_size=8)
SECTIONS = st.sampled_from(
    ["algorithms.als", "algorithms.sgd", "datasets.synthetic", "control", "algorithms", "params.x"]
)


@st.composite
def experiment_texts(draw) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=120))
    doc = draw(EXPERIMENTS)
    text = _toml({k: v for k, v in doc.items() if not isinstance(v, dict)})
    for _ in range(draw(st.integers(0, 3))):
        text += f"[{draw(SECTIONS)}]\n" + _toml(draw(TABLES))
    return text.encode()


def _must_not_crash(read, path):
    try:
        read(path)
    except MfbenchError:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=experiment_texts())
def test_any_experiment_file_gives_a_request_or_one_mfbench_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("exp") / "exp.toml"
    path.write_bytes(content)
    _must_not_crash(load_experiment, path)


GATE_DOCS = st.dictionaries(st.one_of(st.sampled_from(sorted(_GATE_KEYS)), st.text(max_size=5)), VALUES, max_size=6)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=GATE_DOCS)
def test_any_gate_file_gives_a_plan_or_one_mfbench_error(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("gate") / "gate.toml"
    path.write_text(_toml(doc))
    _must_not_crash(read_gate_file, path)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(
                ["algorithm", "fit_seconds", "rmse", "calibrated_fit", "threads_in_force", "calibration_seconds", "x"]
            ),
            inner,
            max_size=5,
        ),
    ),
    max_leaves=12,
)
BASELINES = st.fixed_dictionaries(
    {"cells": st.one_of(JSON, st.dictionaries(st.text(max_size=4), JSON, max_size=3))},
    optional={"schema": st.one_of(st.integers(-1, 5), JSON), "calibration_seconds": JSON, "fingerprint": JSON},
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.one_of(BASELINES, JSON))
def test_any_baseline_gives_a_baseline_or_one_mfbench_error(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("base") / "b.json"
    path.write_text(json.dumps(doc))
    _must_not_crash(read_baseline, path)
