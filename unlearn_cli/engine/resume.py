"""Stage checkpoints that let an interrupted stage continue bit-identically.

One safetensors file per unfinished stage holds the three networks, both Adam optimisers, the
loop's step and history, and every random-number state the loop uses. Written atomically, so a
kill during the write leaves the previous checkpoint intact.

Besides each network's state dict it holds the buffers a state dict leaves out
(``persistent=False``, e.g. StyleGAN2's running path-length mean ``pl_mean``): the loop depends
on them, and a model file does not need them (model files keep their format).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import write_with


def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    state = opt.state_dict()
    for index, slots in state["state"].items():
        for key, value in slots.items():
            tensors[f"{prefix}.{index}.{key}"] = value.detach()  # written as is: no copy
    meta[prefix] = {"param_groups": state["param_groups"],
                    "slots": {str(i): sorted(s) for i, s in state["state"].items()}}


def _restore_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    info = meta[prefix]
    state = {int(i): {k: tensors[f"{prefix}.{i}.{k}"] for k in keys} for i, keys in info["slots"].items()}
    opt.load_state_dict({"state": state, "param_groups": info["param_groups"]})


BUFFERS = "buffers."  # prefix of the buffers a state dict leaves out


def _unsaved_buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    saved = module.state_dict().keys()
    return {name: b for name, b in module.named_buffers() if name not in saved}


@torch.no_grad()
def _restore_buffers(module: torch.nn.Module, values: dict[str, torch.Tensor]) -> None:
    buffers = dict(module.named_buffers())
    for name, value in values.items():
        if name not in buffers:
            raise ValueError(f"buffer {name!r} is not in this model")
        buffers[name].copy_(value)


def truncate_log(path: Path, stage: str, step: int) -> None:
    """Drop the log lines of ``stage`` after ``step`` (the checkpoint a resumed stage continues
    from, 0 for a restart): a run killed after logging them would otherwise log them twice.
    A line cut short by the kill is dropped too."""
    from unlearn_cli.io.atomic import write_text

    if not path.is_file():
        return
    kept, changed = [], False
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True):
        try:
            record = json.loads(line)
            stale = record.get("stage") == stage and int(record.get("step", 0)) > step
        except (ValueError, TypeError, AttributeError):
            stale = True
        if stale or not line.endswith("\n"):
            changed = True
            continue
        kept.append(line)
    if changed:
        write_text(path, "".join(kept))


def save_checkpoint(path: Path, stage, state, g_opt, d_opt, rng: torch.Generator) -> None:
    from unlearn_cli.io.safetensors_writer import write_safetensors

    tensors: dict[str, torch.Tensor] = {}
    for part, module in (("G", stage.G), ("D", stage.D), ("G_ema", stage.G_ema)):
        for name, value in module.state_dict().items():
            # no copies: the writer streams each tensor from its own memory (a copy of
            # three networks and two Adam states is GBs at 256 px)
            tensors[f"{part}.{name}"] = value.detach()
        for name, value in _unsaved_buffers(module).items():
            tensors[f"{BUFFERS}{part}.{name}"] = value.detach()
    meta: dict = {}
    _flatten_optimizer("g_opt", g_opt, tensors, meta)
    _flatten_optimizer("d_opt", d_opt, tensors, meta)
    tensors["rng.loop"] = rng.get_state()
    tensors["rng.torch"] = torch.get_rng_state()
    metadata = {"stage": stage.name, "step": str(state.step), "history": json.dumps(state.history),
                "optimizers": json.dumps(meta)}
    write_with(path, lambda tmp: write_safetensors(tmp, tensors, metadata))


def load_checkpoint(path: Path, stage, state, g_opt, d_opt, rng: torch.Generator) -> None:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata()
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        if metadata.get("stage") != stage.name:
            raise ValueError(f"it belongs to stage {metadata.get('stage')!r}, not {stage.name!r}")
        for part, module in (("G", stage.G), ("D", stage.D), ("G_ema", stage.G_ema)):
            module.load_state_dict({k[len(part) + 1:]: v for k, v in tensors.items()
                                    if k.startswith(part + ".")})
            _restore_buffers(module, {k[len(BUFFERS) + len(part) + 1:]: v for k, v in tensors.items()
                                      if k.startswith(f"{BUFFERS}{part}.")})
        meta = json.loads(metadata["optimizers"])
        _restore_optimizer("g_opt", g_opt, tensors, meta)
        _restore_optimizer("d_opt", d_opt, tensors, meta)
        rng.set_state(tensors["rng.loop"])
        torch.set_rng_state(tensors["rng.torch"])
        state.step = int(metadata["step"])
        state.history = json.loads(metadata["history"])
    except UnlearnError:
        raise
    except Exception as exc:
        raise UnlearnError(f"cannot resume from {path} ({type(exc).__name__}: {exc}); delete it to "
                           f"restart that stage") from None
