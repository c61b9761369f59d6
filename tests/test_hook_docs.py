"""Every hook of the plugin contract is documented with its exact signature, and tested."""
import inspect
import re
from pathlib import Path

import pytest

from unlearn_cli import hookspecs
from unlearn_cli.api import KINDS

ROOT = Path(__file__).resolve().parents[1]
HOOKS_MD = (ROOT / "docs" / "plugins" / "hooks.md").read_text()
INDEX_MD = (ROOT / "docs" / "plugins" / "index.md").read_text()
HOOKS = {name: fn for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if getattr(fn, "gan_unlearn_spec", None) is not None}


def _section(name: str) -> str:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", HOOKS_MD, re.S | re.M)
    assert match, f"docs/plugins/hooks.md has no '## {name}' section"
    return match.group(1)


def test_hookspecs_are_found():
    assert set(KINDS.values()) | {"register_commands"} == set(HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_documented_with_its_exact_signature(name):
    signature = f"def {name}{inspect.signature(HOOKS[name])}:"
    assert signature in _section(name), f"hooks.md's '## {name}' section must show `{signature}`"
    assert f"`{name}`" in INDEX_MD, f"index.md does not mention {name}"


def test_no_section_documents_a_hook_that_does_not_exist():
    documented = set(re.findall(r"^## (register_\w+)$", HOOKS_MD, re.M))
    assert documented == set(HOOKS), f"hooks.md documents unknown hooks: {documented - set(HOOKS)}"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_is_exercised_by_a_test(name):
    files = [p for p in (ROOT / "tests").rglob("*.py") if p.name != Path(__file__).name]
    files += list((ROOT / "docs" / "plugins" / "example" / "tests").rglob("*.py"))
    users = [p.name for p in files if name in p.read_text()]
    assert users, f"no test calls or implements the hook {name}"
