"""A deterministic safetensors writer.

The safetensors library writes its header from a hash map, so the same tensors and metadata give
different bytes (and a different sha256) from run to run. Model hashes are how runs are compared
and how files name their parents, so we write the (simple, documented) format ourselves: an
8-byte little-endian header length, a JSON header with sorted keys padded with spaces to a
multiple of 8 bytes, then the raw little-endian tensor data in name order. Reading stays with
the safetensors library.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path

import torch

_DTYPES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def write_safetensors(path: str | Path, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str] | None = None) -> None:
    """Write ``tensors`` to ``path``, one tensor's bytes at a time.

    The header is built from shapes alone and each tensor is written straight from its memory
    (no copy of the whole file is ever held: a 1024 px model with Adam states is GBs).
    """
    header: dict = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name in sorted(tensors):
        tensor = tensors[name]
        if tensor.dtype not in _DTYPES:
            raise ValueError(f"cannot store {name} of dtype {tensor.dtype} in safetensors")
        size = tensor.numel() * tensor.element_size()
        header[name] = {"dtype": _DTYPES[tensor.dtype], "shape": list(tensor.shape),
                        "data_offsets": [offset, offset + size]}
        offset += size
    text = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as handle:
        handle.write(struct.pack("<Q", len(text)))
        handle.write(text)
        for name in sorted(tensors):
            tensor = tensors[name].detach()
            if tensor.numel():
                # a contiguous CPU copy of this one tensor at most, viewed as bytes
                data = tensor.to("cpu").contiguous().reshape(-1).view(torch.uint8).numpy()
                handle.write(memoryview(data))
