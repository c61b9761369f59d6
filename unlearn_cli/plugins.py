"""One loader for built-in and third-party plugins (entry-point group ``gan_unlearn``).

We do not use pluggy's ``load_setuptools_entrypoints``: it silently drops a plugin whose entry-point
name is taken and lets one failing import abort everything. Here each entry point is imported on its
own; a failure is recorded, warned about in one line (``--debug`` adds the traceback), and the rest
keeps working. A failure includes ``SystemExit`` and ``KeyboardInterrupt`` raised by a plugin and a
registration hook returning something other than a list; what a plugin prints while loading goes
to stderr (stdout is the command's).

Every component can be named ``DIST:NAME`` (``gan-unlearn:l2``): a bare name that two distributions
offer is an error listing the qualified names, so installing a plugin never makes another unusable.

``GAN_UNLEARN_LOAD_PLUGINS`` (comma-separated distribution names) restricts third-party plugins to
those listed; set but empty means built-ins only. ``GAN_UNLEARN_DISABLE_PLUGINS`` switches single
distributions off (pytest's ``-p no:NAME``). ``GAN_UNLEARN_TRACE_PLUGINS=1`` prints every hook call
to stderr.
"""
from __future__ import annotations

import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any, Callable

import pluggy

from unlearn_cli import hookspecs
from unlearn_cli.api import KINDS, ComponentSpec
from unlearn_cli.errors import UnlearnError

ENTRY_POINT_GROUP = "gan_unlearn"
BUILTIN_DIST = "gan-unlearn"


def canonical(dist_name: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Gan_Unlearn`` == ``gan-unlearn``."""
    return re.sub(r"[-_.]+", "-", dist_name).lower()


@dataclass
class PluginInfo:
    """One entry point: where it came from, whether it loaded, which hooks it implements."""

    name: str
    dist: str
    version: str
    module: str
    status: str = "ok"  # ok | failed
    error: str = ""
    hooks: list[str] = field(default_factory=list)
    traceback: str = ""  # of the failure, shown with --debug


@dataclass
class Provided:
    """A component together with the plugin that provides it."""

    kind: str
    spec: ComponentSpec
    plugin: PluginInfo

    @property
    def qualified(self) -> str:
        return f"{self.plugin.dist}:{self.spec.name}"

    def label(self) -> str:
        """How messages name it: ``source 'folder' (gan-unlearn 0.1.0)``."""
        return f"{self.kind} '{self.spec.name}' ({self.plugin.dist} {self.plugin.version})"

    def provenance(self) -> dict[str, str]:
        """What runs and model files record about it."""
        return {"name": self.spec.name, "distribution": self.plugin.dist,
                "version": self.plugin.version}


@dataclass
class PluginCommand:
    """A command a plugin added (or tried to add) to the CLI."""

    name: str
    summary: str
    plugin: PluginInfo
    refused: str = ""  # why it was not added, e.g. the name is taken


@dataclass
class Registry:
    """Everything the installed plugins provide."""

    plugins: list[PluginInfo] = field(default_factory=list)
    components: list[Provided] = field(default_factory=list)
    manager: pluggy.PluginManager | None = None
    commands: list[PluginCommand] = field(default_factory=list)

    def names(self, kind: str) -> list[str]:
        return sorted({p.spec.name for p in self.components if p.kind == kind})

    def provided(self, kind: str, name: str) -> Provided:
        """The component ``name`` (bare or ``DIST:NAME``) of ``kind``, with its plugin.

        An unknown name lists the valid ones; a bare name two distributions offer lists the
        qualified names to choose from.
        """
        dist, _, bare = name.rpartition(":")
        matches = [p for p in self.components if p.kind == kind and p.spec.name == bare
                   and (not dist or canonical(p.plugin.dist) == canonical(dist))]
        if not matches:
            valid = ", ".join(self.names(kind)) or "none installed"
            if dist and any(p.kind == kind and p.spec.name == bare for p in self.components):
                offered = ", ".join(sorted(p.qualified for p in self.components
                                           if p.kind == kind and p.spec.name == bare))
                raise UnlearnError(f"unknown {kind} '{name}': no installed distribution '{dist}' "
                                   f"offers it; available: {offered}")
            raise UnlearnError(f"unknown {kind} '{name}'; available: {valid}")
        if len(matches) > 1:
            qualified = sorted({m.qualified for m in matches})
            if len(qualified) == 1:  # one distribution offers the name twice (two entry points)
                who = " and ".join(f"{m.plugin.dist} ({m.plugin.name})" for m in matches)
                raise UnlearnError(f"{kind} '{name}' is offered twice by {who}; fix the plugin, "
                                   f"or switch the distribution off with GAN_UNLEARN_DISABLE_PLUGINS")
            raise UnlearnError(f"{kind} '{bare}' is offered by {len(qualified)} distributions; "
                               f"name one: {' or '.join(qualified)}")
        return matches[0]

    def find(self, kind: str, name: str) -> ComponentSpec:
        """The spec of component ``name`` (bare or ``DIST:NAME``) of ``kind``."""
        return self.provided(kind, name).spec

    def load(self, kind: str, name: str) -> Any:
        """Import and return the implementation of component ``name``."""
        return self.find(kind, name).load()

    def label(self, kind: str, name: str) -> str:
        """``source 'folder' (gan-unlearn 0.1.0)`` for messages; the bare name if unknown."""
        try:
            return self.provided(kind, name).label()
        except UnlearnError:
            return f"{kind} '{name}'"

    def provenance(self, kind: str, name: str) -> dict[str, str]:
        return self.provided(kind, name).provenance()

    def provenance_of(self, used: dict[str, str | None]) -> dict[str, dict[str, str]]:
        """``{kind: {name, distribution, version}}`` of the components a run used (a kind whose
        name is None or empty was not used); runs and model files record it."""
        return {kind: self.provenance(kind, name) for kind, name in used.items() if name}

    def collisions(self) -> list[tuple[str, str, list[PluginInfo]]]:
        seen: dict[tuple[str, str], list[PluginInfo]] = {}
        for p in self.components:
            seen.setdefault((p.kind, p.spec.name), []).append(p.plugin)
        return [(k, n, ps) for (k, n), ps in seen.items() if len(ps) > 1]

    def warnings(self) -> list[str]:
        """One line per component name several plugins offer and per refused plugin command
        (``list-plugins`` prints them; other commands stay quiet about what they do not use)."""
        lines = []
        for kind, name, providers in self.collisions():
            who = " and ".join(f"{p.dist} ({p.name})" for p in providers)
            choices = " or ".join(sorted({f"{p.dist}:{name}" for p in providers}))
            lines.append(f"{kind} '{name}' is offered by {who}; the bare name is an error, "
                         f"use {choices}")
        for cmd in self.commands:
            if cmd.refused:
                lines.append(f"plugin '{cmd.plugin.name}' ({cmd.plugin.dist}) tried to add command "
                             f"'{cmd.name}', {cmd.refused}; it was not added")
        return lines


def _trace(message: str) -> None:
    if os.environ.get("GAN_UNLEARN_TRACE_PLUGINS", "") not in ("", "0"):
        print(f"[gan-unlearn trace] {message}", file=sys.stderr)


def _env_list(name: str) -> set[str] | None:
    value = os.environ.get(name)
    if value is None:
        return None
    return {canonical(w.strip()) for w in value.split(",") if w.strip()}


def _allowed(dist_name: str) -> bool:
    disabled = _env_list("GAN_UNLEARN_DISABLE_PLUGINS") or set()
    if canonical(dist_name) in disabled:
        return False
    wanted = _env_list("GAN_UNLEARN_LOAD_PLUGINS")
    if wanted is None or dist_name == BUILTIN_DIST:
        return True
    return canonical(dist_name) in wanted


def _entry_points() -> list[metadata.EntryPoint]:
    return list(metadata.entry_points(group=ENTRY_POINT_GROUP))


def _debug() -> bool:
    return os.environ.get("GAN_UNLEARN_DEBUG", "") not in ("", "0")


def call_hook(registry: Registry, hook_name: str,
              each: Callable[[PluginInfo | None, Any], None] | None = None,
              **kwargs: Any) -> list[tuple[PluginInfo, Any]]:
    """Call ``hook_name`` on every loaded plugin separately, so one failure stays contained.

    Returns (plugin, result) pairs; a plugin whose hook raised is marked failed and warned about.
    ``each(plugin, result)`` runs right after each plugin's call (before the next plugin's), for
    callers that must tell apart what each plugin did to a shared object (``register_commands``).
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
            with _stdout_to_stderr():
                result = impl.function(**args)
        except PLUGIN_FAILURES as exc:
            _reraise_real_interrupt(exc)
            if info is not None:
                info.status, info.error = "failed", f"{hook_name}: {type(exc).__name__}: {exc}"
                info.traceback = traceback.format_exc()
            _warn(f"plugin '{impl.plugin_name}' failed in {hook_name}: {type(exc).__name__}: {exc}"
                  + _traceback_hint())
            if _debug():
                sys.stderr.write(traceback.format_exc())
            continue
        results.append((info, result))
        if each is not None:
            each(info, result)
    return results


#: what a plugin raising on import or in a hook may throw and still only fail itself: a plugin
#: calling sys.exit() or raising KeyboardInterrupt must not end every command silently
PLUGIN_FAILURES = (Exception, SystemExit, KeyboardInterrupt)


def _reraise_real_interrupt(exc: BaseException) -> None:
    """A KeyboardInterrupt from the user's Ctrl-C or a SIGTERM (the handler recorded a signal)
    is not the plugin's failure: it stops the command as anywhere else."""
    from unlearn_cli.engine import interrupts

    if isinstance(exc, KeyboardInterrupt) and interrupts.pending() is not None:
        raise exc


class _stdout_to_stderr:
    """Whatever a plugin prints while it loads or registers goes to stderr: stdout belongs to
    the command (``list-plugins --json`` must stay parseable)."""

    def __enter__(self):
        self._saved, sys.stdout = sys.stdout, sys.stderr

    def __exit__(self, *exc):
        sys.stdout = self._saved
        return False


def _mark_failed(info: PluginInfo | None, error: str) -> None:
    """Record a plugin's failure and warn about it in one line."""
    name = info.name if info is not None else "?"
    if info is not None:
        info.status, info.error = "failed", error
    _warn(f"plugin '{name}' failed: {error}; it is skipped")


def _traceback_hint() -> str:
    return "" if _debug() else " (--debug or GAN_UNLEARN_DEBUG=1 shows the traceback)"


def _warn(message: str) -> None:
    from unlearn_cli.safe_text import visible  # a plugin's message is a stranger's text

    print(f"warning: {visible(' '.join(str(message).split()))}", file=sys.stderr)


def show_failure_tracebacks(registry: Registry) -> None:
    """Write the stored traceback of every failed plugin (``--debug``, known only once the
    command line is parsed, after the registry was built)."""
    for info in registry.plugins:
        if info.traceback:
            sys.stderr.write(f"traceback of plugin '{info.name}' ({info.dist}):\n{info.traceback}")


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
            with _stdout_to_stderr():
                module = ep.load()
            manager.register(module, name=info.module)
            info.hooks = sorted(c.name for c in manager.get_hookcallers(module) or [])
        except PLUGIN_FAILURES as exc:
            _reraise_real_interrupt(exc)
            info.status, info.error = "failed", f"{type(exc).__name__}: {exc}"
            info.traceback = traceback.format_exc()
            _warn(f"plugin '{ep.name}' from {dist} failed to load and is skipped: {info.error}"
                  + _traceback_hint())
            if _debug():
                sys.stderr.write(info.traceback)
    for kind, hook_name in KINDS.items():
        for info, specs in call_hook(registry, hook_name):
            if specs is not None and not isinstance(specs, (list, tuple)):
                _mark_failed(info, f"{hook_name} returned {type(specs).__name__} "
                                   f"{str(specs)[:60]!r}, not a list of ComponentSpec")
                continue
            for spec in specs or []:
                if not isinstance(spec, ComponentSpec):
                    _warn(f"plugin '{info.name}' returned a non-ComponentSpec from {hook_name}")
                    continue
                registry.components.append(Provided(kind, spec, info))
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
            "qualified": p.qualified,
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
                    "kind": "-", "name": info.name, "qualified": f"{info.dist}:{info.name}",
                    "summary": info.error, "plugin": info.name,
                    "distribution": info.dist, "version": info.version, "status": "failed",
                }
            )
    for row in rows:
        if row["status"] == "failed" and not row["summary"]:
            row["summary"] = next(i.error for i in registry.plugins if i.name == row["plugin"])
    return sorted(rows, key=lambda r: (r["kind"], r["name"], r["distribution"]))


def option_rows(provided: Provided) -> list[dict[str, Any]] | None:
    """A component's options (key, type, default, required, description) from its options
    model; None when it declares none (an older plugin: what it is given passes unchecked).
    A model that fails to import is one row saying so, not a crash of list-plugins."""
    from unlearn_cli.component_options import describe

    if provided.spec.options_model is None:
        return None
    try:
        return describe(provided.spec.options_class())
    except UnlearnError as exc:
        return [{"key": "-", "type": "-", "default": None, "required": False,
                 "description": f"could not be loaded: {exc}"}]


def command_rows(registry: Registry) -> list[dict[str, str]]:
    """One row per command a plugin added or tried to add, for ``list-plugins``."""
    return [{"command": c.name, "summary": c.summary, "plugin": c.plugin.name,
             "distribution": c.plugin.dist, "version": c.plugin.version,
             "status": "refused" if c.refused else "ok", "refused": c.refused}
            for c in registry.commands]


def distribution_rows(registry: Registry) -> list[dict[str, Any]]:
    """One row per distribution: its version, entry points and the hooks they implement."""
    rows: dict[str, dict[str, Any]] = {}
    for info in registry.plugins:
        row = rows.setdefault(info.dist, {"distribution": info.dist, "version": info.version,
                                          "entry_points": [], "hooks": [], "status": "ok"})
        row["entry_points"].append(info.name)
        row["hooks"] = sorted(set(row["hooks"]) | set(info.hooks))
        if info.status != "ok":
            row["status"] = "failed"
    return sorted(rows.values(), key=lambda r: (r["distribution"] != BUILTIN_DIST, r["distribution"]))


__all__ = ["Registry", "PluginInfo", "Provided", "PluginCommand", "build_registry", "get_registry",
           "reset_registry", "call_hook", "as_rows", "command_rows", "distribution_rows", "option_rows",
           "show_failure_tracebacks", "canonical", "ENTRY_POINT_GROUP"]
