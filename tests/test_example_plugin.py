"""The plugin tutorial cannot rot: its code blocks are the example package's files, and the
installed example package passes its own tests."""
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins"
EXAMPLE = DOCS / "example"
# a full file in the tutorial: <!-- file: PATH --> then a fenced block holding exactly the file
FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```\n", re.S)


def _tutorial_files() -> dict[str, str]:
    return dict(FILE_BLOCK.findall((DOCS / "tutorial.md").read_text()))


def _package_files() -> set[str]:
    """The package's sources (not what building it leaves behind: build/, *.egg-info)."""
    files = [EXAMPLE / "pyproject.toml", *(EXAMPLE / "src").rglob("*.py"), *(EXAMPLE / "tests").rglob("*.py")]
    return {p.relative_to(EXAMPLE).as_posix() for p in files}


def test_tutorial_shows_every_example_file_exactly():
    shown = _tutorial_files()
    assert set(shown) == _package_files(), "tutorial.md and docs/plugins/example/ list different files"
    for name, text in shown.items():
        assert text == (EXAMPLE / name).read_text(), f"tutorial.md's {name} differs from the file"


def test_docs_link_to_existing_files():
    for page in ("index.md", "hooks.md", "tutorial.md"):
        for target in re.findall(r"\]\(([^)#:]+)\)", (DOCS / page).read_text()):
            assert (DOCS / target).exists(), f"{page} links to missing {target}"


def test_example_package_passes_its_tests():
    try:
        dist = metadata.distribution("gan-unlearn-example")
    except metadata.PackageNotFoundError:
        pytest.skip("the example plugin is not installed: pip install ./docs/plugins/example "
                    "(CI does) to run its tests")
    assert dist.version == "0.1.0"
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                            cwd=EXAMPLE, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
