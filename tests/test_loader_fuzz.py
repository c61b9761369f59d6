"""Property-based tests of every loader that reads files from strangers (issue 7, item 4).

Random bytes and mutations of valid files (flipped, overwritten, inserted and deleted bytes,
truncation) and structural mutations (valid containers holding the wrong things) are fed to

- our ``.safetensors`` reader (``read_raw_header``, ``read_header``, ``load_model_file``) and the
  core's ``load_gan`` on our files,
- the stylegan2 plugin's rosinality ``.pt`` and NVIDIA ``.pkl`` importers,
- the image-folder reader,

and each must either succeed or raise ``UnlearnError`` with a one-line message: never another
exception type, never a hang (every example is small), never code from the file run.

The examples are fixed (derandomized) so the suite is repeatable; ``FUZZ_EXAMPLES=2000`` runs that
many fresh random examples per test instead, for a longer hunt.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent / "stylegan2"))
from sg2_helpers import nvidia_pickle, randomise, small_config  # noqa: E402

from unlearn_cli.errors import UnlearnError  # noqa: E402
from unlearn_cli.io.images import read_image_folder  # noqa: E402
from unlearn_cli.io.modelfile import load_model_file, read_header, read_raw_header, save_model  # noqa: E402

FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", 120)), deadline=None,
                derandomize=not os.environ.get("FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


def _clean(call):
    """Run ``call``; only success or a one-line UnlearnError is allowed."""
    try:
        return call()
    except UnlearnError as exc:
        assert "\n" not in str(exc), str(exc)
        assert str(exc).strip(), "empty error message"
        return None


@st.composite
def mutations(draw, valid: bytes):
    """``valid`` with a few byte-level edits, then possibly truncated."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 6))):
        if not data:
            break
        kind = draw(st.sampled_from(["set", "flip", "insert", "delete", "splice"]))
        at = draw(st.integers(0, len(data) - 1))
        if kind == "set":
            data[at] = draw(st.integers(0, 255))
        elif kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        else:  # copy a chunk of the file elsewhere (keeps structure-like bytes)
            n = draw(st.integers(1, 32))
            to = draw(st.integers(0, len(data) - 1))
            data[to:to + n] = data[at:at + n]
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    return bytes(data)


def _bytes_of(valid: bytes):
    return st.one_of(st.binary(max_size=512), mutations(valid))


# --------------------------------------------------------------------------- .safetensors (ours)
def _model_bytes() -> bytes:
    buffer = Path(__file__).parent / ".fuzz-model.safetensors"
    try:
        save_model(buffer, {"G": {"w": torch.arange(6.0).reshape(2, 3)}, "G_ema": {"w": torch.ones(2, 3)},
                            "D": {"b": torch.zeros(3, dtype=torch.float16)}},
                   gan="dcgan", config={"resolution": 8}, stage="pretrained")
        return buffer.read_bytes()
    finally:
        buffer.unlink(missing_ok=True)


MODEL = _model_bytes()


def _with_header(header) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * 64


_json = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats()
                     | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
                     max_leaves=12)


@st.composite
def odd_headers(draw):
    """A header that parses as JSON but holds the wrong shapes of things."""
    header = json.loads(MODEL[8:8 + struct.unpack("<Q", MODEL[:8])[0]])
    key = draw(st.sampled_from(sorted(header)))
    if key == "__metadata__" and draw(st.booleans()):
        field = draw(st.sampled_from(sorted(header[key]) + ["config", "params"]))
        header[key][field] = draw(_json)
    elif draw(st.booleans()) and isinstance(header[key], dict):
        field = draw(st.sampled_from(["dtype", "shape", "data_offsets"]))
        header[key][field] = draw(_json)
    else:
        header[key] = draw(_json)
    return _with_header(header)


@FUZZ
@given(data=st.one_of(_bytes_of(MODEL), odd_headers(),
                      st.builds(lambda n: b"[" * n + b"]" * n, st.integers(100, 200_000)).map(
                          lambda j: struct.pack("<Q", len(j)) + j)))
def test_safetensors_reader_raises_only_our_error(tmp_path, data):
    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    _clean(lambda: read_raw_header(path))
    header = _clean(lambda: read_header(path))
    if header is not None:
        header.parameter_counts()
        _clean(lambda: load_model_file(path))


@settings(FUZZ, max_examples=60)
@given(data=st.one_of(mutations(MODEL), odd_headers()))
def test_load_gan_on_damaged_model_files(tmp_path, data):
    from unlearn_cli.engine.models import load_gan

    path = tmp_path / "m.safetensors"
    path.write_bytes(data)
    _clean(lambda: load_gan(str(path)))


# --------------------------------------------------------------------------- stylegan2 importers
def _sg2_models():
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

    cfg = PLUGIN.validate_config(small_config(resolution=8, img_channels=1, channel_base=32,
                                              channel_max=4, z_dim=4, w_dim=4))
    G, D = PLUGIN.build(cfg)
    return cfg, randomise(G).state_dict(), randomise(D, 1).state_dict()


@pytest.fixture(scope="module")
def rosinality_bytes(tmp_path_factory):
    from unlearn_cli_plugins.stylegan2.plugin import save_rosinality

    cfg, g, d = _sg2_models()
    path = tmp_path_factory.mktemp("rosi") / "m.pt"
    save_rosinality(path, cfg, g, g, d)
    zipped = path.read_bytes()
    from unlearn_cli_plugins.stylegan2.plugin import to_rosinality_checkpoint

    buffer = io.BytesIO()
    torch.save(to_rosinality_checkpoint(cfg, g, g, d), buffer, _use_new_zipfile_serialization=False)
    return zipped, buffer.getvalue()


@pytest.fixture(scope="module")
def nvidia_bytes():
    mp = pytest.MonkeyPatch()
    try:
        cfg, g, d = _sg2_models()
        return nvidia_pickle(mp, cfg, g, d)
    finally:
        mp.undo()


def _import(path):
    from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

    PLUGIN.can_import(path)  # must not raise either
    return PLUGIN.import_checkpoint(path)  # refused cleanly even where can_import said no


@FUZZ
@given(data=st.data(), suffix=st.sampled_from([".pt", ".pth"]))
def test_rosinality_importer_raises_only_our_error(tmp_path, rosinality_bytes, data, suffix):
    valid = data.draw(st.sampled_from(rosinality_bytes))
    path = tmp_path / f"m{suffix}"
    path.write_bytes(data.draw(_bytes_of(valid)))
    _clean(lambda: _import(path))


@st.composite
def odd_rosinality(draw, cfg, g, d):
    """A torch.save'd dict the weights-only loader accepts, with parts of the wrong kind."""
    from unlearn_cli_plugins.stylegan2.plugin import to_rosinality_checkpoint

    ckpt = to_rosinality_checkpoint(cfg, g, g, d)
    wrong = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=4),
                      st.builds(torch.zeros, st.lists(st.integers(0, 3), max_size=3).map(tuple)),
                      st.just({}), st.just([]))
    for _ in range(draw(st.integers(1, 3))):
        part = draw(st.sampled_from(["g", "g_ema", "d", "latent_avg", "args", "top"]))
        if part == "top":
            ckpt = draw(st.sampled_from([[], {"g_ema": None}, {"g": 1}, ckpt]))
        if not isinstance(ckpt, dict) or part == "top":
            continue
        if part in ("g", "g_ema", "d") and isinstance(ckpt.get(part), dict) and ckpt[part] \
                and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(ckpt[part])))
            if draw(st.booleans()):
                ckpt[part][key] = draw(wrong)
            else:
                del ckpt[part][key]
        else:
            ckpt[part] = draw(wrong)
    return ckpt


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_rosinality_importer_on_wrong_contents(tmp_path, data):
    cfg, g, d = _sg2_models()
    ckpt = data.draw(odd_rosinality(cfg, g, d))
    path = tmp_path / "m.pt"
    torch.save(ckpt, path)
    _clean(lambda: _import(path))


@FUZZ
@given(data=st.data())
def test_nvidia_importer_raises_only_our_error(tmp_path, nvidia_bytes, data):
    path = tmp_path / "m.pkl"
    path.write_bytes(data.draw(_bytes_of(nvidia_bytes)))
    _clean(lambda: _import(path))


@st.composite
def odd_pickles(draw, nvidia: bytes):
    """A pickle of allowed globals only, arranged the wrong way."""
    from unlearn_cli_plugins.stylegan2 import nvidia_pkl

    obj = nvidia_pkl.SafeUnpickler(io.BytesIO(nvidia)).load()
    wrong = st.one_of(st.none(), st.integers(-3, 3), st.text(max_size=4), st.just([]),
                      st.just({}), st.just(set()),
                      st.builds(torch.zeros, st.lists(st.integers(0, 3), max_size=3).map(tuple)))
    records = []

    def walk(rec):
        if isinstance(rec, nvidia_pkl.PersistentRecord):
            records.append(rec)
            for sub in rec.modules.values():
                walk(sub)

    for value in obj.values():
        walk(value)
    for _ in range(draw(st.integers(1, 4))):
        rec = draw(st.sampled_from(records))
        key = draw(st.sampled_from(sorted(rec.state)))
        inner = rec.state[key]
        if isinstance(inner, dict) and inner and draw(st.booleans()):
            sub = draw(st.sampled_from(sorted(inner)))
            if draw(st.booleans()):
                inner[sub] = draw(wrong)
            else:
                del inner[sub]
        else:
            rec.state[key] = draw(wrong)
    if draw(st.integers(0, 9)) == 0:
        obj = draw(st.sampled_from([[], {"G_ema": 3}, {"G": None}, records[0]]))
    return obj


def _pickle_records(obj) -> bytes:
    """Pickle PersistentRecord trees back with the globals real network pickles use."""
    from unlearn_cli_plugins.stylegan2 import nvidia_pkl

    class Pickler(pickle.Pickler):
        def reducer_override(self, o):
            if isinstance(o, nvidia_pkl.PersistentRecord):
                meta = {"type": "class", "version": 6, "class_name": o.class_name, "state": o.state}
                return (_reconstruct, (meta,))
            return NotImplemented

    buffer = io.BytesIO()
    Pickler(buffer, protocol=4).dump(obj)
    return buffer.getvalue()


def _reconstruct(meta):  # pickled under the name real files use (see the fixture below)
    raise AssertionError("never called")


_reconstruct.__module__, _reconstruct.__qualname__ = "torch_utils.persistence", "_reconstruct_persistent_obj"


@settings(FUZZ, max_examples=80)
@given(data=st.data())
def test_nvidia_importer_on_wrong_contents(tmp_path, nvidia_bytes, data, monkeypatch):
    import types

    persistence = types.ModuleType("torch_utils.persistence")
    persistence._reconstruct_persistent_obj = _reconstruct
    monkeypatch.setitem(sys.modules, "torch_utils", types.ModuleType("torch_utils"))
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", persistence)
    obj = data.draw(odd_pickles(nvidia_bytes))
    path = tmp_path / "m.pkl"
    path.write_bytes(_pickle_records(obj))
    _clean(lambda: _import(path))


# --------------------------------------------------------------------------- image folders
def _image(fmt: str, mode: str, size=(13, 9), **kw) -> bytes:
    rng = np.random.default_rng(0)
    arr = (rng.random((size[1], size[0], 3)) * 255).astype(np.uint8)
    img = Image.fromarray(arr).convert(mode)
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


IMAGES = [(".png", _image("PNG", "RGBA")), (".png", _image("PNG", "P")), (".jpg", _image("JPEG", "RGB")),
          (".jpg", _image("JPEG", "L", progressive=True)), (".bmp", _image("BMP", "RGB")),
          (".webp", _image("WEBP", "RGB")), (".png", _image("GIF", "P"))]


@FUZZ
@given(data=st.data(), resolution=st.sampled_from([4, 8]), channels=st.sampled_from([1, 3]))
def test_image_reader_raises_only_our_error(tmp_path, data, resolution, channels):
    for old in tmp_path.iterdir():
        old.unlink()
    suffix, valid = data.draw(st.sampled_from(IMAGES))
    (tmp_path / f"a{suffix}").write_bytes(data.draw(_bytes_of(valid)))
    if data.draw(st.booleans()):  # a good file beside it: the bad one must still be named
        (tmp_path / "b.png").write_bytes(IMAGES[0][1])
    x = _clean(lambda: read_image_folder(tmp_path, resolution, channels))
    if x is not None:
        assert x.shape[1:] == (channels, resolution, resolution) and torch.isfinite(x).all()
        assert x.min() >= -1 and x.max() <= 1


@settings(FUZZ, max_examples=40)
@given(width=st.integers(0, 2**31 - 1), height=st.integers(0, 2**31 - 1))
@example(width=10_000, height=10_000)  # past Pillow's warning size, short of its error size
@example(width=0, height=7)
def test_image_header_claiming_any_size(tmp_path, width, height):
    """A PNG whose header claims any size (a decompression bomb, or zero) is refused cleanly."""
    import zlib

    assume(width * height > 10**6 or width == 0 or height == 0)
    valid = IMAGES[0][1]
    ihdr = struct.pack(">II", width, height) + valid[24:29]
    chunk = b"IHDR" + ihdr
    data = valid[:8] + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + valid[33:]
    (tmp_path / "bomb.png").write_bytes(data)
    assert _clean(lambda: read_image_folder(tmp_path, 8, 3)) is None


def test_rosinality_sniffing_survives_every_damaged_zip_header_byte(tmp_path, rosinality_bytes):
    """Each byte of the zip's local header and central directory overwritten in turn."""
    zipped = rosinality_bytes[0]
    central = zipped.rfind(b"PK\x01\x02")
    path = tmp_path / "m.pt"
    for at in [*range(0, 40), *range(central, min(central + 46, len(zipped)))]:
        for value in (0x00, 0x63, 0xFF):
            data = bytearray(zipped)
            data[at] = value
            path.write_bytes(bytes(data))
            from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

            PLUGIN.can_import(path)  # True or False, never an exception
