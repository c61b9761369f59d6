"""The bad-input catalogue (issue 7, item 1; the table is docs/errors.md).

Every case goes through the CLI (``create_app()`` in-process, a few as real ``python -m
unlearn_cli`` processes) and must end with exactly one ``error:`` line, the documented exit code
(1: the input is wrong, 2: the command line is wrong), no traceback, and nothing half-written:
no new file or folder where the output would have gone, no temporary file anywhere. The few
inputs that must *work* (mixed images, a generator-only file) are run to the end.

Each case names the fragment of its message that docs/errors.md quotes, so the table and the
code cannot drift apart.
"""
from __future__ import annotations

import errno
import os
import pickle
import re
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from engine_helpers import negative_folder, tiny_dcgan_file
from unlearn_cli import hookimpl, plugins
from unlearn_cli.api import ComponentSpec
from unlearn_cli.cli.main import create_app
from unlearn_cli.io.modelfile import save_model

sys.path.insert(0, str(Path(__file__).parent / "stylegan2"))
from sg2_helpers import install_fake_nvidia_modules, nvidia_pickle, randomise, small_config  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
FAST = ["--adapt-iters", "4", "--unlearn-iters", "4", "--candidates", "32", "--eval-samples", "40",
        "--batch", "4", "--quiet", "--device", "cpu"]


# --------------------------------------------------------------------------- the inputs
class _Payload:
    """Pickles as os.system('touch MARKER'): must never run."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@dataclass
class World:
    root: Path
    ckpt: Path          # our tiny DCGAN, complete
    neg: Path           # a folder of 4 grey images
    marker: Path        # what a hostile payload would create

    def __getattr__(self, name):  # world.truncated__pt -> root/truncated.pt
        if name.startswith("_"):
            raise AttributeError(name)
        return self.root / name.replace("__", ".")


def _damage(valid: bytes, how: str) -> bytes:
    if how == "empty":
        return b""
    if how == "truncated":
        return valid[: len(valid) // 2]
    data = bytearray(valid)  # corrupt: the container's structure overwritten
    for i in range(8, min(len(data), 4096), 7):
        data[i] ^= 0xA5
    return bytes(data)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    root = tmp_path_factory.mktemp("inputs")
    w = World(root, tiny_dcgan_file(root / "pre.safetensors"), negative_folder(root / "neg"),
              root / "PAYLOAD-RAN")
    # ours: damaged copies and odd but well-formed files
    valid = w.ckpt.read_bytes()
    for how in ("empty", "truncated", "corrupt"):
        (root / f"{how}.safetensors").write_bytes(_damage(valid, how))
    from safetensors.torch import save_file

    save_file({"weight": torch.zeros(2)}, str(root / "foreign.safetensors"))
    dcgan = plugins.get_registry().load("gan", "dcgan")
    cfg = dcgan.validate_config({"resolution": 8, "z_dim": 8, "channels": 8})
    torch.manual_seed(0)
    G, D = dcgan.build(cfg)
    save_model(root / "gonly.safetensors", {"G": G.state_dict(), "G_ema": G.state_dict()},
               gan="dcgan", config=cfg, stage="pretrained")
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN as SG2, save_rosinality

    sg_cfg = SG2.validate_config(small_config(resolution=8, img_channels=1))
    sg_G, sg_D = SG2.build(sg_cfg)
    g, d = randomise(sg_G).state_dict(), randomise(sg_D, 1).state_dict()
    save_model(root / "liar.safetensors", {"G": G.state_dict(), "D": D.state_dict()},
               gan="stylegan2", config=sg_cfg, stage="pretrained")  # says stylegan2, holds a DCGAN
    # rosinality .pt
    save_rosinality(root / "rosi.pt", sg_cfg, g, g, d)
    save_rosinality(root / "rosi-gonly.pt", sg_cfg, g, g, None)
    torch.save({"g_ema": _Payload(w.marker)}, root / "hostile.pt")
    # NVIDIA .pkl
    mp = pytest.MonkeyPatch()
    try:
        (root / "nv.pkl").write_bytes(nvidia_pickle(mp, sg_cfg, g, d))
        sg3 = dict(g, **{"synthesis.L0_36_512.weight": torch.zeros(2, 2),
                         "synthesis.input.freqs": torch.zeros(2)})
        (root / "sg3.pkl").write_bytes(nvidia_pickle(mp, sg_cfg, sg3, d))
        cond = dict(g, **{"mapping.embed.weight": torch.zeros(16, 10)})
        (root / "cond.pkl").write_bytes(nvidia_pickle(mp, sg_cfg, cond, d, g_extra={"c_dim": 10}))
        reconstruct, _ = install_fake_nvidia_modules(mp)
        # a network pickle whose second entry is a payload: the loader meets it mid-file
        (root / "hostile.pkl").write_bytes(pickle.dumps(
            {"G_ema": _FakeRecord(reconstruct), "D": _Payload(w.marker)}, protocol=4))
        (root / "tf.pkl").write_bytes(_tf_pickle(mp))
    finally:
        mp.undo()
    for fmt, name in (("pt", "rosi.pt"), ("pkl", "nv.pkl")):
        valid = (root / name).read_bytes()
        for how in ("empty", "truncated", "corrupt"):
            (root / f"{how}.{fmt}").write_bytes(_damage(valid, how))
    # negatives
    (root / "neg-empty").mkdir()
    text = root / "neg-text"
    text.mkdir()
    (text / "notes.txt").write_text("not an image")
    (text / "list.csv").write_text("a,b")
    bad = negative_folder(root / "neg-one-bad")
    (bad / "n9.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    _mixed_folder(root / "neg-mixed")
    # configs
    configs = {"bad-syntax": "gamma: [1, 2\n", "unknown-key": "gama: 1\n",
               "unknown-nested": "train:\n  bach: 3\n", "wrong-type": "gamma: lots\n",
               "bool-number": "fisher_samples: true\n", "negative": "alpha: -2\n",
               "nan": "ewc_lambda: .nan\n", "beta-range": "train:\n  beta2: 1.5\n",
               "not-mapping": "- gamma\n- 1\n", "section-scalar": "train: 5\n",
               "plugin-option-list": "plugin_options:\n  blur: [1, 2]\n",
               "binary": None}
    for name, body in configs.items():
        path = root / f"{name}.yaml"
        path.write_bytes(b"\xff\xfe\x00gamma" if body is None else body.encode())
    return w


class _FakeRecord:
    def __init__(self, reconstruct):
        self.reconstruct = reconstruct

    def __reduce__(self):
        return (self.reconstruct, ({"type": "class", "version": 6, "class_name": "Generator",
                                    "state": {}},))


def _tf_pickle(mp) -> bytes:
    """Bytes shaped like the original TensorFlow StyleGAN2 releases: (G, D, Gs) Network objects."""
    module = types.ModuleType("dnnlib.tflib.network")

    class Network:
        def __getstate__(self):
            return {"version": 4, "name": "G_synthesis", "static_kwargs": {},
                    "build_module_src": "def G_main(): ...", "build_func_name": "G_main",
                    "variables": [("dense/weight", np.zeros(3, np.float32))]}

    Network.__module__, Network.__qualname__ = "dnnlib.tflib.network", "Network"
    module.Network = Network
    for name, mod in (("dnnlib", types.ModuleType("dnnlib")),
                      ("dnnlib.tflib", types.ModuleType("dnnlib.tflib")),
                      ("dnnlib.tflib.network", module)):
        mp.setitem(sys.modules, name, mod)
    return pickle.dumps((Network(), Network(), Network()), protocol=4)


def _mixed_folder(path: Path) -> Path:
    """Sizes from 1x1 to 64x40, grey, RGB, RGBA, palette, 16-bit, CMYK, bilevel; 4 formats."""
    path.mkdir()
    rng = np.random.default_rng(1)

    def noise(h, w, c):
        return (rng.random((h, w, c)) * 255).astype("uint8")

    Image.fromarray(noise(30, 17, 3)).save(path / "rgb.jpg")
    Image.fromarray(noise(5, 9, 4), "RGBA").save(path / "rgba.png")
    Image.fromarray(noise(40, 64, 1)[..., 0]).convert("P").save(path / "palette.bmp")
    Image.fromarray((rng.random((20, 20)) * 65535).astype("uint16")).save(path / "grey16.png")
    Image.fromarray(noise(3, 100, 3)).convert("CMYK").save(path / "cmyk.jpg")
    Image.fromarray(noise(1, 1, 3)).save(path / "one-pixel.webp")
    Image.fromarray(rng.random((12, 12)) > 0.5).save(path / "bilevel.png")
    Image.fromarray(noise(12, 12, 2), "LA").save(path / "grey-alpha.png")
    return path


# --------------------------------------------------------------------------- checking
def _invoke(*args):
    plugins.reset_registry()
    return CliRunner().invoke(create_app(), [str(a) for a in args])


def _snapshot(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


def _temp_files(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".write-test" in p.name]


def check_one_error(result, code: int, fragment: str | None = None) -> str:
    """One ``error:`` line, the exit code, no traceback; returns the line."""
    text = result.output
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert result.exit_code == code, text
    assert len(errors) == 1, text
    assert "Traceback" not in text and "Exception" not in text.replace("UnlearnError", ""), text
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    if fragment is not None:
        assert fragment in errors[0], errors[0]
    return errors[0]


def _documented(fragment: str) -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert fragment in docs, f"docs/errors.md does not quote the message fragment {fragment!r}"


@dataclass
class Case:
    id: str
    argv: callable            # (world, out) -> list of CLI arguments
    fragment: str             # a literal part of the message, quoted in docs/errors.md
    code: int = 1


def _run(ckpt=None, neg=None, *extra):
    def argv(w, out):
        return ["run", "--ckpt", ckpt(w) if ckpt else w.ckpt, "--neg", neg(w) if neg else w.neg,
                "--out", out, *FAST, *[e(w) if callable(e) else e for e in extra]]
    return argv


def _cfg(name):
    return _run(None, None, "--config", lambda w: w.root / f"{name}.yaml")


CASES = [
    # checkpoints: missing, empty, truncated, corrupt, for each format
    Case("ckpt-missing-safetensors", _run(lambda w: w.root / "absent.safetensors"), "checkpoint not found"),
    Case("ckpt-missing-pt", _run(lambda w: w.root / "absent.pt"), "checkpoint not found"),
    Case("ckpt-missing-pkl", _run(lambda w: w.root / "absent.pkl"), "checkpoint not found"),
    *[Case(f"ckpt-empty-{fmt}", _run(lambda w, fmt=fmt: w.root / f"empty.{fmt}"), "is empty (0 bytes)")
      for fmt in ("safetensors", "pt", "pkl")],
    Case("ckpt-truncated-safetensors", _run(lambda w: w.truncated__safetensors), "not a valid .safetensors file (file is truncated)"),
    Case("ckpt-corrupt-safetensors", _run(lambda w: w.corrupt__safetensors), "not a valid .safetensors file"),
    Case("ckpt-truncated-pt", _run(lambda w: w.truncated__pt), "plugin can read (damaged, truncated or another format)"),
    Case("ckpt-corrupt-pt", _run(lambda w: w.corrupt__pt), "plugin can read (damaged, truncated or another format)"),
    Case("ckpt-truncated-pkl", _run(lambda w: w.truncated__pkl), "not a readable network pickle"),
    Case("ckpt-corrupt-pkl", _run(lambda w: w.corrupt__pkl), "not a readable network pickle"),
    Case("ckpt-folder", _run(lambda w: w.neg), "is a folder; pass a model file"),
    Case("ckpt-foreign-safetensors", _run(lambda w: w.foreign__safetensors),
         "is a .safetensors file but not a gan-unlearn model"),
    # hostile and unsupported files
    Case("pkl-hostile-global", _run(lambda w: w.hostile__pkl), "refused: the pickle references 'posix.system'"),
    Case("pt-hostile-global", _run(lambda w: w.hostile__pt), "refused: the file references 'posix.system'"),
    Case("pkl-stylegan3", _run(lambda w: w.sg3__pkl), "this is a StyleGAN3 network"),
    Case("pkl-conditional", _run(lambda w: w.cond__pkl), "this is a conditional generator (c_dim=10)"),
    Case("pkl-tensorflow", _run(lambda w: w.tf__pkl), "a TensorFlow StyleGAN/StyleGAN2 pickle"),
    # wrong architecture for --gan
    Case("gan-wrong-for-our-file", _run(None, None, "--gan", "stylegan2"), "holds a 'dcgan' model, not 'stylegan2'"),
    Case("gan-wrong-for-foreign-file", _run(lambda w: w.rosi__pt, None, "--gan", "dcgan"),
         "is not a checkpoint the 'dcgan' plugin can read"),
    Case("file-header-lies-about-arch", _run(lambda w: w.liar__safetensors), "the generator does not match its architecture config"),
    # negatives
    Case("neg-missing", _run(None, lambda w: w.root / "absent"), "does not exist; check the path"),
    Case("neg-empty-folder", _run(None, lambda w: w.root / "neg-empty"), "no images in --neg folder"),
    Case("neg-non-images", _run(None, lambda w: w.root / "neg-text"), "2 other file(s) were ignored"),
    Case("neg-one-unreadable", _run(None, lambda w: w.root / "neg-one-bad"), "cannot read image '"),
    Case("neg-is-a-file", _run(None, lambda w: w.ckpt), "is a file, not a folder"),
    # unknown names: the message lists the valid ones (checked against the registry below)
    *[Case(f"unknown-{kind}", _run(None, None, f"--{kind}", "nope"), f"unknown {kind} 'nope'; available: ")
      for kind in ("gan", "repulsion", "source", "method", "classifier")],
    Case("unknown-bundled-model", _run(lambda w: "bundled:nope"), "unknown dataset 'nope'; available: "),
    # configuration file and flags
    Case("yaml-syntax", _cfg("bad-syntax"), "is not valid YAML at line 2"),
    Case("yaml-unknown-key", _cfg("unknown-key"), "unknown config key 'gama'"),
    Case("yaml-unknown-nested-key", _cfg("unknown-nested"), "unknown config key 'train.bach'"),
    Case("yaml-wrong-type", _cfg("wrong-type"), "config key 'gamma': input should be a valid number"),
    Case("yaml-true-for-number", _cfg("bool-number"), "must be a number, not true/false"),
    Case("yaml-negative", _cfg("negative"), "repulsion 'exp' (gan-unlearn 0.1.0): option 'alpha' must be greater than 0 (got -2)"),
    Case("yaml-nan", _cfg("nan"), "config key 'ewc_lambda': value error, must be a finite number"),
    Case("yaml-out-of-range", _cfg("beta-range"), "config key 'train.beta2': input should be less than 1"),
    Case("yaml-not-a-mapping", _cfg("not-mapping"), "must hold a mapping of option: value"),
    Case("yaml-section-not-a-mapping", _cfg("section-scalar"), "config key 'train' must be a mapping"),
    Case("yaml-not-text", _cfg("binary"), "cannot read config file"),
    Case("yaml-missing", _run(None, None, "--config", lambda w: w.root / "absent.yaml"), "config file not found"),
    Case("flag-negative", _run(None, None, "--gamma", "-1"), "config key 'gamma': value error, must not be negative"),
    Case("yaml-plugin-option-list", _cfg("plugin-option-list"), "no chosen component has an option 'blur'; options: "),
    Case("flag-plugin-option-no-value", _run(None, None, "--plugin-option", "blur"), "--plugin-option takes KEY=VALUE or KIND.KEY=VALUE"),
    Case("flag-nan", _run(None, None, "--lr", "nan"), "config key 'train.lr': value error, must be a finite number"),
    Case("flag-inf", _run(None, None, "--gamma", "inf"), "must be a finite number"),
    Case("flag-zero-batch", _run(None, None, "--batch", "0"), "config key 'train.batch': input should be greater than or equal to 1"),
    Case("flag-repulsion-option", _run(None, None, "--alpha", "0"), "repulsion 'exp' (gan-unlearn 0.1.0): option 'alpha' must be greater than 0 (got 0.0); its options: alpha"),
    Case("flag-threshold-range", _run(None, None, "--threshold", "1.5"), "option 'threshold' must be less than or equal to 1 (got 1.5)"),
    Case("flag-not-a-number", _run(None, None, "--batch", "many"), "Invalid value for '--batch'", code=2),
    Case("flag-unknown", _run(None, None, "--gama", "1"), "No such option: --gama", code=2),
    Case("command-unknown", lambda w, out: ["unlern", "--ckpt", w.ckpt], "No such command 'unlern'", code=2),
    # output location
    Case("out-is-a-file", lambda w, out: ["run", "--ckpt", w.ckpt, "--neg", w.neg, "--out", w.ckpt, *FAST],
         "is a file; choose a folder"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_catalogue(world, tmp_path, case):
    out = tmp_path / "out"
    before = _snapshot(world.root)
    result = _invoke(*case.argv(world, out))
    line = check_one_error(result, case.code, case.fragment)
    assert not out.exists(), f"{case.id}: the output folder was left behind"
    assert _snapshot(world.root) == before, f"{case.id}: inputs folder changed"
    assert not world.marker.exists(), "a payload in a checkpoint was executed"
    if case.id == "neg-one-unreadable":
        assert "n9.png" in line, line  # the bad file is named
    if case.id.startswith("unknown-") and case.id != "unknown-bundled-model":
        kind = case.id.split("-", 1)[1]
        names = plugins.get_registry().names(kind)
        assert line.endswith("available: " + ", ".join(names)), line
    _documented(case.fragment)


# --------------------------------------------------------------------------- other commands
@pytest.mark.parametrize("name, fragment", [
    ("corrupt.safetensors", "not a valid .safetensors file"),
    ("empty.safetensors", "not a valid .safetensors file (file is shorter than a safetensors header)"),
    ("corrupt.pt", "is neither a gan-unlearn model nor a checkpoint the 'stylegan2' plugin can read"),
    ("absent.safetensors", "model file not found"),
])
def test_info_on_bad_files(world, name, fragment):
    check_one_error(_invoke("info", world.root / name), 1, fragment)
    _documented(fragment)


@pytest.mark.parametrize("name, fragment", [
    ("hostile.pkl", "refused: the pickle references 'posix.system'"),
    ("corrupt.pkl", "not a readable network pickle"),
    ("tf.pkl", "a TensorFlow StyleGAN/StyleGAN2 pickle"),
    ("truncated.pt", "plugin can read (damaged, truncated or another format)"),
])
def test_convert_refuses_without_writing(world, tmp_path, name, fragment):
    dst = tmp_path / "model.safetensors"
    check_one_error(_invoke("convert", world.root / name, dst), 1, fragment)
    assert list(tmp_path.iterdir()) == [] and not world.marker.exists()


def test_unlearn_with_a_damaged_adapted_file(world, tmp_path):
    result = _invoke("unlearn", "--ckpt", world.ckpt, "--neg", world.neg, "--adapted",
                     world.corrupt__safetensors, "--out", tmp_path / "out", *FAST)
    check_one_error(result, 1, "not a valid .safetensors file")
    assert not (tmp_path / "out").exists()


def test_train_on_an_empty_folder_leaves_no_folder(world, tmp_path):
    result = _invoke("train", "--data", world.root / "neg-empty", "--gan", "dcgan", "--arch",
                     "resolution=8", "--iters", "2", "--batch", "2", "--out", tmp_path / "t",
                     "--quiet", "--device", "cpu")
    check_one_error(result, 1, "no images in image folder")
    assert not (tmp_path / "t").exists()
    _documented("no images in image folder")


def test_resume_of_a_folder_that_is_not_a_run(world, tmp_path):
    check_one_error(_invoke("run", "--resume", world.neg, "--quiet"), 1, "no config.yaml there")
    _documented("no config.yaml there")


# --------------------------------------------------------------------------- inputs that must work
def _summary(result):
    assert result.exit_code == 0, result.output
    assert "error:" not in result.output and "Traceback" not in result.output


def test_generator_only_file_runs_with_a_warmed_up_discriminator(world, tmp_path):
    out = tmp_path / "out"
    result = _invoke("run", "--ckpt", world.gonly__safetensors, "--neg", world.neg, "--out", out, *FAST)
    _summary(result)
    assert "warning: no discriminator in file" in result.output
    assert (out / "unlearned.safetensors").is_file()
    _documented("no discriminator in file")


@pytest.mark.parametrize("name", ["rosi-gonly.pt"])
def test_generator_only_foreign_file_converts_with_the_warning(world, tmp_path, name):
    result = _invoke("convert", world.root / name, tmp_path / "m.safetensors")
    _summary(result)
    assert "warning: no discriminator in file" in result.output


def test_mixed_sizes_and_modes_work(world, tmp_path):
    out = tmp_path / "out"
    result = _invoke("run", "--ckpt", world.ckpt, "--neg", world.root / "neg-mixed", "--out", out, *FAST)
    _summary(result)
    assert "negatives: 8" in result.output and (out / "unlearned.safetensors").is_file()


# --------------------------------------------------------------------------- plugins that misbehave
class FakeDist:
    name, version = "bad-inputs-fakes", "0.0"


class FakeEntryPoint:
    name, value, dist = "bad-inputs-fakes", "bad_inputs_fakes", FakeDist()

    def load(self):
        return sys.modules[self.value]


class _Flat(torch.nn.Module):
    """A classifier that sees class 'a' in everything, so it never flags 'b'."""

    classes, resolution, channels = ["a", "b"], None, None

    def probs(self, images):
        p = torch.zeros(len(images), 2)
        p[:, 0] = 1.0
        return p


def _nan_after(steps: int):
    def factory(**_options):
        calls = {"n": 0}

        def loss(d):
            if d.grad_fn is None:  # the core's probe before the run (a leaf d): behave well
                return -d
            calls["n"] += 1  # a training step: d is computed from the parameters
            return d * 0.0 if calls["n"] <= steps else d * float("nan")

        return loss

    return factory


@pytest.fixture
def fakes(monkeypatch):
    @hookimpl
    def register_classifiers():
        return [ComponentSpec("flat", "flags nothing", "bad_inputs_fakes:load_flat")]

    @hookimpl
    def register_repulsions():
        return [ComponentSpec("nan-after-2", "NaN from the third step", "bad_inputs_fakes:nan_after_2")]

    module = types.ModuleType("bad_inputs_fakes")
    module.register_classifiers, module.register_repulsions = register_classifiers, register_repulsions
    module.load_flat = lambda path, device: _Flat()
    module.nan_after_2 = _nan_after(2)
    monkeypatch.setitem(sys.modules, "bad_inputs_fakes", module)
    real = plugins._entry_points()
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real, FakeEntryPoint()])


def test_classifier_that_flags_no_sample(world, tmp_path, fakes):
    out = tmp_path / "out"
    result = _invoke("run", "--ckpt", world.ckpt, "--source", "classifier", "--classifier", "flat",
                     "--target", "b", "--out", out, *FAST)
    check_one_error(result, 1, "the classifier flagged none of 32 generated samples as 'b'")
    assert not out.exists()
    _documented("the classifier flagged none of")


def test_exploding_learning_rate_stops_naming_the_step(world, tmp_path):
    out = tmp_path / "out"
    result = _invoke("run", "--ckpt", world.ckpt, "--neg", world.neg, "--out", out, *FAST, "--lr", "1e30")
    line = check_one_error(result, 1, "became NaN or infinite by step")
    assert re.search(r"adapt#0: .* by step \d+;", line), line
    assert not out.exists()  # nothing worth keeping: no stage finished, no good checkpoint
    _documented("became NaN or infinite by step")


def test_nan_mid_stage_keeps_the_last_good_checkpoint(world, tmp_path, fakes):
    from safetensors import safe_open

    out = tmp_path / "out"
    (tmp_path / "c.yaml").write_text("train:\n  checkpoint_every: 2\n  log_every: 100\n")
    result = _invoke("run", "--ckpt", world.ckpt, "--neg", world.neg, "--out", out, *FAST,
                     "--config", tmp_path / "c.yaml", "--repulsion", "nan-after-2",
                     "--unlearn-iters", "6")
    kept = out / "resume" / "unlearn.safetensors"
    line = check_one_error(result, 1, "the last good checkpoint (step 2) is kept in")
    assert line.startswith("error: unlearn: ") and "by step 4" in line and str(kept) in line
    with safe_open(str(kept), framework="pt") as handle:
        assert handle.metadata()["step"] == "2"
        assert all(torch.isfinite(handle.get_tensor(k)).all() for k in handle.keys())
    assert (out / "adapted.safetensors").is_file() and not (out / "unlearned.safetensors").exists()
    assert _temp_files(out) == []
    _documented("the last good checkpoint (step N) is kept in")


# --------------------------------------------------------------------------- the output location
def test_output_folder_that_is_not_empty(world, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    check_one_error(_invoke("run", "--ckpt", world.ckpt, "--neg", world.neg, "--out", out, *FAST),
                    1, "is not empty; choose another --out or pass --overwrite")
    assert _snapshot(out) == {"keep.txt"}
    _documented("is not empty; choose another --out or pass --overwrite")


@pytest.mark.parametrize("out", [None, "a/b/c"])
def test_failed_run_leaves_no_folders_above_its_output(world, tmp_path, monkeypatch, out):
    """The default runs/run-TIME (or a nested --out) goes again with the folders it created."""
    monkeypatch.chdir(tmp_path)
    args = ["--out", out] if out else []
    check_one_error(_invoke("run", "--ckpt", world.root / "absent.pt", "--neg", world.neg, *args, *FAST),
                    1, "checkpoint not found")
    check_one_error(_invoke("train", "--data", world.root / "neg-empty", "--gan", "dcgan", *args,
                            "--quiet", "--device", "cpu"), 1, "no images in image folder")
    assert list(tmp_path.iterdir()) == []


def test_read_only_output_folder(world, tmp_path):
    parent = tmp_path / "locked"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        probe = parent / "probe"
        try:
            probe.mkdir()
        except OSError:
            pass
        else:
            probe.rmdir()
            pytest.skip("permissions do not stop this user (root): the read-only case is "
                        "covered by the simulated disk errors below")
        result = _invoke("run", "--ckpt", world.ckpt, "--neg", world.neg, "--out", parent / "out", *FAST)
        check_one_error(result, 1, "cannot write to output folder")
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o700)


@pytest.mark.parametrize("target, error, kept", [
    ("config.yaml", errno.EROFS, set()),                  # read-only disk: the very first write
    ("samples.safetensors", errno.ENOSPC, set()),
    ("adapted.safetensors", errno.ENOSPC, set()),
    ("unlearned.safetensors", errno.ENOSPC, {"adapted.safetensors"}),  # a finished stage is kept
    ("metrics.json", errno.ENOSPC, {"adapted.safetensors", "unlearned.safetensors"}),
])
def test_disk_full_or_read_only_while_writing(world, tmp_path, monkeypatch, target, error, kept):
    real_replace = os.replace

    def failing_replace(src, dst):
        if Path(dst).name == target:
            raise OSError(error, os.strerror(error))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", failing_replace)
    out = tmp_path / "out"
    result = _invoke("run", "--ckpt", world.ckpt, "--neg", world.neg, "--out", out, *FAST)
    check_one_error(result, 1, f"could not write {out / target}: {os.strerror(error)}")
    assert _temp_files(tmp_path) == []
    if target in ("config.yaml", "samples.safetensors"):  # nothing worth keeping yet
        assert not out.exists()
    else:  # the samples and finished stages stay for --resume (issue 19, item 3)
        models = {p.name for p in out.glob("*.safetensors")} - {"samples.safetensors"}
        assert models == kept and (out / "samples.safetensors").is_file()
    _documented("could not write")


def test_write_probe_failure_is_one_line(world, tmp_path, monkeypatch):
    """A disk that refuses even the first small file (open fails) is named before any work."""
    import pathlib

    real = pathlib.Path.write_bytes

    def refuse(self, data):
        if self.name == ".write-test":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(pathlib.Path, "write_bytes", refuse)
    out = tmp_path / "out"
    result = _invoke("run", "--ckpt", world.ckpt, "--neg", world.neg, "--out", out, *FAST)
    check_one_error(result, 1, "cannot write to output folder")
    assert not out.exists()
    _documented("cannot write to output folder")


# --------------------------------------------------------------------------- real processes
@pytest.mark.parametrize("args, code, fragment", [
    (lambda w, o: ["run", "--ckpt", w.hostile__pkl, "--neg", w.neg, "--out", o, *FAST], 1,
     "refused: the pickle references"),
    (lambda w, o: ["run", "--ckpt", w.truncated__safetensors, "--neg", w.neg, "--out", o, *FAST], 1,
     "not a valid .safetensors file"),
    (lambda w, o: ["run", "--config", w.root / "bad-syntax.yaml", "--out", o], 1, "is not valid YAML"),
    (lambda w, o: ["run", "--batch", "many", "--out", o], 2, "Invalid value for '--batch'"),
])
def test_as_a_real_process(world, tmp_path, args, code, fragment):
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "unlearn_cli", *map(str, args(world, out))],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == code, result.stderr
    assert result.stderr.count("error:") == 1 and result.stderr.strip().startswith("error:"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not out.exists() and not world.marker.exists()


@pytest.mark.parametrize("command", ["run", "train"])
def test_bf16_refused_on_a_cpu_without_bf16(world, tmp_path, monkeypatch, command):
    from unlearn_cli.engine import devices

    monkeypatch.setattr(devices, "_cpu_has_bf16", lambda: False)
    out = tmp_path / "out"
    args = (["run", "--ckpt", world.ckpt, "--neg", world.neg, *FAST] if command == "run"
            else ["train", "--data", world.neg, "--gan", "dcgan", "--iters", "2", "--device", "cpu"])
    fragment = "this CPU has no bfloat16 instructions (AVX512-BF16 or AMX)"
    check_one_error(_invoke(*args, "--out", out, "--precision", "bf16"), 1, fragment)
    assert not out.exists()
    _documented(fragment)


# --------------------------------------------------------------------------- checks at the seams
class _Unbounded(torch.nn.Module):
    """A DCGAN generator without an output bound: its images are 100x too large."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.z_dim, self.img_resolution, self.img_channels = inner.z_dim, inner.img_resolution, inner.img_channels

    def forward(self, z, truncation_psi=1.0, noise_mode="const"):
        return self.inner(z, truncation_psi=truncation_psi, noise_mode=noise_mode) * 100


class _Logits(_Flat):
    """A classifier whose probs are logits: rows do not sum to 1."""

    def probs(self, images):
        return torch.full((len(images), 2), 3.0)


def _seam_source(make):
    def collect(context):
        from unlearn_cli.api import SampleSets

        return SampleSets(make(context), context.generate(8, 0))
    return collect


@pytest.fixture
def seam_fakes(monkeypatch, world):
    """Plugins that break the contract where the core receives their output (distribution
    'seam-fakes 9.9')."""
    from unlearn_cli.api import SampleSets

    dcgan = plugins.get_registry().load("gan", "dcgan")

    class UnboundedGan:
        name = "unbounded"
        default_config, validate_config = dcgan.default_config, dcgan.validate_config
        can_import, import_checkpoint = dcgan.can_import, dcgan.import_checkpoint

        @staticmethod
        def build(config):
            G, D = dcgan.build(config)
            return _Unbounded(G), D

    def raising(context):
        return SampleSets(context.generate(4, 0)[None], None)  # 5-D: a bug in the source

    @hookimpl
    def register_sources():
        return [ComponentSpec("rgb", "3 channels for a grey GAN", "seam_fakes:rgb"),
                ComponentSpec("pixels", "0..255 values", "seam_fakes:pixels"),
                ComponentSpec("crashes", "raises TypeError", "seam_fakes:crashes"),
                ComponentSpec("not-sets", "returns a tuple", "seam_fakes:not_sets")]

    @hookimpl
    def register_repulsions():
        return [ComponentSpec("grows", "d itself: grows with distance", "seam_fakes:grows"),
                ComponentSpec("vector", "a vector, not a scalar", "seam_fakes:vector")]

    @hookimpl
    def register_classifiers():
        return [ComponentSpec("logits", "probs that are logits", "seam_fakes:load_logits")]

    @hookimpl
    def register_gans():
        return [ComponentSpec("unbounded", "no output bound", "seam_fakes:UNBOUNDED")]

    module = types.ModuleType("seam_fakes")
    module.register_sources, module.register_repulsions = register_sources, register_repulsions
    module.register_classifiers, module.register_gans = register_classifiers, register_gans
    module.rgb = _seam_source(lambda c: c.generate(4, 1).expand(-1, 3, -1, -1))
    module.pixels = _seam_source(lambda c: (c.generate(4, 1) + 1) * 127.5)
    module.crashes = lambda context: None + 1
    module.not_sets = lambda context: (context.generate(4, 1), context.generate(4, 2))
    module.grows = lambda **_options: (lambda d: d * 1.0)
    module.vector = lambda **_options: (lambda d: d.expand(3))
    module.load_logits = lambda path, device: _Logits()
    module.UNBOUNDED = UnboundedGan()
    monkeypatch.setitem(sys.modules, "seam_fakes", module)

    class Dist:
        name, version = "seam-fakes", "9.9"

    class EntryPoint:
        name, value, dist = "seam-fakes", "seam_fakes", Dist()

        def load(self):
            return module

    real = plugins._entry_points()
    monkeypatch.setattr(plugins, "_entry_points", lambda: [*real, EntryPoint()])
    G, D = UnboundedGan.build(dcgan.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}))
    path = world.root / "unbounded.safetensors"
    save_model(path, {"G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict()},
               gan="unbounded", config=dcgan.validate_config({"resolution": 8, "z_dim": 8, "channels": 8}),
               stage="pretrained")
    return path


@pytest.mark.parametrize("args, fragment", [
    (["--source", "rgb"], "source 'rgb' (seam-fakes 9.9) returned negatives shaped [4, 3, 8, 8]; "
                          "the GAN makes [N, 1, 8, 8] images"),
    (["--source", "pixels"], "source 'pixels' (seam-fakes 9.9) returned negatives with values in ["),
    (["--source", "crashes"], "source 'crashes' (seam-fakes 9.9) failed in collect(context) (TypeError: "),
    (["--source", "not-sets"], "source 'not-sets' (seam-fakes 9.9) returned tuple; collect(context) "
                               "must return unlearn_cli.api.SampleSets"),
    (["--repulsion", "grows"], "repulsion 'grows' (seam-fakes 9.9) grows with distance"),
    (["--repulsion", "vector"], "repulsion 'vector' (seam-fakes 9.9) returned [3] from loss(d); it "
                                "must return a scalar tensor"),
    (["--source", "classifier", "--classifier", "logits", "--target", "a"],
     "classifier 'logits' (seam-fakes 9.9) returned probabilities whose rows do not sum to 1"),
    (["--ckpt", "UNBOUNDED"], "gan 'unbounded' (seam-fakes 9.9) returned images from G(z) with "
                              "values in ["),
])
def test_a_plugin_breaking_its_contract_is_named_in_one_line(world, tmp_path, seam_fakes, args, fragment):
    out = tmp_path / "out"
    args = [seam_fakes if a == "UNBOUNDED" else a for a in args]
    neg = [] if "--source" in args else ["--neg", world.neg]
    ckpt = [] if "--ckpt" in args else ["--ckpt", world.ckpt]
    line = check_one_error(_invoke("run", *ckpt, *neg, *args, "--out", out, *FAST), 1, fragment)
    assert "internal error" not in line and "fix the plugin or report it to its authors" in line
    assert not out.exists()
    _documented(fragment.split(" (seam-fakes 9.9) ")[1].split("[")[0].split(";")[0])


# --------------------------------------------------------------------------- export (issue 17)
@pytest.fixture(scope="module")
def export_world(tmp_path_factory) -> Path:
    """Small StyleGAN2 model files: a plain one, and one with conv_clamp (rosinality has none)."""
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN as SG2

    root = tmp_path_factory.mktemp("export")
    for name, extra in (("sg2", {}), ("sg2-clamp", {"conv_clamp": 256})):
        cfg = SG2.validate_config(small_config(resolution=8, **extra))
        torch.manual_seed(0)
        G, D = SG2.build(cfg)
        save_model(root / f"{name}.safetensors", {"G": G.state_dict(), "G_ema": G.state_dict(),
                                                  "D": D.state_dict()},
                   gan="stylegan2", config=cfg, stage="unlearned")
    return root


def _export(model, out, *options):
    return lambda w, e, o: ["export", model(w, e), out(o), *options]


_SG2 = lambda w, e: e / "sg2.safetensors"  # noqa: E731
EXPORT_CASES = [
    ("no-exporter", _export(lambda w, e: w.ckpt, lambda o: o / "x.pt", "--format", "rosinality"),
     "gan plugin has no exporter", 1),
    ("unknown-format", _export(_SG2, lambda o: o / "x.pt", "--format", "onnx"),
     "unknown export format 'onnx'; the 'stylegan2' plugin writes: ", 1),
    ("names-with-a-torch-format", _export(_SG2, lambda o: o / "x.pt", "--format", "rosinality",
                                          "--names", "nvidia"),
     "--names is for --format safetensors", 1),
    ("unknown-names", _export(_SG2, lambda o: o / "x.safetensors", "--format", "safetensors",
                              "--names", "keras"), "--names keras: the 'stylegan2' plugin writes", 1),
    ("auto-for-our-file", _export(_SG2, lambda o: o / "x.pt", "--format", "auto"),
     "export format 'auto' means a foreign input's own format", 1),
    ("inexpressible-config", _export(lambda w, e: e / "sg2-clamp.safetensors", lambda o: o / "x.pt",
                                     "--format", "rosinality"),
     "cannot export to rosinality: rosinality's networks have no conv_clamp", 1),
    ("out-is-the-input", _export(_SG2, lambda o: None, "--format", "safetensors", "--overwrite"),
     "is the input model itself; choose another output file", 1),
    ("out-exists", _export(_SG2, lambda o: None, "--format", "safetensors"),
     "exists; pass --overwrite to replace it", 1),
    ("out-is-a-folder", _export(_SG2, lambda o: o, "--format", "rosinality"),
     "is a folder; pass the name of the file to write", 1),
    ("out-pkl", _export(_SG2, lambda o: o / "x.pkl", "--format", "nvidia-state-dict"),
     "writes a torch.save dict of tensors, not a network pickle; name it .pt", 1),
    ("out-safetensors-for-torch", _export(_SG2, lambda o: o / "x.safetensors", "--format",
                                          "rosinality"),
     "writes a torch.save file, not safetensors; name it .pt", 1),
    ("out-pt-for-safetensors", _export(_SG2, lambda o: o / "x.pt", "--format", "safetensors"),
     "--format safetensors writes a .safetensors file; name it so", 1),
    ("no-format", _export(_SG2, lambda o: o / "x.pt"), "Missing option '--format'", 2),
]


@pytest.mark.parametrize("case", EXPORT_CASES, ids=[c[0] for c in EXPORT_CASES])
def test_export_refusals(world, export_world, tmp_path, case):
    name, argv, fragment, code = case
    out_dir = tmp_path / "o"
    out_dir.mkdir()
    args = argv(world, export_world, out_dir)
    if args[2] is None:  # the output is an existing file: the input itself, or the other model
        args[2] = args[1] if name == "out-is-the-input" else export_world / "sg2-clamp.safetensors"
    before = (_snapshot(world.root), _snapshot(export_world),
              (export_world / "sg2-clamp.safetensors").read_bytes())
    check_one_error(_invoke(*args), code, fragment)
    assert (_snapshot(world.root), _snapshot(export_world),
            (export_world / "sg2-clamp.safetensors").read_bytes()) == before
    assert list(out_dir.iterdir()) == [] and _temp_files(tmp_path) == []
    _documented(fragment)


# --------------------------------------------------------------------------- manual source picks (issue 16)
def _picks_file(w, name: str, **changes) -> Path:
    """A picks file for the world's model (seed 0) with ``changes``; text when given ``text``."""
    import json

    from unlearn_cli.io.atomic import sha256_file

    path = w.root / f"picks-{name}.json"
    data = {"format": "gan-unlearn-picks", "version": 1, "model": str(w.ckpt),
            "model_sha256": sha256_file(w.ckpt), "resolution": 8, "channels": 1, "seed": 0,
            "shown": 32, "picked": [3, 7]}
    data.update(changes)
    text = data.pop("text", None)
    path.write_text(text if text is not None else json.dumps(data))
    return path


def _manual(*extra):
    return lambda w, out: ["run", "--ckpt", w.ckpt, "--source", "manual", "--out", out, *FAST,
                           *[e(w) if callable(e) else e for e in extra]]


PICK_CASES = [
    ("no-way-to-ask", _manual(), "the manual source needs picks: look at"),
    ("ui-unknown", _manual("--ui", "web", "--pick", "1"), "source 'manual' (gan-unlearn 0.1.0): option 'ui' must be 'auto', 'browser' or 'terminal' (got 'web')"),
    ("pick-file-not-json", _manual("--pick-file", lambda w: _picks_file(w, "a", text="{oops")),
     "is not valid JSON"),
    ("pick-file-other-json", _manual("--pick-file", lambda w: _picks_file(w, "b", text='{"a": 1}')),
     "is JSON but not a gan-unlearn picks file"),
    ("pick-file-outside", _manual("--pick-file", lambda w: _picks_file(w, "c", picked=[33])),
     "was picked but only 1-"),
    ("pick-file-other-seed", _manual("--pick-file", lambda w: _picks_file(w, "d", seed=2)),
     "the same numbers are other samples; pass --seed 2"),
    ("pick-file-other-model", _manual("--pick-file", lambda w: _picks_file(w, "e", model="faces.pkl",
                                                                           model_sha256="ab" * 32)),
     "holds picks for another model: they were made on 'faces.pkl'"),
    ("pick-file-none-picked", _manual("--pick-file", lambda w: _picks_file(w, "f", picked=[])),
     "no sample is picked; pick some with"),
    ("pick-file-all-picked", _manual("--pick-file", lambda w: _picks_file(w, "g", shown=2, picked=[1, 2])),
     "samples were picked; leave at least one unpicked"),
]


@pytest.mark.parametrize("case", PICK_CASES, ids=[c[0] for c in PICK_CASES])
def test_manual_source_refusals(world, tmp_path, case):
    name, argv, fragment = case
    out = tmp_path / "out"
    args = argv(world, out)
    before = _snapshot(world.root)
    check_one_error(_invoke(*args), 1, fragment)
    assert _snapshot(world.root) == before
    if name == "no-way-to-ask":  # the folder stays: its numbered grid is what to pick from
        assert (out / "manual_grid.png").is_file()
    else:  # refused before anything was written
        assert not out.exists()
    _documented(fragment)


@pytest.mark.parametrize("args, fragment", [
    (lambda w: ["--out", w.root / "notes.txt"], "exists and is not a picks file; choose another path"),
    (lambda w: ["--out", w.root / "p.json", "--port", "70000"], "--port must be 0-65535"),
])
def test_pick_command_refusals(world, args, fragment):
    notes = world.root / "notes.txt"
    notes.write_text("my notes\n")
    check_one_error(_invoke("pick", world.ckpt, "--device", "cpu", *args(world)), 1, fragment)
    assert notes.read_text() == "my notes\n" and not (world.root / "p.json").exists()
    _documented(fragment)


@pytest.mark.parametrize("mode, model, export, fragment", [
    ("run", lambda w, e: w.ckpt, "rosinality", "gan plugin has no exporter"),
    ("run", lambda w, e: e / "sg2.safetensors", "auto",
     "export format 'auto' means a foreign input's own format"),
    ("run", lambda w, e: e / "sg2-clamp.safetensors", "rosinality",
     "cannot export to rosinality: rosinality's networks have no conv_clamp"),
    ("adapt", lambda w, e: e / "sg2.safetensors", "rosinality", "--export is for run and unlearn"),
], ids=["no-exporter", "auto-for-our-file", "inexpressible", "adapt"])
def test_run_export_refused_before_any_work(world, export_world, tmp_path, mode, model, export,
                                            fragment):
    out = tmp_path / "out"
    result = _invoke(mode, "--ckpt", model(world, export_world), "--neg", world.neg, "--out", out,
                     "--export", export, *FAST)
    check_one_error(result, 1, fragment)
    assert "negatives:" not in result.output  # refused before collecting samples or training
    assert not out.exists()
    _documented(fragment)
