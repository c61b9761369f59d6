"""The installed script as a real subprocess: fast start, JSON output, exit codes."""
import json
import subprocess
import sys

import pytest


def _run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "unlearn_cli", *args], capture_output=True,
                          text=True, timeout=120, **kw)


@pytest.mark.parametrize("args", [["--help"], ["list-plugins"], ["list-plugins", "--json"]])
def test_help_and_list_plugins_do_not_import_torch(args):
    code = ("import sys, runpy; sys.argv = ['gan-unlearn', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('unlearn_cli', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', file=sys.stderr)\n"
            "print('RICH' if 'rich' in sys.modules else 'NO-RICH', file=sys.stderr)\n"
            "sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-2] == "NO-TORCH"
    if args == ["--help"]:  # rich's import alone would take most of the 0.3 s start-up budget
        assert lines[-1] == "NO-RICH"
        assert "Commands:" in result.stdout and "  run " in result.stdout


def test_list_plugins_json_is_only_json():
    result = _run("list-plugins", "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    names = {(c["kind"], c["name"]) for c in data["components"]}
    assert {("repulsion", "l2"), ("repulsion", "exp"), ("repulsion", "inverse")} <= names


def test_console_script_exists_and_usage_error_exits_2():
    import shutil

    script = shutil.which("gan-unlearn")
    assert script, "the gan-unlearn console script is not installed"
    result = subprocess.run([script, "no-such-command"], capture_output=True, text=True)
    assert result.returncode == 2


def test_domain_error_is_one_line_and_debug_shows_traceback(tmp_path):
    missing = str(tmp_path / "nope.safetensors")
    result = _run("info", missing)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: model file not found: {missing}"
    debug = _run("--debug", "info", missing)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_plugins_package_is_not_top_level(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import plugins"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode != 0
    result = subprocess.run([sys.executable, "-c", "import unlearn_cli_plugins.repulsion"],
                            cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
