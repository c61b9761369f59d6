"""NVIDIA stylegan2-ada-pytorch / stylegan3 (``--cfg=stylegan2``) ``.pkl``: safe import.

The pickle is read by :class:`SafeUnpickler`, whose ``find_class`` resolves exactly the globals
such files reference (docs/formats.md) to safe stand-ins and refuses every other global before
anything is called. ``torch_utils.persistence`` objects become :class:`PersistentRecord` (their
embedded source is dropped, never executed); each storage is a nested legacy ``torch.save`` blob
read with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import codecs
import collections
import io
import pickle
import re
import warnings
from pathlib import Path

import torch

from unlearn_cli.api import UnlearnError

MAX_STORAGE_BYTES = 1 << 34


class PersistentRecord:
    """What ``_reconstruct_persistent_obj(meta)`` becomes: a class name and the module's state."""

    def __init__(self, class_name: str, state: dict | None, version=None):
        self.class_name, self.state, self.version = class_name, state or {}, version

    def __setstate__(self, state):  # a BUILD after the reduce: keep it as data
        if isinstance(state, dict):
            self.state.update(state)

    def __repr__(self) -> str:
        return f"PersistentRecord({self.class_name!r})"

    @property
    def modules(self) -> dict:
        modules = self.state.get("_modules")
        return modules if isinstance(modules, dict) else {}

    def attr(self, name, default=None):
        return self.state.get(name, default)


class EasyDict(dict):
    """Stand-in for dnnlib.util.EasyDict: a plain dict."""


def _reconstruct_persistent_obj(meta):
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("persistent object of an unsupported kind")
    if not isinstance(meta.get("state"), (dict, type(None))):
        raise pickle.UnpicklingError("persistent object whose state is not a mapping")
    return PersistentRecord(str(meta.get("class_name")), meta.get("state"), meta.get("version"))


def _load_from_bytes(data):
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_STORAGE_BYTES:
        raise pickle.UnpicklingError("storage blob of an unexpected type")
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's text advises weights_only=False: never relay that
        raise RefusedBlob(refused_name(str(exc))) from None


def refused_name(text: str) -> str:
    """The global torch's safe loader refused, from its message ("" if it names none)."""
    import re

    found = re.search(r"GLOBAL ([\w.]+)", text)
    return found.group(1) if found else ""


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    if not isinstance(storage, torch.TypedStorage):
        raise pickle.UnpicklingError("tensor without a storage")
    t = torch.empty((0,), dtype=storage.dtype)
    return t.set_(storage._untyped_storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    if not isinstance(data, torch.Tensor):
        raise pickle.UnpicklingError("parameter without tensor data")
    return data


def _numpy_scalar(dtype, data=None):
    import numpy as np
    if not isinstance(dtype, np.dtype) or dtype.hasobject or not isinstance(data, bytes):
        raise pickle.UnpicklingError("numpy scalar of an unsupported kind")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


def _numpy_dtype(*args):
    import numpy as np
    return np.dtype(*args)


def _encode(text, encoding="latin1"):
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("unexpected _codecs.encode call")
    return codecs.encode(text, "latin1")


ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): _load_from_bytes,
    ("numpy.core.multiarray", "scalar"): _numpy_scalar,
    ("numpy._core.multiarray", "scalar"): _numpy_scalar,
    ("numpy", "dtype"): _numpy_dtype,
    ("builtins", "set"): set,
    ("__builtin__", "set"): set,
    ("_codecs", "encode"): _encode,
}


class RefusedGlobal(pickle.UnpicklingError):
    def __init__(self, module: str, name: str):
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class RefusedBlob(pickle.UnpicklingError):
    """A tensor storage blob whose own pickle holds something else (a nested payload)."""

    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


class SafeUnpickler(pickle.Unpickler):
    """Resolves only the globals in ALLOWED; anything else raises before it can be called."""

    def find_class(self, module, name):
        try:
            return ALLOWED[(module, name)]
        except (KeyError, TypeError):
            raise RefusedGlobal(str(module), str(name)) from None

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


# Known NVIDIA network families that are not StyleGAN2, by what their pickles hold as plain
# strings: layer names (StyleGAN3's ``synthesis.L{i}_{size}_{channels}`` and ``input``), class
# names, and words of the embedded source (``module_src``). Checked by reading the pickle's
# opcodes only (pickletools): nothing is resolved or called.
_FAMILIES = (
    ("StyleGAN3 (alias-free)", re.compile(r"^L\d+_\d+_\d+$|class SynthesisInput\b|"
                                          r"filtered_lrelu|use_radial_filters")),
    ("EG3D (3D-aware, tri-plane)", re.compile(r"TriPlaneGenerator|class ImportanceRenderer\b")),
)
_SCAN_OPS = 2_000_000  # opcodes read at most (network pickles put their tensors in few, big ones)


def recognise_family(path: str | Path) -> str | None:
    """The NVIDIA family a network pickle belongs to when it is not StyleGAN2, else None."""
    import pickletools

    try:
        with open(path, "rb") as f:
            for i, (op, arg, _) in enumerate(pickletools.genops(f)):
                if i > _SCAN_OPS:
                    break
                if isinstance(arg, str) and op.name in ("SHORT_BINUNICODE", "BINUNICODE",
                                                        "UNICODE", "BINUNICODE8", "STRING",
                                                        "SHORT_BINSTRING", "BINSTRING"):
                    for family, marker in _FAMILIES:
                        if marker.search(arg):
                            return family
    except Exception:  # a damaged or truncated stream: nothing more to recognise
        return None
    return None


def _not_stylegan2(path, family: str) -> UnlearnError:
    return UnlearnError(
        f"{path}: this is a {family} network pickle, not StyleGAN2: a different architecture "
        f"that gan-unlearn does not import (nothing from it was run); use a StyleGAN2 .pkl "
        f"(stylegan2-ada-pytorch, or the stylegan3 repository trained with --cfg=stylegan2) or "
        f"a rosinality .pt")


def load_pickle(path: str | Path):
    """Unpickle an NVIDIA network pickle without executing anything from it."""
    try:
        with open(path, "rb") as f, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's notes on odd nested blobs: no stray lines
            return SafeUnpickler(f).load()
    except RefusedGlobal as exc:
        # a known other family (StyleGAN3 layers store numpy arrays, so the allow-list refuses
        # them first) is named for what it is, not for the global that tripped the check
        family = recognise_family(path)
        if family:
            raise _not_stylegan2(path, family) from None
        raise UnlearnError(
            f"{path}: refused: the pickle references '{exc}', which is not on the allow-list of "
            f"StyleGAN2 checkpoint contents (nothing from it was run); use a genuine NVIDIA "
            f"StyleGAN2 .pkl or a rosinality .pt") from None
    except RefusedBlob as exc:
        what = f"references '{exc.name}'" if exc.name else "holds more than tensor data"
        raise UnlearnError(
            f"{path}: refused: a tensor storage inside the pickle {what}, which is not tensor "
            f"data (nothing from it was run); use a genuine NVIDIA StyleGAN2 .pkl or a "
            f"rosinality .pt") from None
    except UnlearnError:
        raise
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if "weights_only" in msg:  # torch's advice to load unsafely is never passed on
            msg = "torch's safe loader refused part of it"
        if isinstance(exc, MemoryError):  # a damaged length field asks for more than there is
            msg = "it declares an entry larger than memory: the file is damaged"
        raise UnlearnError(f"{path}: not a readable network pickle ({msg}); use a StyleGAN2 "
                           f".pkl from stylegan2-ada-pytorch or stylegan3") from None


def flatten(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """A persistent record tree -> state dict (parameters and persistent buffers)."""
    out: dict[str, torch.Tensor] = {}
    st = record.state
    for key in ("_parameters", "_buffers"):
        if not isinstance(st.get(key) or {}, dict):
            raise UnlearnError(f"'{prefix}{key}' of a network record is not a mapping")
    for name, t in (st.get("_parameters") or {}).items():
        if isinstance(t, torch.Tensor):
            out[prefix + name] = t
    skip = st.get("_non_persistent_buffers_set") or set()
    if not isinstance(skip, (set, frozenset)):
        skip = set()
    for name, t in (st.get("_buffers") or {}).items():
        if isinstance(t, torch.Tensor) and name not in skip:
            out[prefix + name] = t
    for name, sub in record.modules.items():
        if isinstance(sub, PersistentRecord):
            out.update(flatten(sub, f"{prefix}{name}."))
        elif sub is not None:
            raise UnlearnError(f"sub-module '{prefix}{name}' is not a network record")
    return out


def find(record: PersistentRecord, dotted: str) -> PersistentRecord | None:
    """The sub-record at a dotted path, or None."""
    for part in dotted.split("."):
        if not isinstance(record, PersistentRecord):
            return None
        record = record.modules.get(part)
    return record if isinstance(record, PersistentRecord) else None
