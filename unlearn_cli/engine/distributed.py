"""Several processes (torchrun): one per GPU, or gloo processes on CPU.

Each rank draws its own batches; after every backward the gradients are averaged across ranks
(one flattened all-reduce per network), so every rank takes the same optimiser step and the
parameters stay identical. We average gradients ourselves rather than wrap the networks in
torch's DistributedDataParallel module: the loop calls D several times per step, needs a double
backward for R1 and freezes one network while training the other, three things that module does
not support. The communication is the same bucketed all-reduce DDP would do.
Only rank 0 writes into the run folder.
"""
from __future__ import annotations

import hashlib
import os

import torch
import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def init_from_env(device_choice: str) -> torch.device | None:
    """Join the process group torchrun describes in the environment; None when not under torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return None
    use_cuda = device_choice != "cpu" and torch.cuda.is_available()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    if use_cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def broadcast_module(module: torch.nn.Module) -> None:
    """Make every rank start from rank 0's parameters and buffers."""
    if world_size() == 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)


def sync_buffers(module: torch.nn.Module) -> None:
    """Rank 0's buffers everywhere (running statistics such as StyleGAN2's mean w would otherwise
    drift apart, since each rank sees different latents)."""
    if world_size() == 1:
        return
    for tensor in module.buffers():
        dist.broadcast(tensor.data, src=0)


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """All-reduce the gradients of ``params`` (flattened into one buffer) and divide by the world."""
    n = world_size()
    if n == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= n
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def parameter_digest(module: torch.nn.Module) -> str:
    """sha256 over all parameters and buffers (ranks compare these to prove they agree)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
