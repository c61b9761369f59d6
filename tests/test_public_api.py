"""The public API is real: plugins import only it, it names everything it offers, and the core's
packages import each other one way (engine -> metrics)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what plugins may import from the core (tests of a plugin may also use unlearn_cli.testing)
PUBLIC = {"unlearn_cli", "unlearn_cli.api", "unlearn_cli.errors"}
PLUGIN_TREES = {"unlearn_cli_plugins": ROOT / "plugins",
                "gan_unlearn_example": ROOT / "docs" / "plugins" / "example" / "src" / "gan_unlearn_example"}


def _imports(path: Path, package: str) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import in a file, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    here = package.split(".")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # relative: resolve against the file's package
                base = here[:len(here) - node.level + 1]
                module = ".".join(base + ([module] if module else []))
            found.append((node.lineno, module, [a.name for a in node.names]))
    return found


def _package_of(path: Path, top: str, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    parts = parts[:-1] if path.name != "__init__.py" else parts[:-1]
    return ".".join((top, *parts))


def _plugin_files():
    for top, root in PLUGIN_TREES.items():
        for path in sorted(root.rglob("*.py")):
            yield top, root, path


def test_plugins_import_only_the_public_api():
    offenders = []
    for top, root, path in _plugin_files():
        package = _package_of(path, top, root)
        for line, module, _ in _imports(path, package):
            where = f"{path.relative_to(ROOT)}:{line}"
            if module.split(".")[0] == "unlearn_cli" and module not in PUBLIC:
                offenders.append(f"{where} imports {module} (use unlearn_cli.api)")
    assert not offenders, "plugins must import only unlearn_cli.api and unlearn_cli.hookimpl:\n" + "\n".join(offenders)


def test_plugins_do_not_import_each_other():
    """Each built-in plugin folder is self-contained: what two need goes through the api."""
    offenders = []
    for top, root, path in _plugin_files():
        if top != "unlearn_cli_plugins" or path.parent == root:
            continue
        own = path.relative_to(root).parts[0]
        for line, module, names in _imports(path, _package_of(path, top, root)):
            parts = module.split(".")
            if parts[0] != top:
                continue
            other = parts[1] if len(parts) > 1 else (names[0] if names else "")
            if other != own:
                offenders.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not offenders, "built-in plugins import each other:\n" + "\n".join(offenders)


def test_example_tests_may_use_the_testing_module():
    tests = ROOT / "docs" / "plugins" / "example" / "tests"
    for path in tests.rglob("*.py"):
        for line, module, _ in _imports(path, "tests"):
            if module.split(".")[0] == "unlearn_cli":
                assert module in PUBLIC | {"unlearn_cli.testing"}, f"{path}:{line} imports {module}"


def _core_graph() -> dict[str, set[str]]:
    """Module -> the unlearn_cli modules it imports (anywhere in the file)."""
    core = ROOT / "unlearn_cli"
    graph = {}
    for path in core.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if path.name == "__init__.py" else parts)
        package = ".".join(parts[:-1])
        targets = set()
        for _, module, names in _imports(path, package):
            if module.startswith("unlearn_cli"):
                targets.add(module)
                targets.update(f"{module}.{n}" for n in names)  # `from pkg import module`
        graph[name] = targets
    return {m: {t for t in ts if t in graph} for m, ts in graph.items()}


def test_metrics_never_import_the_pipeline_and_no_cycle_with_engine():
    graph = _core_graph()
    metrics = [m for m in graph if m.startswith("unlearn_cli.metrics")]
    for module in metrics:
        assert "unlearn_cli.engine.pipeline" not in graph[module], module
    # nothing metrics imports (transitively) leads back into metrics through the engine
    for module in metrics:
        seen, todo = set(), [t for t in graph[module] if t.startswith("unlearn_cli.engine")]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            back = [t for t in graph[current] if t.startswith("unlearn_cli.metrics")]
            assert not back, f"{module} -> ... -> {current} -> {back[0]}: an engine/metrics cycle"
            todo += graph[current]


def test_all_names_everything_public():
    import unlearn_cli.api as api

    defined = {n for n, v in vars(api).items() if not n.startswith("_")
               and getattr(v, "__module__", None) == "unlearn_cli.api"}
    assert defined - set(api.__all__) == set()
    missing = {name for name in api.__all__ if not hasattr(api, name)}  # lazy names load here
    assert not missing, missing
    for kind in ("GanPlugin", "Generator", "Discriminator", "Source", "Classifier", "Repulsion",
                 "Method"):
        assert kind in api.__all__


def test_builtins_satisfy_the_protocols(gan_unlearn_registry):
    from unlearn_cli import api

    plugin = gan_unlearn_registry.load("gan", "dcgan")
    assert isinstance(plugin, api.GanPlugin)
    G, D = plugin.build(plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}))
    assert isinstance(G, api.Generator) and isinstance(D, api.Discriminator)
    assert isinstance(gan_unlearn_registry.load("classifier", "digits")(None, "cpu"), api.Classifier)


def test_source_context_generates_from_given_latents(gan_unlearn_source_context):
    import torch

    context = gan_unlearn_source_context()
    z = context.latents(5, seed=3)
    assert z.shape == (5, context.z_dim) and z.dtype == torch.float32
    assert torch.equal(context.generate_from(z), context.generate(5, 3))
    edited = context.generate_from(z[:2] * 0)
    assert edited.shape == (2, context.channels, context.resolution, context.resolution)
    from unlearn_cli.api import UnlearnError

    with pytest.raises(UnlearnError, match=r"latents shaped \[5, 3\]; generate_from\(z\) takes"):
        context.generate_from(torch.zeros(5, 3))


def test_read_images_takes_a_folder_or_a_list_of_files(tmp_path):
    import numpy as np
    from PIL import Image

    from unlearn_cli.api import UnlearnError, read_images

    for i in range(3):
        Image.fromarray(np.full((6, 6), 60 * i, dtype="uint8")).save(tmp_path / f"{i}.png")
    folder = read_images(tmp_path, 8, 1)
    files = read_images([tmp_path / "2.png", tmp_path / "0.png"], 8, 1)
    assert folder.shape == (3, 1, 8, 8) and files.shape == (2, 1, 8, 8)
    assert (files[0] == folder[2]).all() and (files[1] == folder[0]).all()  # in the given order
    with pytest.raises(UnlearnError, match="image file '.*absent.png' does not exist"):
        read_images([tmp_path / "absent.png"], 8, 1)
    with pytest.raises(UnlearnError, match="at least 3 are needed"):
        read_images([tmp_path / "0.png"], 8, 1, min_count=3)
