"""glibc allocator settings for training on CPU (nothing here changes results).

``tune_cpu_allocator()``: glibc hands allocations of 32 MiB and more (one 512-channel 32x32
activation at batch 16 is exactly that) to fresh ``mmap`` regions, so every such temporary
costs tens of thousands of page faults -- often more than the arithmetic of the elementwise op
that asked for it. Keeping freed memory in the heap (no mmap, no trimming) removes that cost:
about 5-8% of a training step at the paper's MNIST configuration on a 2-core machine
(docs/performance.md). The price is that the process keeps its peak heap until it exits, which
suits a training run. `run`, `adapt`, `unlearn` and `train` call it once when they train on the
CPU (GAN_UNLEARN_TUNE_MALLOC=0 turns it off); it is a no-op where glibc's ``mallopt`` is
unavailable.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_MAX = -1, -2, -4


def tune_cpu_allocator() -> bool:
    """Keep large CPU tensors' memory in the heap for reuse; True if glibc accepted it."""
    if os.environ.get("GAN_UNLEARN_TUNE_MALLOC", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(M_MMAP_MAX, 0) == 1
    ok = mallopt(M_TRIM_THRESHOLD, 2 ** 31 - 1) == 1 and ok
    ok = mallopt(M_TOP_PAD, 256 << 20) == 1 and ok
    return ok


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``).

    With the tuning above the heap keeps its peak, so a stage's freed copies and optimiser states
    would stay resident into the next stage (the report after unlearning measured 1 GB above the
    unlearning peak at 64 px). Called between stages: one call, milliseconds, no effect on results.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return trim(0) == 1
