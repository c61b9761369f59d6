"""Model files: metadata round trip, atomic writes, clean errors for corrupt files."""
import json
import os

import pytest
import torch
from typer.testing import CliRunner

from unlearn_cli.cli.main import create_app
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import sha256_file
from unlearn_cli.io.modelfile import load_model_file, read_header, save_model


def _write(path, **kw):
    parts = {"G": {"w": torch.randn(3, 4)}, "D": {"w": torch.randn(5)}}
    return save_model(path, parts, gan="toy", config={"size": 4}, stage="pretrained", **kw)


def test_round_trip_with_metadata(tmp_path):
    path = tmp_path / "m.safetensors"
    digest = _write(path, parent_sha256="ab" * 32, params={"gamma": 1.0})
    assert digest == sha256_file(path)
    header = read_header(path)
    assert (header.gan, header.config, header.stage, header.params) == (
        "toy", {"size": 4}, "pretrained", {"gamma": 1.0})
    assert header.parent_sha256 == "ab" * 32
    assert header.parameter_counts() == {"G": 12, "D": 5}
    loaded = load_model_file(path)
    assert set(loaded.parts) == {"G", "D"} and loaded.parts["G"]["w"].shape == (3, 4)
    assert [p for p in os.listdir(tmp_path)] == ["m.safetensors"]  # no temp files left


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "m.safetensors"
    with pytest.raises(Exception):
        save_model(path, {"G": {"w": "not a tensor"}}, gan="toy", config={}, stage="pretrained")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("content, message", [
    (b"", "not a valid .safetensors"),
    (b"\x10\x00\x00\x00\x00\x00\x00\x00{not json", "not a valid .safetensors"),
    (b"garbage" * 10, "not a valid .safetensors"),
])
def test_corrupt_files_are_clean_errors(tmp_path, content, message):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(UnlearnError, match=message):
        read_header(path)


def test_truncated_file(tmp_path):
    path = tmp_path / "m.safetensors"
    _write(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 10])
    with pytest.raises(UnlearnError, match="truncated"):
        read_header(path)


def test_foreign_safetensors_is_refused_with_hint(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "x.safetensors"
    save_file({"a": torch.zeros(2)}, str(path))
    with pytest.raises(UnlearnError, match="not a gan-unlearn model.*convert"):
        read_header(path)


def test_info_command(tmp_path):
    path = tmp_path / "m.safetensors"
    _write(path, params={"gamma": 1.0})
    runner = CliRunner()
    result = runner.invoke(create_app(), ["info", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["gan"] == "toy" and data["sha256"] == sha256_file(path)
    assert data["parameter_counts"] == {"G": 12, "D": 5}
    text = runner.invoke(create_app(), ["info", str(path)])
    assert text.exit_code == 0 and "pretrained" in text.output


def test_info_on_missing_file_is_one_line(tmp_path):
    result = CliRunner().invoke(create_app(), ["info", str(tmp_path / "nope.safetensors")])
    assert result.exit_code == 1
    assert result.output.strip() == f"error: model file not found: {tmp_path / 'nope.safetensors'}"


def test_writes_are_deterministic_and_readable_by_safetensors(tmp_path):
    from safetensors.torch import load_file

    parts = {"G": {"b": torch.arange(5, dtype=torch.int64), "a": torch.randn(2, 3)},
             "D": {"w": torch.zeros(0)}}
    for name in ("x.safetensors", "y.safetensors"):
        save_model(tmp_path / name, parts, gan="toy", config={"z": 1, "a": 2}, stage="trained",
                   extra={"k2": "v", "k1": "w"})
    assert (tmp_path / "x.safetensors").read_bytes() == (tmp_path / "y.safetensors").read_bytes()
    loaded = load_file(str(tmp_path / "x.safetensors"))
    assert torch.equal(loaded["G.b"], parts["G"]["b"]) and torch.equal(loaded["G.a"], parts["G"]["a"])
    assert loaded["D.w"].shape == (0,)


def test_written_files_get_the_usual_permissions(tmp_path):
    import stat

    path = tmp_path / "m.safetensors"
    _write(path)
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
