"""From what the user asked for to the jobs of a run, validating everything before any work."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import devices
from .data import Dataset, make_splits, parse_protocol
from .errors import MfbenchError
from .params import Constraint, check_params, constraints_of
from .ranking import DEFAULT_K, parse_metric_name
from .registry import Registry
from .request import RunRequest, validate
from .runner import Cell, Job, SplitSource, code_version

__all__ = ["Plan", "plan_run", "parse_assignments", "check_assignments", "expand_grid"]


@dataclass
class Plan:
    cells: list[Cell]
    jobs: list[Job]
    datasets: dict[str, Dataset]
    metric_names: list[str] = field(default_factory=list)
    """The table's metric columns in the order asked (``ndcg`` becomes ``ndcg@10``)."""


def parse_value(text: str) -> Any:
    """``true``/``false``, numbers, JSON lists, or the text itself."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.strip().startswith(("[", "{")):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            pass
    return text


def parse_assignments(items: Sequence[str], option: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``NAME.KEY=VALUE`` items into ``({NAME: {KEY: value}}, {"NAME.KEY": "OPTION NAME.KEY=VALUE"})``;
    values are parsed (``parse_value``), not yet checked (``check_assignments``)."""
    values: dict[str, dict[str, Any]] = {}
    sources: dict[str, str] = {}
    for item in items:
        target, sep, text = item.partition("=")
        name, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise MfbenchError(f"{option} {item!r}: use {option} NAME.KEY=VALUE, e.g. {option} biases.reg_user=10")
        values.setdefault(name, {})[key] = parse_value(text)
        sources[f"{name}.{key}"] = f"{option} {item}"
    return values, sources


def check_assignments(
    values: Mapping[str, Mapping[str, Any]],
    known: dict[str, dict[str, Any]],
    sources: Mapping[str, str],
    what: str,
    constraints: dict[str, Mapping[str, list[Constraint]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """``{NAME: {KEY: value}}`` checked against ``known`` defaults and the declared
    ``constraints`` (``mfbench.params``); ``what`` names the kind (``--param``) in messages."""
    out = {}
    for name, settings in values.items():
        if name not in known:
            where = sources.get(f"{name}.{next(iter(settings), '')}", f"{what} {name}")
            raise MfbenchError(f"{where}: {name!r} is not in this run ({', '.join(known)})")
        for key in settings:
            if key not in known[name]:
                where = sources.get(f"{name}.{key}", f"{what} {name}.{key}")
                raise MfbenchError(
                    f"{where}: {name} has no parameter {key!r}; its parameters: {', '.join(known[name]) or '(none)'}"
                )
        origins = {key: sources.get(f"{name}.{key}", f"{what} {name}.{key}={settings[key]!r}") for key in settings}
        out[name] = check_params(name, settings, known[name], (constraints or {}).get(name, {}), origins)
    return out


def _is_grid(value: Any, default: Any) -> bool:
    if not isinstance(value, list):
        return False
    if isinstance(default, (list, tuple)):
        return bool(value) and all(isinstance(v, (list, tuple)) for v in value)
    return True


def expand_grid(
    name: str, settings: Mapping[str, Any], defaults: Mapping[str, Any], sources: Mapping[str, str]
) -> list[dict[str, Any]]:
    """One dict of values per cell: the product over the keys set to a grid (a list)."""
    fixed = {k: v for k, v in settings.items() if not _is_grid(v, defaults.get(k))}
    grids = {k: v for k, v in settings.items() if k not in fixed}
    for key, values in grids.items():
        if not values:
            raise MfbenchError(
                f"{sources.get(f'{name}.{key}', f'{name}.{key}')}: an empty grid; give at least one value"
            )
    combos = itertools.product(*grids.values()) if grids else [()]
    return [{**fixed, **dict(zip(grids, combo))} for combo in combos]


def resolve_metrics(
    names: Sequence[str], registry: Registry
) -> tuple[dict[str, Any], dict[str, tuple[Any, int]], list[str]]:
    """Rating metrics ``{name: fn}``, ranking metrics ``{name@k: (fn, k)}`` and the column names,
    in the order of ``--metrics``."""
    rating: dict[str, Any] = {}
    ranking: dict[str, tuple[Any, int]] = {}
    columns: list[str] = []
    for text in names:
        base, k = parse_metric_name(text)
        spec = registry.metric(base)
        if spec.needs == "ranking":
            k = k or DEFAULT_K
            name = f"{base}@{k}"
            ranking[name] = (spec.function, k)
        elif k is not None:
            raise MfbenchError(f"--metrics {text}: {base} is a rating metric and takes no @K cut-off")
        else:
            name = base
            rating[base] = spec.function
        if name not in columns:
            columns.append(name)
    return rating, ranking, columns


def require_argument(name: str, spec: Any, how: str = "--dataset ") -> None:
    """A parametric dataset (``file``) must be named with its argument (``file:PATH``)."""
    if spec.parametric and ":" not in name:
        raise MfbenchError(f"dataset {name!r} needs an argument: {how}{name}:VALUE ({spec.description})")


def load_dataset(name: str, spec: Any, data_dir: Path | None, options: dict[str, Any]) -> Dataset:
    """Call ``spec``'s loader for ``name`` (``NAME`` or ``NAME:ARG``) with its options."""
    return spec.loader(name.split(":", 1)[1] if spec.parametric else None, data_dir, **options)


def plan_run(req: RunRequest, registry: Registry, run_id: str, checkpoint_dir: str | None = None) -> Plan:
    """Validate names, devices and parameters, then load data and expand the cells."""
    validate(req)
    algos = {name: registry.algorithm(name) for name in req.algorithms}
    dspecs = {name: registry.dataset(name) for name in req.datasets}
    metrics, ranking, columns = resolve_metrics(req.metrics, registry)
    for device in req.devices:
        devices.require(device)
        for name, spec in algos.items():
            if device not in spec.devices:
                raise MfbenchError(f"{name} does not run on {device} (it runs on: {', '.join(spec.devices)})")
    known = {n: s.defaults for n, s in algos.items()}
    constraints = {n: constraints_of(s.factory) for n, s in algos.items()}
    # every setting of the grids is checked, names not in the run included (check_assignments refuses them)
    grids = {
        name: expand_grid(name, req.params.get(name, {}), known.get(name, {}), req.sources)
        for name in dict.fromkeys([*algos, *req.params])
    }
    params = {
        name: [check_assignments({name: g}, known, req.sources, "--param", constraints)[name] for g in grid]
        for name, grid in grids.items()
    }
    dataset_defaults = {name.split(":", 1)[0]: spec.options for name, spec in dspecs.items()}
    data_params = check_assignments(req.data_params, dataset_defaults, req.data_sources, "--data-param")
    protocols = {}
    for name, dspec in dspecs.items():
        require_argument(name, dspec)
        protocols[name] = parse_protocol(req.folds or dspec.default_split)

    cells: list[Cell] = []
    jobs: list[Job] = []
    loaded: dict[str, Dataset] = {}
    for dname, dspec in dspecs.items():
        options = data_params.get(dname.split(":", 1)[0], {})
        dataset = load_dataset(dname, dspec, req.data_dir, options)
        loaded[dname] = dataset
        for split in make_splits(dataset, protocols[dname], req.split_seed, req.valid_fraction):
            source = SplitSource(
                dname,
                dict(options),
                None if req.data_dir is None else str(req.data_dir),
                str(protocols[dname]),
                req.split_seed,
                req.valid_fraction,
                split.name,
                dataset.digest,
            )
            for aname, aspec in algos.items():
                version = code_version(aspec.factory)
                for setting in params[aname]:
                    full = aspec.cell_params(setting)
                    for device in req.devices:
                        for seed in req.seeds:
                            for repeat in range(req.repeats):
                                cell = Cell(aname, full, dname, split.name, device, seed, repeat)
                                cells.append(cell)
                                jobs.append(
                                    Job(
                                        run_id,
                                        cell,
                                        split,
                                        aspec.factory,
                                        metrics,
                                        req.control,
                                        version,
                                        checkpoint_dir,
                                        ranking,
                                        req.relevance,
                                        source,
                                    )
                                )
    return Plan(cells, jobs, loaded, columns)
