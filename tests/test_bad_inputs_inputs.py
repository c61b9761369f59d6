"""Bad inputs of issue 19 (items 5-12, 15, 16, 20, 21, 23): hostile, unusual and unreadable files.

Same rules as tests/test_bad_inputs.py (whose helpers these use): one ``error:`` line, the
documented exit code, no traceback, the quoted fragment in docs/errors.md, nothing left behind.
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from engine_helpers import negative_folder, tiny_dcgan_file
from test_bad_inputs import FAST, _documented, _invoke, check_one_error

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs19")
    tiny_dcgan_file(root / "pre.safetensors")
    negative_folder(root / "neg")
    return root


def _run(files: Path, out: Path, *extra):
    return _invoke("run", "--ckpt", files / "pre.safetensors", "--neg", files / "neg",
                   "--out", out, *FAST, *extra)


# --------------------------------------------------------------------------- YAML and numbers
BOMB = "".join(f"{k}: &{k} [{', '.join([f'*{p}'] * 9 if p else ['lol'] * 9)}]\n"
               for p, k in zip([None, *"abcdefgh"], "abcdefghi"))


@pytest.mark.parametrize("name, body, fragment", [
    ("bomb", BOMB, "its aliases (*name) expand to more than"),
    ("deep", "a: " + "[" * 20000 + "]" * 20000 + "\n", "it is nested more than 64 levels deep"),
    ("dup", "seed: 1\ngamma: 2\nseed: 3\n", "the key 'seed' is given twice in one mapping"),
    ("dup-nested", "train:\n  batch: 2\n  batch: 4\n", "is given twice in one mapping (keep one)"),
    ("huge-seed", "seed: 100000000000000000000000000000\n", "must be at most 2147483647"),
    ("huge-list-quoted", "target: [" + ", ".join(["1"] * 5000) + "]\n",
     "config key 'target': input should be a valid string"),
])
def test_hostile_yaml_is_refused_fast(files, tmp_path, name, body, fragment):
    config = tmp_path / f"{name}.yaml"
    config.write_text(body)
    start = time.monotonic()
    result = _run(files, tmp_path / "out", "--config", config)
    line = check_one_error(result, 1, fragment)
    assert time.monotonic() - start < 10
    assert len(line) < 400, line  # the message quotes a bounded part of the value
    assert not (tmp_path / "out").exists()
    _documented(fragment)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("option", ["--config", "--pick-file"])
def test_devices_and_fifos_as_text_inputs(files, tmp_path, option):
    extra = [] if option == "--config" else ["--source", "manual"]
    for path, fragment in ((Path("/dev/zero"), "is a device, not a regular file"),
                           (_fifo(tmp_path), "is a FIFO (named pipe), not a regular file")):
        start = time.monotonic()
        result = _invoke("run", "--ckpt", files / "pre.safetensors", "--out", tmp_path / "out",
                         *FAST, *extra, option, path)
        check_one_error(result, 1, fragment)
        assert time.monotonic() - start < 30
        assert not (tmp_path / "out").exists()
        _documented(fragment)


def _fifo(folder: Path) -> Path:
    path = folder / "pipe.yaml"
    if not path.exists():
        os.mkfifo(path)
    return path


def test_oversized_config_is_refused(files, tmp_path):
    config = tmp_path / "big.yaml"
    config.write_text("# " + "x" * (2 << 20) + "\n")
    check_one_error(_run(files, tmp_path / "out", "--config", config), 1, "is larger than 1024 KiB")
    _documented("is larger than 1024 KiB")


@pytest.mark.parametrize("flag, value, fragment", [
    ("--seed", "100000000000000000000", "config key 'seed': value error, must be at most 2147483647"),
    ("--batch", "1000000000", "config key 'train.batch': input should be less than or equal to 65536"),
    ("--eval-samples", "10000000000", "config key 'eval_samples': input should be less than or equal to 1000000"),
    ("--candidates", "10000000000", "config key 'candidates': input should be less than or equal to 1000000"),
])
def test_huge_numbers_are_refused_before_any_work(files, tmp_path, flag, value, fragment):
    start = time.monotonic()
    check_one_error(_run(files, tmp_path / "out", flag, value), 1, fragment)
    assert time.monotonic() - start < 30 and not (tmp_path / "out").exists()
    _documented(fragment)


# --------------------------------------------------------------------------- info, escaping
@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    """A rosinality .pt and an NVIDIA .pkl of one small StyleGAN2, and a model whose metadata
    holds rich markup, terminal escapes and a bidi override."""
    sys.path.insert(0, str(Path(__file__).parent / "stylegan2"))
    from sg2_helpers import nvidia_pickle, randomise, small_config
    from unlearn_cli.io.modelfile import save_model
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN as SG2, save_rosinality

    root = tmp_path_factory.mktemp("foreign19")
    cfg = SG2.validate_config(small_config(resolution=8, img_channels=1))
    G, D = SG2.build(cfg)
    g, d = randomise(G).state_dict(), randomise(D, 1).state_dict()
    save_rosinality(root / "rosi.pt", cfg, g, g, d)
    mp = pytest.MonkeyPatch()
    try:
        (root / "nv.pkl").write_bytes(nvidia_pickle(mp, cfg, g, d))
    finally:
        mp.undo()
    save_model(root / "evil.safetensors", {"G": g, "G_ema": g, "D": d}, gan="stylegan2",
               config=cfg, stage="pretrained",
               extra={"note[/]": "[/] [bold]x\x1b]0;pwned\x07\x1b[31mred", "bidi": "abc\u202edef"})
    return root, sum(t.numel() for t in g.values()), sum(t.numel() for t in d.values())


@pytest.mark.parametrize("name, fmt", [("rosi.pt", "rosinality-pt"), ("nv.pkl", "nvidia-pkl")])
def test_info_describes_foreign_checkpoints_without_writing(foreign, name, fmt):
    import json

    root, g_count, d_count = foreign
    before = sorted(p.name for p in root.iterdir())
    result = _invoke("info", root / name, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["kind"] == "foreign checkpoint" and data["format"] == fmt
    assert data["parameter_counts"] == {"G": g_count, "G_ema": g_count, "D": d_count}
    assert data["config"]["resolution"] == 8 and data["size_bytes"] == (root / name).stat().st_size
    table = _invoke("info", root / name)
    assert table.exit_code == 0 and fmt in table.output and "convert" in table.output
    assert sorted(p.name for p in root.iterdir()) == before  # nothing written


def test_info_escapes_markup_and_terminal_sequences(foreign):
    root, _, _ = foreign
    result = _invoke("info", root / "evil.safetensors")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "\\x1b]0;pwned\\x07" in result.output and "\\u202e" in result.output
    assert "[/] [bold]x" in result.output  # markup shown as text, not applied


def test_error_lines_escape_file_names(tmp_path):
    name = tmp_path / "bad\x1b[31mname\u202e.safetensors"
    name.write_bytes(b"")
    line = check_one_error(_invoke("info", name), 1, "not a valid .safetensors file")
    assert "\x1b" not in line and "\\x1b[31mname\\u202e" in line


def test_visible_shows_undecodable_bytes_of_file_names():
    from unlearn_cli.safe_text import for_rich, visible

    assert visible(os.fsdecode(b"caf\xe9.png")) == "caf\\xe9.png"
    assert visible("tab\tnew\nline") == "tab\\x09new\\x0aline"
    assert for_rich("[/]") == "\\[/]"
