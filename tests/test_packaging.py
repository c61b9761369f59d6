"""pyproject lists every plugin folder, so nothing is silently left out of a wheel."""
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    for init in (ROOT / "plugins").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT / "plugins")
        if "example" in rel.parts or "__pycache__" in rel.parts:
            continue
        name = ".".join(("unlearn_cli_plugins", *rel.parts)) if rel.parts else "unlearn_cli_plugins"
        assert name in listed, f"{name} missing from [tool.setuptools] packages"
    for init in (ROOT / "unlearn_cli").rglob("__init__.py"):
        rel = init.parent.relative_to(ROOT)
        assert ".".join(rel.parts) in listed
