"""The Python API (issue 17, part 3): docs/python-api.md's example runs as its own process, and
the API validates like the CLI, stays quiet and raises instead of exiting."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import unlearn_cli
from unlearn_cli.errors import UnlearnError

DOC = Path(__file__).resolve().parents[1] / "docs" / "python-api.md"


def test_the_documented_example_runs(tmp_path):
    code = re.search(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S).group(1)
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert Path(tmp_path / "runs" / "api-example" / "unlearned.safetensors").is_file()
    assert float(lines[1]) <= 100  # the PUL is a number
    assert "unlearned" in lines[3] and "report_html" in lines[3]
    assert lines[-1].startswith("refused: ") and "eleven" in lines[-1]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "runs" / "api-bad").exists()  # refused before anything was made


def test_options_are_validated_before_anything_loads():
    with pytest.raises(UnlearnError, match="adapt_itres|adapt-itres"):
        unlearn_cli.run_config(adapt_itres=3)
    config = unlearn_cli.run_config({"seed": 4, "train": {"batch": 3}}, batch=5, adapt_iters=7)
    assert (config.seed, config.train.batch, config.adapt_iters) == (4, 5, 7)
    again = unlearn_cli.run_config(config, seed=9)
    assert (again.seed, again.train.batch) == (9, 5)


def test_quiet_and_returns_the_models(tmp_path, capsys):
    result = unlearn_cli.unlearn(adapt_iters=3, unlearn_iters=3, candidates=64, eval_samples=40,
                                 batch=4, out=str(tmp_path / "r"), device="cpu")
    captured = capsys.readouterr()
    assert captured.out == ""  # no progress bars, no summary
    assert result.out_dir == tmp_path / "r" and result.files["unlearned"].is_file()
    assert result.metrics["eval"]["pul"] == result.pul
    G = result.generator()
    assert G(__import__("torch").randn(2, G.z_dim)).shape[0] == 2
    with pytest.raises(KeyError):
        result.generator("retrained")


def test_import_stays_light():
    done = subprocess.run([sys.executable, "-c", "import sys, unlearn_cli; unlearn_cli.unlearn; "
                           "print('torch' in sys.modules)"], capture_output=True, text=True)
    assert done.stdout.strip() == "False", done.stderr
