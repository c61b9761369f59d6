"""One loader for built-in and third-party plugins (entry-point group ``gan_unlearn``).

We do not use pluggy's ``load_setuptools_entrypoints``: it silently drops a plugin whose entry-point
name is taken and lets one failing import abort everything. Here each entry point is imported on its
own; a failure is recorded, warned about in one line, and the rest keeps working.

``GAN_UNLEARN_LOAD_PLUGINS`` (comma-separated distribution names) restricts third-party plugins to
those listed; set but empty means built-ins only. ``GAN_UNLEARN_TRACE_PLUGINS=1`` prints every hook
call to stderr.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from unlearn_cli import hookspecs
from unlearn_cli.api import KINDS, ComponentSpec
from unlearn_cli.errors import UnlearnError

ENTRY_POINT_GROUP = "gan_unlearn"
BUILTIN_DIST = "gan-unlearn"


@dataclass
class PluginInfo:
    """One entry point: where it came from and whether it loaded."""

    name: str
    dist: str
    version: str
    module: str
    status: str = "ok"  # ok | failed
    error: str = ""


@dataclass
class Provided:
    """A component together with the plugin that provides it."""

    kind: str
    spec: ComponentSpec
    plugin: PluginInfo


@dataclass
class Registry:
    """Everything the installed plugins provide."""

    plugins: list[PluginInfo] = field(default_factory=list)
    components: list[Provided] = field(default_factory=list)
    manager: pluggy.PluginManager | None = None

    def names(self, kind: str) -> list[str]:
        return sorted({p.spec.name for p in self.components if p.kind == kind})

    def find(self, kind: str, name: str) -> ComponentSpec:
        """The spec of component ``name`` of ``kind``; errors list valid names or both providers."""
        matches = [p for p in self.components if p.kind == kind and p.spec.name == name]
        if not matches:
            valid = ", ".join(self.names(kind)) or "none installed"
            raise UnlearnError(f"unknown {kind} '{name}'; available: {valid}")
        if len(matches) > 1:
            who = " and ".join(f"{m.plugin.dist} ({m.plugin.name})" for m in matches)
            raise UnlearnError(
                f"{kind} '{name}' is offered by {who}; uninstall one, or restrict plugins "
                f"with GAN_UNLEARN_LOAD_PLUGINS"
            )
        return matches[0].spec

    def load(self, kind: str, name: str) -> Any:
        """Import and return the implementation of component ``name``."""
        return self.find(kind, name).load()

    def collisions(self) -> list[tuple[str, str, list[PluginInfo]]]:
        seen: dict[tuple[str, str], list[PluginInfo]] = {}
        for p in self.components:
            seen.setdefault((p.kind, p.spec.name), []).append(p.plugin)
        return [(k, n, ps) for (k, n), ps in seen.items() if len(ps) > 1]


def _trace(message: str) -> None:
    if os.environ.get("GAN_UNLEARN_TRACE_PLUGINS", "") not in ("", "0"):
        print(f"[gan-unlearn trace] {message}", file=sys.stderr)


def _allowed(dist_name: str) -> bool:
    wanted = os.environ.get("GAN_UNLEARN_LOAD_PLUGINS")
    if wanted is None or dist_name == BUILTIN_DIST:
        return True
    return dist_name in {w.strip() for w in wanted.split(",") if w.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def call_hook(registry: Registry, hook_name: str, **kwargs: Any) -> list[tuple[PluginInfo, Any]]:
    """Call ``hook_name`` on every loaded plugin separately, so one failure stays contained.

    Returns (plugin, result) pairs; a plugin whose hook raised is marked failed and warned about.
    """
    results = []
    manager = registry.manager
    if manager is None:
        return results
    by_module = {p.module: p for p in registry.plugins}
    for impl in getattr(manager.hook, hook_name).get_hookimpls():
        info = by_module.get(impl.plugin_name)
        args = {a: kwargs[a] for a in impl.argnames}
        _trace(f"{hook_name}({', '.join(args)}) -> {impl.plugin_name}")
        try:
            results.append((info, impl.function(**args)))
        except Exception as exc:
            if info is not None:
                info.status, info.error = "failed", f"{hook_name}: {type(exc).__name__}: {exc}"
            _warn(f"plugin '{impl.plugin_name}' failed in {hook_name}: {type(exc).__name__}: {exc}")
    return results


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def build_registry(entry_points: list[metadata.EntryPoint] | None = None) -> Registry:
    """Import every allowed entry point and collect what it offers."""
    manager = pluggy.PluginManager("gan_unlearn")
    manager.add_hookspecs(hookspecs)
    registry = Registry(manager=manager)
    for ep in _entry_points() if entry_points is None else entry_points:
        dist = ep.dist.name if ep.dist is not None else "unknown"
        version = ep.dist.version if ep.dist is not None else "?"
        if not _allowed(dist):
            continue
        info = PluginInfo(name=ep.name, dist=dist, version=version, module=f"{dist}:{ep.name}")
        registry.plugins.append(info)
        _trace(f"load entry point {ep.name} = {ep.value} ({dist} {version})")
        try:
            manager.register(ep.load(), name=info.module)
        except Exception as exc:
            info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
            _warn(f"plugin '{ep.name}' from {dist} failed to load and is skipped: {info.error}")
    for kind, hook_name in KINDS.items():
        for info, specs in call_hook(registry, hook_name):
            for spec in specs or []:
                if not isinstance(spec, ComponentSpec):
                    _warn(f"plugin '{info.name}' returned a non-ComponentSpec from {hook_name}")
                    continue
                registry.components.append(Provided(kind, spec, info))
    for kind, name, providers in registry.collisions():
        who = " and ".join(f"{p.dist} ({p.name})" for p in providers)
        _warn(f"{kind} '{name}' is offered by {who}; using it by name is an error")
    return registry


_REGISTRY: Registry | None = None


def get_registry() -> Registry:
    """The process-wide registry, built on first use."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = build_registry()
    return _REGISTRY


def reset_registry() -> None:
    """Forget the cached registry (tests patch entry points, then rebuild)."""
    global _REGISTRY
    _REGISTRY = None


def as_rows(registry: Registry) -> list[dict[str, str]]:
    """One row per component, plus one per failed plugin, for ``list-plugins``."""
    rows = [
        {
            "kind": p.kind,
            "name": p.spec.name,
            "summary": p.spec.summary,
            "plugin": p.plugin.name,
            "distribution": p.plugin.dist,
            "version": p.plugin.version,
            "status": p.plugin.status,
        }
        for p in registry.components
    ]
    for info in registry.plugins:
        if info.status != "ok" and not any(r["plugin"] == info.name for r in rows):
            rows.append(
                {
                    "kind": "-", "name": info.name, "summary": info.error, "plugin": info.name,
                    "distribution": info.dist, "version": info.version, "status": "failed",
                }
            )
    for row in rows:
        if row["status"] == "failed" and not row["summary"]:
            row["summary"] = next(i.error for i in registry.plugins if i.name == row["plugin"])
    return sorted(rows, key=lambda r: (r["kind"], r["name"]))


__all__ = ["Registry", "PluginInfo", "build_registry", "get_registry", "reset_registry", "call_hook",
           "as_rows", "ENTRY_POINT_GROUP"]
