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
     "names the class '1' twice (each target once)"),
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
    # (a source's own option: the source names itself in the message)
    ("--candidates", "10000000000", "less than or equal to 1000000 (got 10000000000)"),
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


# --------------------------------------------------------------------------- image folders
def test_fifos_are_skipped_and_other_formats_read(tmp_path, capsys):
    from unlearn_cli.io.images import read_image_folder

    folder = negative_folder(tmp_path / "neg", n=2)
    os.mkfifo(folder / "pipe.png")
    Image.new("L", (10, 10), 40).save(folder / "scan.tif")
    Image.new("P", (10, 10), 3).save(folder / "anim.gif")
    Image.new("RGB", (10, 10), (9, 9, 9)).save(folder / "frame.ppm")
    (folder / "notes.txt").write_text("not an image")
    start = time.monotonic()
    images = read_image_folder(folder, 8, 1, what="--neg folder")
    assert time.monotonic() - start < 10  # the FIFO was never opened
    assert images.shape == (5, 1, 8, 8)  # two PNGs, the TIFF, the GIF and the PPM
    warning = capsys.readouterr().err
    assert warning.count("\n") == 1 and warning.startswith("warning: --neg folder")
    assert "pipe.png (a FIFO (named pipe))" in warning
    assert "notes.txt (not an image file extension)" in warning
    _documented("skipped 2 entries that are not image files")


def test_a_fifo_named_as_an_image_file_is_refused(tmp_path):
    from unlearn_cli.api import UnlearnError
    from unlearn_cli.io.images import read_image_files

    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(UnlearnError, match="is a FIFO"):
        read_image_files([tmp_path / "pipe.png"], 8, 1)


# --------------------------------------------------------------------------- unreadable files
def _deny(monkeypatch, target: Path):
    """os.open of ``target`` fails as for a file without read permission (tests run as root,
    for whom chmod 000 changes nothing)."""
    import errno

    import unlearn_cli.io.readable as readable

    real = os.open

    def fake(path, flags, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(readable.os, "open", fake)


@pytest.mark.parametrize("name", ["pre.safetensors", "model.pt", "model.pkl"])
@pytest.mark.parametrize("command", ["info", "sample"])
def test_permission_denied_is_said_with_the_path(files, tmp_path, monkeypatch, name, command):
    target = tmp_path / name
    target.write_bytes((files / "pre.safetensors").read_bytes())
    if not ROOT_USER:
        target.chmod(0)
    _deny(monkeypatch, target)
    argv = [command, target] + (["--out", tmp_path / "out"] if command == "sample" else [])
    line = check_one_error(_invoke(*argv), 1, "permission denied; make it readable")
    assert str(target) in line and not (tmp_path / "out").exists()
    _documented("permission denied; make it readable")


def test_permission_denied_on_a_config_file(files, tmp_path, monkeypatch):
    config = tmp_path / "run.yaml"
    config.write_text("seed: 1\n")
    _deny(monkeypatch, config)
    line = check_one_error(_run(files, tmp_path / "out", "--config", config), 1,
                           "permission denied; make it readable")
    assert str(config) in line


def test_permission_denied_on_an_image(tmp_path, monkeypatch):
    from unlearn_cli.api import UnlearnError
    from unlearn_cli.io import images

    folder = negative_folder(tmp_path / "neg", n=1)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(images.Image, "open", denied)
    with pytest.raises(UnlearnError, match="image '.*n0.png': permission denied"):
        images.read_image_folder(folder, 8, 1)


# --------------------------------------------------------------------------- weights
def _with_config(path: Path, gan: str, config: dict) -> Path:
    from unlearn_cli.io.modelfile import save_model

    save_model(path, {"G": {"x": torch.zeros(1)}}, gan=gan, config=config, stage="pretrained")
    return path


@pytest.mark.parametrize("gan, config", [
    ("stylegan2", {"resolution": 1024, "channel_base": 2**40, "channel_max": 2**20}),
    ("dcgan", {"channels": 100000}),
])
def test_tiny_file_asking_for_a_gigantic_network(tmp_path, gan, config):
    path = _with_config(tmp_path / "giant.safetensors", gan, config)
    assert path.stat().st_size < 1000
    start = time.monotonic()
    line = check_one_error(_invoke("sample", path, "--out", tmp_path / "out"), 1,
                           "above the limit of 2,000,000,000")
    assert time.monotonic() - start < 30 and "parameters" in line
    _documented("above the limit of 2,000,000,000")


def test_parameter_limit_and_memory_check_are_overridable(tmp_path, monkeypatch):
    path = _with_config(tmp_path / "giant.safetensors", "dcgan", {"channels": 100000})
    monkeypatch.setenv("GAN_UNLEARN_MAX_PARAMS", str(10**13))
    check_one_error(_invoke("sample", path, "--out", tmp_path / "out"), 1, "of memory is available")
    _documented("of memory is available; free memory or use a smaller model")
    monkeypatch.setenv("GAN_UNLEARN_MAX_PARAMS", "lots")
    check_one_error(_invoke("sample", path, "--out", tmp_path / "out"), 1,
                    "GAN_UNLEARN_MAX_PARAMS must be a positive whole number")
    _documented("GAN_UNLEARN_MAX_PARAMS must be a positive whole number")


@pytest.mark.parametrize("plugin_name", ["stylegan2", "dcgan"])
def test_estimates_count_every_tensor_exactly(plugin_name):
    from unlearn_cli.plugins import get_registry

    plugin = get_registry().load("gan", plugin_name)
    configs = ([{"resolution": 16, "z_dim": 16, "w_dim": 8, "mapping_layers": 2,
                 "channel_base": 256, "channel_max": 16, "mbstd_channels": 2, "img_channels": 1},
                {"resolution": 32, "d_channels": {"4": 8, "8": 8, "16": 4, "32": 4},
                 "channel_base": 512, "channel_max": 32}]
               if plugin_name == "stylegan2" else
               [{"resolution": 8}, {"resolution": 64, "channels": 7, "z_dim": 5, "img_channels": 3}])
    for config in configs:
        G, D = plugin.build(config)
        built = sum(t.numel() for m in (G, D) for t in m.state_dict().values())
        sizes = plugin.estimate(config)
        assert sizes["parameters"] == built
        assert sizes["activation_bytes_per_image"] > 0


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_named_at_load(files, tmp_path, value):
    from safetensors import safe_open
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    with safe_open(str(files / "pre.safetensors"), "pt") as handle:
        meta = handle.metadata()
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    tensors["D.out.weight"][0, 2] = value
    save_file(tensors, str(path), metadata=meta)
    line = check_one_error(_run(files, tmp_path / "out", "--ckpt", path), 1,
                           "holds 1 NaN or infinite value(s)")
    assert "'D.out.weight'" in line and not (tmp_path / "out").exists()
    _documented("holds 1 NaN or infinite value(s)")


# --------------------------------------------------------------------------- nested payloads
class _System:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Blob:
    """Pickles as torch.storage._load_from_bytes(BYTES), BYTES a legacy torch.save of ``inner``:
    what a real storage looks like from outside, with a payload inside."""

    def __init__(self, inner):
        import io

        buf = io.BytesIO()
        torch.save(inner, buf, _use_new_zipfile_serialization=False)
        self.data = buf.getvalue()

    def __reduce__(self):
        return (torch.storage._load_from_bytes, (self.data,))


@pytest.mark.parametrize("suffix", ["pkl", "pt"])
@pytest.mark.parametrize("command", ["info", "convert"])
def test_payload_nested_in_a_storage_blob(tmp_path, suffix, command):
    import pickle

    marker = tmp_path / "PAYLOAD-RAN"
    path = tmp_path / f"nested.{suffix}"
    if suffix == "pkl":
        path.write_bytes(pickle.dumps({"G_ema": _Blob(_System(marker))}, protocol=4))
    else:
        torch.save({"g_ema": {"w": torch.zeros(2)}, "extra": _Blob(_System(marker))}, path)
    argv = [command, path] + ([tmp_path / "out.safetensors"] if command == "convert" else [])
    line = check_one_error(_invoke(*argv), 1, "refused:")
    assert "weights_only" not in line and "False" not in line, line
    assert "nothing from it was run" in line
    assert not marker.exists() and not (tmp_path / "out.safetensors").exists()
    if suffix == "pkl":
        assert "a tensor storage inside the pickle references" in line
        _documented("a tensor storage inside the pickle references")


# --------------------------------------------------------------------------- other families
def _family_pickle(tmp_path, class_name: str, layers: dict, source: str) -> Path:
    """A network pickle shaped like a real one of another family: persistent records whose
    layers hold numpy arrays (as StyleGAN3's in_size / out_size do), which the allow-list
    refuses (numpy._core.multiarray._reconstruct)."""
    import pickle

    import numpy as np

    sys.path.insert(0, str(Path(__file__).parent / "stylegan2"))
    from sg2_helpers import install_fake_nvidia_modules

    mp = pytest.MonkeyPatch()
    try:
        reconstruct, _ = install_fake_nvidia_modules(mp)

        class Record:
            def __init__(self, name, state):
                self.name, self.state = name, state

            def __reduce__(self):
                return (reconstruct, ({"type": "class", "version": 6, "module_src": source,
                                       "class_name": self.name, "state": self.state},))

        synthesis = Record("SynthesisNetwork", {"_modules": {
            name: Record(kind, {"size": np.array([36, 36]), "_parameters": {}})
            for name, kind in layers.items()}})
        G = Record(class_name, {"_modules": {"synthesis": synthesis}})
        data = pickle.dumps({"G": G, "D": None, "G_ema": G}, protocol=4)
    finally:
        mp.undo()
    path = tmp_path / "other.pkl"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("class_name, layers, source, family", [
    ("Generator", {"input": "SynthesisInput", "L0_36_512": "SynthesisLayer"},
     "class SynthesisInput(torch.nn.Module):\n    pass\n", "StyleGAN3 (alias-free)"),
    ("TriPlaneGenerator", {"b4": "SynthesisBlock"}, "# eg3d\n", "EG3D (3D-aware, tri-plane)"),
])
@pytest.mark.parametrize("command", ["info", "convert"])
def test_other_nvidia_families_are_named(tmp_path, class_name, layers, source, family, command):
    path = _family_pickle(tmp_path, class_name, layers, source)
    argv = [command, path] + ([tmp_path / "out.safetensors"] if command == "convert" else [])
    line = check_one_error(_invoke(*argv), 1, f"this is a {family} network pickle, not StyleGAN2")
    assert "_reconstruct" not in line and "allow-list" not in line, line
    assert not (tmp_path / "out.safetensors").exists()
    _documented("network pickle, not StyleGAN2: a different architecture that gan-unlearn does not import")


# --------------------------------------------------------------------------- broken plugins
def _broken_plugin(monkeypatch, how: str):
    """One third-party entry point that misbehaves ``how``, beside the built-ins."""
    import types
    from dataclasses import dataclass

    from unlearn_cli import hookimpl, plugins

    @dataclass
    class Dist:
        name: str = "broken-dist"
        version: str = "0.0.1"

    module = types.ModuleType("broken_plugin_19")

    if how in ("exit-in-hook", "interrupt-in-hook", "returns-5"):
        @hookimpl
        def register_repulsions():
            if how == "exit-in-hook":
                raise SystemExit(3)
            if how == "interrupt-in-hook":
                raise KeyboardInterrupt
            return 5

        module.register_repulsions = register_repulsions

    class EntryPoint:
        name, value, dist = "broken", "broken_plugin_19", Dist()

        def load(self):
            if how == "exit-on-import":
                sys.exit(2)
            if how == "interrupt-on-import":
                raise KeyboardInterrupt
            if how == "prints":
                print("hello from a plugin")
            return module

    real = plugins._entry_points
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real(), EntryPoint()])
    plugins.reset_registry()


@pytest.mark.parametrize("how", ["exit-on-import", "interrupt-on-import", "exit-in-hook",
                                 "interrupt-in-hook", "returns-5", "prints"])
def test_one_broken_plugin_does_not_take_commands_down(monkeypatch, how):
    import json

    from unlearn_cli import plugins

    _broken_plugin(monkeypatch, how)
    try:
        listed = _invoke("list-plugins", "--json")
        assert listed.exit_code == 0, listed.output
        text = json.dumps(json.loads(listed.stdout))  # stdout is JSON alone
        assert "hello from a plugin" not in listed.stdout
        assert "stylegan2" in text  # the built-ins still work
        if how != "prints":
            assert "broken" in text and "failed" in text
        if how == "returns-5":
            _documented("register_repulsions returned int '5', not a list of ComponentSpec")
        _broken_plugin(monkeypatch, how)
        helped = _invoke("--help")
        assert helped.exit_code == 0 and "run" in helped.output, helped.output
    finally:
        monkeypatch.undo()
        plugins.reset_registry()


# --------------------------------------------------------------------------- output names, stdout
@pytest.mark.parametrize("out, fragment", [
    (lambda tmp: str(tmp / ("a" * 300)), "bytes, longer than the 255 the file system allows"),
    (lambda tmp: str(tmp / "/".join(["b" * 200] * 25)), "the path is longer than the"),
    (lambda tmp: os.fsdecode(bytes(tmp / "bad") + b"\xffname"), "is not valid utf-8"),
])
def test_out_names_the_file_system_cannot_hold(files, tmp_path, out, fragment):
    check_one_error(_run(files, out(tmp_path)), 1, fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    _documented(fragment)


def test_a_too_long_name_anywhere_is_one_line(files, tmp_path):
    long = tmp_path / ("a" * 300)
    line = check_one_error(_invoke("sample", files / "pre.safetensors", "--out", long), 1,
                           "File name too long; choose a shorter name")
    _documented("File name too long; choose a shorter name")
    assert "internal error" not in line


def test_tolerant_stdout_swallows_failed_writes(monkeypatch):
    import errno

    from unlearn_cli.cli import common

    class Full:
        def __init__(self):
            self.calls = 0

        def write(self, text):
            self.calls += 1
            raise OSError(errno.ENOSPC, "No space left on device")

        def flush(self):
            raise OSError(errno.ENOSPC, "No space left on device")

        def fileno(self):
            raise ValueError("no descriptor")

    inner = Full()
    stream = common.TolerantStdout(inner)
    assert stream.write("step 1\n") == 7 and stream.write("step 2\n") == 7
    stream.flush()
    assert inner.calls == 1  # after the first failure nothing more is attempted
    monkeypatch.setattr(sys, "stdout", stream)
    assert "No space left on device" in common.stdout_failure()


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
@pytest.mark.parametrize("command", ["sample", "run"])
def test_stdout_on_a_full_device(files, tmp_path, command):
    import subprocess

    out = tmp_path / "out"
    argv = ([command, files / "pre.safetensors", "--out", out] if command == "sample" else
            ["run", "--ckpt", files / "pre.safetensors", "--neg", files / "neg", "--out", out,
             "--adapt-iters", "4", "--unlearn-iters", "4", "--eval-samples", "8", "--batch", "4",
             "--device", "cpu"])
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "unlearn_cli", *map(str, argv)], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=300)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and len(errors) == 1, done.stderr
    assert "standard output could not be written (No space left on device)" in errors[0]
    assert "Traceback" not in done.stderr
    finished = out / ("grid.png" if command == "sample" else "unlearned.safetensors")
    assert finished.is_file()  # the work was done and its files written
    _documented("standard output could not be written (No space left on device)")


def test_run_summary_escapes_names(capsys):
    from unlearn_cli.cli.summary import print_summary

    print_summary({"method": "adapt-then-unlearn", "out_dir": "runs/[/]x\x1b[2J",
                   "negatives": 4, "positives": 8, "eval_note": "class [bold]8[/]",
                   "timings_s": {"total": 1.0}})
    out = capsys.readouterr().out
    assert "\x1b[2J" not in out and "\\x1b[2J" in out and "[/]x" in out and "[bold]8[/]" in out


def test_list_plugins_escapes_plugin_text(monkeypatch):
    import types
    from dataclasses import dataclass

    from unlearn_cli import hookimpl, plugins
    from unlearn_cli.api import ComponentSpec

    @dataclass
    class Dist:
        name: str = "odd[/]dist"
        version: str = "1\x1b[31m"

    @hookimpl
    def register_repulsions():
        return [ComponentSpec("odd", "summary with [/] and \x1b]0;title\x07", "math:exp")]

    module = types.ModuleType("odd_plugin_19")
    module.register_repulsions = register_repulsions

    class EntryPoint:
        name, value, dist = "odd", "odd_plugin_19", Dist()

        def load(self):
            return module

    real = plugins._entry_points
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real(), EntryPoint()])
    try:
        result = _invoke("list-plugins")
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output  # shown as \x1b (tables may fold it across lines)
        assert "\\x1b" in result.output and "odd[/]dist" in result.output
    finally:
        monkeypatch.undo()
        plugins.reset_registry()


def test_train_refuses_a_gigantic_architecture_before_any_folder(tmp_path):
    out = tmp_path / "train"
    start = time.monotonic()
    check_one_error(_invoke("train", "--gan", "dcgan", "--data", "digits", "--arch",
                            "channels=100000", "--out", out, "--device", "cpu"), 1,
                    "train --arch: its config asks for networks of")
    assert time.monotonic() - start < 30 and not out.exists()


@pytest.mark.parametrize("command", ["info", "sample", "convert"])
def test_fifo_or_device_as_a_checkpoint(tmp_path, command):
    fifo = tmp_path / "net.pkl"
    os.mkfifo(fifo)
    for path, fragment in ((fifo, "is a FIFO (named pipe), not a regular file"),
                           (Path("/dev/zero"), "is a device, not a regular file")):
        if not path.exists():
            continue
        extra = {"sample": ["--out", tmp_path / "out"], "convert": [tmp_path / "o.safetensors"],
                 "info": []}[command]
        start = time.monotonic()
        check_one_error(_invoke(command, path, *extra), 1, fragment)
        assert time.monotonic() - start < 30
        assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pkl"]


def test_convert_and_sample_print_names_escaped(foreign, tmp_path):
    root, _, _ = foreign
    dst = tmp_path / "o\x1b[2J.safetensors"
    result = _invoke("convert", root / "rosi.pt", dst)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "o\\x1b[2J.safetensors" in result.output
    result = _invoke("sample", dst, "--out", tmp_path / "s\x1b]0;t\x07")
    assert result.exit_code == 0 and "\x1b" not in result.output, result.output


@pytest.mark.parametrize("kind", ["torchscript", "mnist"])
def test_permission_denied_on_a_classifier_file(tmp_path, monkeypatch, kind):
    """A classifier file this process may not read is said to be so, with its path (it was
    'not a loadable TorchScript file' before)."""
    from unlearn_cli.api import UnlearnError, load_component

    target = tmp_path / "clf.pt"
    target.write_bytes(b"whatever")
    _deny(monkeypatch, target)
    with pytest.raises(UnlearnError, match=f"file '{target}': permission denied; make it readable"):
        load_component("classifier", kind)(str(target), "cpu")
