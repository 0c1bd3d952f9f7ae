"""The plugin manager: built-ins and third-party packages, both loaded through entry points."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Iterable

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


def build_registry(pm: pluggy.PluginManager) -> Registry:
    """Call every hook of every plugin and index the specs, refusing duplicate names."""
    dists = {id(plugin): _dist_label(dist) for plugin, dist in pm.list_plugin_distributions()}
    reg = Registry({kind: {} for kind in _KINDS})
    for kind, hook_name in _KINDS.items():
        hook = getattr(pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            origin = dists.get(id(impl.plugin), f"plugin {impl.plugin_name!r} (registered directly)")
            for spec in impl.function() or []:
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
