"""`--compile auto|on|off`: torch.compile of G's and D's forward passes in the training loop.

The compiled modules share the eager modules' parameters and buffers (an optimiser step on one
is seen by the other); the loop runs everything that needs a double backward (lazy R1 on D, the
path-length regulariser on G) on the eager modules, which compiled graphs do not support.
Random ops in compiled graphs draw exactly as eager ones do (inductor's ``fallback_random``), so
a run's random streams, and with them ``--resume``, do not depend on the choice.

Compilation costs tens of seconds per stage on a small CPU (docs/performance.md: measured by
``benchmarks/speed.py --compare``), and inductor caches the generated kernels on disk, so a second
run of the same model compiles faster. ``auto`` compiles only where that was measured to make
the whole run faster: see ``AUTO_DEVICES``.
"""
from __future__ import annotations

import importlib.util
import os
import shutil

import torch
from torch import nn

from unlearn_cli.errors import UnlearnError

# Where `auto` compiles. CPU: on 2-core AMD EPYC the default model's compiled step is no faster
# than eager since D's batches are stacked (0.040 vs 0.037 s), and compiling costs ~67 s on a
# first run (docs/performance.md, "torch.compile"): pure loss. CUDA: not measured yet
# (benchmarks/gpu_check.sh runs the comparison); until it is, eager.
AUTO_DEVICES: frozenset[str] = frozenset()
MIN_STEPS = 200  # a stage shorter than this never pays its compilation back


def compile_problem(device: torch.device) -> str:
    """Why torch.compile cannot work here ("" when it can): inductor needs a C++ compiler on
    CPU and Triton on a GPU."""
    if device.type == "cpu":
        compiler = os.environ.get("CXX") or next(
            (c for c in ("g++", "c++", "clang++") if shutil.which(c)), None)
        if not compiler or not shutil.which(compiler.split()[0]):
            return "no C++ compiler found (torch.compile's CPU backend needs g++ or clang++)"
    elif device.type == "cuda" and importlib.util.find_spec("triton") is None:
        return "Triton is not installed (torch.compile's GPU backend needs it)"
    elif device.type not in ("cpu", "cuda"):
        return f"torch.compile is not supported here for device {device.type}"
    return ""


def wants_compile(mode: str, device: torch.device, steps: int) -> bool:
    """Whether a stage of ``steps`` steps compiles. ``on`` where it cannot is an error."""
    if mode == "off":
        return False
    problem = compile_problem(device)
    if mode == "on":
        if problem:
            raise UnlearnError(f"--compile on: {problem}; install it or use --compile off")
        return True
    return not problem and device.type in AUTO_DEVICES and steps >= MIN_STEPS


def attach(stage, mode: str) -> None:
    """Give ``stage`` (engine/loop.Stage) compiled forward passes of its G and D if ``mode``
    and the machine call for it."""
    device = stage.real_images.device
    if not wants_compile(mode, device, stage.steps):
        return
    import torch._inductor.config as inductor_config

    inductor_config.fallback_random = True  # same random numbers as eager (see the docstring)
    stage.G_compiled = _compiled(stage.G)
    stage.D_compiled = _compiled(stage.D)


def _compiled(module: nn.Module) -> nn.Module:
    # fixed shapes: the loop's batches never change size within a stage
    return torch.compile(module, dynamic=False)


def compile_seconds() -> float:
    """Seconds this process has spent compiling so far (dynamo + inductor), for the logs."""
    try:
        from torch._dynamo.utils import compilation_time_metrics
    except ImportError:  # a private API: if it moves, report nothing rather than fail a run
        return 0.0
    outer = compilation_time_metrics.get("_compile.compile_inner", [])
    return round(float(sum(outer)), 2)

