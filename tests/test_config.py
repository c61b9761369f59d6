import pytest

from unlearn_cli.config import RunConfig, resolve, to_yaml
from unlearn_cli.errors import UnlearnError


def test_flags_override_file_which_overrides_defaults(tmp_path):
    cfg = tmp_path / "run.yaml"
    cfg.write_text("gamma: 3.0\nrepulsion: l2\ntrain:\n  batch: 8\n")
    config = resolve(RunConfig, cfg, {"gamma": 5.0, "seed": None})
    assert (config.gamma, config.repulsion, config.train.batch, config.seed) == (5.0, "l2", 8, 0)


@pytest.mark.parametrize("text, message", [
    ("gama: 1\n", "unknown config key 'gama'"),
    ("gamma: abc\n", "config key 'gamma'"),
    ("gamma: .nan\n", "config key 'gamma'.*finite"),
    ("unlearn_iters: -5\n", "config key 'unlearn_iters'.*negative"),
    ("train:\n  nope: 1\n", "unknown config key 'train.nope'"),
    ("gamma: [1\n", "not valid YAML at line"),
    ("- 1\n- 2\n", "must hold a mapping"),
])
def test_bad_config_is_one_line_naming_the_key(tmp_path, text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(text)
    with pytest.raises(UnlearnError, match=message) as info:
        resolve(RunConfig, cfg)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(UnlearnError, match="config file not found"):
        resolve(RunConfig, tmp_path / "nope.yaml")


def test_resolved_config_round_trips_through_yaml(tmp_path):
    config = resolve(RunConfig, None, {"gamma": 2.5})
    path = tmp_path / "c.yaml"
    path.write_text(to_yaml(config))
    assert resolve(RunConfig, path) == config
