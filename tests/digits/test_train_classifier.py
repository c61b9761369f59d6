"""The training script: runs, writes a loadable file, is deterministic for a seed."""
from safetensors.torch import load_file as read_tensors

from unlearn_cli_plugins.digits.classifier import load_file
from unlearn_cli_plugins.digits import train_classifier


def test_short_runs_are_deterministic(tmp_path, capsys):
    for name in ("a", "b"):
        train_classifier.main(["--model", "judge", "--seed", "3", "--epochs", "1", "--out", str(tmp_path / name)])
    assert "held-out accuracy" in capsys.readouterr().out
    a, b = read_tensors(tmp_path / "a"), read_tensors(tmp_path / "b")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    model = load_file(tmp_path / "a")
    assert model.info["train"]["seed"] == 3 and model.info["arch"] == "mlp"
