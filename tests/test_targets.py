"""Several targets at once (issue 17, part 2): `--target 3 --target 8` / a YAML list."""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from unlearn_cli.cli.main import create_app
from unlearn_cli.config import RunConfig, resolve
from unlearn_cli.errors import UnlearnError
from unlearn_cli.metrics.evaluate import nontarget_tv

FAST = ["--adapt-iters", "3", "--unlearn-iters", "3", "--candidates", "300", "--eval-samples", "300",
        "--batch", "4", "--quiet", "--device", "cpu"]


def test_one_target_stays_a_string_and_several_are_a_list(tmp_path):
    assert RunConfig().target == "8" and RunConfig().targets == ["8"]
    assert RunConfig(target=["3"]).target == "3"  # config.yaml of a one-target run is unchanged
    assert RunConfig(target=[3, 8]).targets == ["3", "8"]
    yaml = tmp_path / "c.yaml"
    yaml.write_text("target: [3, 8]\n")
    assert resolve(RunConfig, yaml, {}).targets == ["3", "8"]
    for bad in ([], ["8", "8"]):
        with pytest.raises(Exception):
            RunConfig(target=bad)
    yaml.write_text("target: []\n")
    with pytest.raises(UnlearnError, match="target"):
        resolve(RunConfig, yaml, {})


def test_a_sample_showing_any_target_counts():
    import plugins.sources.common as common

    class Fake:
        classes = ["a", "b", "c"]

    tally = common.Tally(Fake(), [0, 2])
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.1, 0.8, 0.1]])
    assert torch.equal(tally.add(p), torch.tensor([0.7, 0.8, 0.1]))
    one = common.Tally(Fake(), 1)  # a single index behaves as before
    assert torch.equal(one.add(p), p[:, 1])
    assert nontarget_tv([0.2, 0.3, 0.5], [0.0, 0.3, 0.7], [0, 2]) == 0.0  # only 'b' is left
    assert nontarget_tv([0.2, 0.3, 0.5], [0.0, 0.3, 0.7], 0) == pytest.approx(0.075)


def test_run_with_two_targets_reports_each(tmp_path):
    out = tmp_path / "r"
    result = CliRunner().invoke(create_app(), ["run", *FAST, "--target", "3", "--target", "8",
                                               "--out", str(out)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    ev = metrics["eval"]
    assert ev["targets"] == ["3", "8"] and set(ev["per_target"]) == {"3", "8"}
    per = ev["per_target"]
    assert ev["target_count_before"] == per["3"]["target_count_before"] + per["8"]["target_count_before"]
    assert ev["target_count_after"] == per["3"]["target_count_after"] + per["8"]["target_count_after"]
    assert metrics["source_stats"]["target"] == ["3", "8"]
    assert "without classes '3' or '8'" in ev["fid_reference"]
    report = (out / "report.md").read_text()
    assert "PUL of '3'" in report and "PUL of '8'" in report
    assert "3 (target)" in report and "8 (target)" in report
    assert "PUL % of '3'" in result.output
    assert "target:\n- '3'\n- '8'" in (out / "config.yaml").read_text()  # saved for --resume


def test_an_unknown_second_target_is_one_line(tmp_path):
    result = CliRunner().invoke(create_app(), ["run", *FAST, "--target", "3", "--target", "eleven",
                                               "--out", str(tmp_path / "r")])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and len(errors) == 1, result.output
    assert "eleven" in errors[0]
    assert not (tmp_path / "r").exists()
