"""Which device a run uses, and whether the precision asked for makes sense on it."""
from __future__ import annotations

import torch

from unlearn_cli.errors import UnlearnError


def pick_device(choice: str) -> torch.device:
    if choice == "cuda" and not torch.cuda.is_available():
        raise UnlearnError("--device cuda was asked for but no CUDA GPU is available; "
                           "use --device cpu or auto")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)


def check_precision(precision: str, device: torch.device) -> None:
    """bf16 only where the hardware has it: emulated bf16 is far slower than fp32, not faster."""
    if precision != "bf16":
        return
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UnlearnError("--precision bf16: this GPU has no bfloat16 support; use --precision fp32")
    if device.type == "cpu" and not _cpu_has_bf16():
        raise UnlearnError("--precision bf16: this CPU has no bfloat16 instructions (AVX512-BF16 "
                           "or AMX), where bf16 runs about 80x slower than fp32 (docs/performance.md); "
                           "use --precision fp32, or bf16 on a GPU or a CPU that has them")


def prepare_training(device: torch.device, precision: str, compile_mode: str = "off") -> None:
    """Before a training run: the precision and ``--compile on`` must suit the device; on CPU,
    tune the allocator."""
    check_precision(precision, device)
    if compile_mode == "on":
        from unlearn_cli.engine.compiling import wants_compile
        wants_compile(compile_mode, device, 0)  # raises where torch.compile cannot work
    if device.type == "cpu":
        from unlearn_cli.engine.cpu_allocator import tune_cpu_allocator
        tune_cpu_allocator()


def _cpu_has_bf16() -> bool:
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a private helper: if it is gone, trust the user
        return True
