"""The plugin manager: built-ins and third-party packages, both loaded through entry points."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError, UnknownNameError
from .specs import AlgorithmSpec, DatasetSpec, ExecutorSpec, MetricSpec

__all__ = ["Registry", "get_registry", "hookimpl"]

ENTRY_POINT_GROUP = "mfbench"
hookimpl = pluggy.HookimplMarker("mfbench")

_KINDS = {
    "algorithm": "mfbench_algorithms",
    "dataset": "mfbench_datasets",
    "metric": "mfbench_metrics",
    "executor": "mfbench_executors",
}
_SPECS = {"algorithm": AlgorithmSpec, "dataset": DatasetSpec, "metric": MetricSpec, "executor": ExecutorSpec}


@dataclass(frozen=True)
class Entry:
    """A spec and where it came from (the distribution and plugin that registered it)."""

    spec: Any
    distribution: str
    plugin: str


@dataclass
class Registry:
    """Every registered spec, by kind and name, checked for duplicates."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)

    def _get(self, kind: str, name: str) -> Any:
        table = self.entries[kind]
        if name not in table:
            raise UnknownNameError(kind, name, list(table))
        return table[name].spec

    def algorithm(self, name: str) -> AlgorithmSpec:
        return self._get("algorithm", name)

    def dataset(self, name: str) -> DatasetSpec:
        """A dataset by name; ``file:PATH`` finds the parametric dataset ``file``."""
        base = name.split(":", 1)[0]
        return self._get("dataset", base if base in self.entries["dataset"] else name)

    def metric(self, name: str) -> MetricSpec:
        return self._get("metric", name)

    def executor(self, name: str) -> ExecutorSpec:
        return self._get("executor", name)

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def listing(self, kind: str) -> list[Entry]:
        return [self.entries[kind][n] for n in self.names(kind)]


def _origins(pm: pluggy.PluginManager) -> dict[int, str]:
    """``id(plugin) -> "distribution version"`` for the plugins that entry points loaded."""
    # list_plugin_distributions is pluggy >= 1.7; list_plugin_distinfo serves every 1.x
    listing = getattr(pm, "list_plugin_distributions", None) or pm.list_plugin_distinfo
    return {id(plugin): _dist_label(dist) for plugin, dist in listing()}


def _origin(origins: dict[int, str], plugin: Any, plugin_name: str) -> str:
    return origins.get(id(plugin), f"plugin {plugin_name!r} (registered directly)")


def _check_hooks(pm: pluggy.PluginManager) -> None:
    """Refuse an implementation of a hook that no spec declares (a misspelled name would be
    silently ignored): pluggy's ``check_pending``, reported with the distribution and the
    nearest hook name."""
    import difflib

    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        plugin = exc.plugin
        name = pm.get_name(plugin) or repr(plugin)
        unknown = [
            n
            for n in vars(pm.hook)
            if not n.startswith("_")
            and not getattr(pm.hook, n).has_spec()
            and any(i.plugin is plugin for i in getattr(pm.hook, n).get_hookimpls())
        ]
        hook = unknown[0] if unknown else "?"
        near = difflib.get_close_matches(hook, list(_KINDS.values()), n=1)
        raise PluginError(
            f"{_origin(_origins(pm), plugin, name)} (plugin {name!r}) implements {hook!r}, which is not "
            f"an mfbench hook"
            + (f"; did you mean {near[0]!r}?" if near else f"; the hooks are {', '.join(_KINDS.values())}")
        ) from None


def _specs(impl: Any, kind: str, hook_name: str, origin: str) -> list[Any]:
    """What ``impl`` returns, checked: a list of ``_SPECS[kind]`` records."""
    returned = impl.function()
    where = f"{hook_name} of {origin} (plugin {impl.plugin_name!r})"
    if returned is None:
        return []
    if not isinstance(returned, (list, tuple)):
        raise PluginError(
            f"{where} returned a {type(returned).__name__}; it must return a list of {_SPECS[kind].__name__} records"
        )
    for spec in returned:
        if not isinstance(spec, _SPECS[kind]):
            label = f" {spec.name!r}" if isinstance(getattr(spec, "name", None), str) else ""
            raise PluginError(
                f"{where} returned a {type(spec).__name__}{label}; it must return "
                f"{_SPECS[kind].__name__} records (each kind has its own hook: {', '.join(_KINDS.values())})"
            )
    return list(returned)


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every hook of every plugin and index the specs, refusing unknown hooks, specs of the
    wrong kind and duplicate names."""
    _check_hooks(pm)
    dists = _origins(pm)
    reg = Registry({kind: {} for kind in _KINDS})
    for kind, hook_name in _KINDS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            origin = _origin(dists, impl.plugin, impl.plugin_name)
            for spec in _specs(impl, kind, hook_name, origin):
                if spec.name in reg.entries[kind]:
                    other = reg.entries[kind][spec.name]
                    raise PluginError(
                        f"two plugins register the {kind} {spec.name!r}: {other.distribution} "
                        f"(plugin {other.plugin!r}) and {origin} (plugin {impl.plugin_name!r}); "
                        "uninstall one or rename its spec"
                    )
                reg.entries[kind][spec.name] = Entry(spec, origin, impl.plugin_name)
    return reg


def _dist_label(dist: Any) -> str:
    name = getattr(dist, "project_name", None) or dist.metadata["Name"]
    return f"{name} {dist.version}"


def make_plugin_manager(extra_plugins: Iterable[Any] = ()) -> pluggy.PluginManager:
    """A plugin manager loaded from the ``mfbench`` entry-point group, plus ``extra_plugins``."""
    pm = pluggy.PluginManager("mfbench")
    pm.add_hookspecs(hookspecs)
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra_plugins:
        pm.register(plugin)
    return pm


@functools.lru_cache(maxsize=1)
def get_registry() -> Registry:
    """The process-wide registry of everything installed (loaded once, on first use)."""
    return build_registry(make_plugin_manager())
