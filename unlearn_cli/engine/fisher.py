"""The diagonal Fisher information of G, for the EWC penalty of stage 1.

F_i = mean over latents z of (d D(G(z)) / d theta_i)^2, from per-sample gradients computed in one
vectorised pass (torch.func.vmap over grad); a per-sample loop is the fallback for models whose
operations vmap cannot batch. The Fisher is normalised to mean 1 so that the EWC weight lambda is
scale-free: the same lambda means the same on a 16 px toy and on a 1024 px FFHQ model.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.func import functional_call, grad, vmap


def fisher_chunk(G: nn.Module, D: nn.Module, params: dict, most: int = 8) -> int:
    """Samples per vmap pass: each holds a full set of G's gradients and one image's graph."""
    from unlearn_cli.engine.memory import SAFETY, training_cost, workset_bytes

    device = z_device(G)
    per_sample = sum(p.numel() * p.element_size() for p in params.values())
    per_sample += training_cost(G, D, device).per_image
    return int(max(1, min(most, workset_bytes(device) / SAFETY // per_sample)))


def z_device(G: nn.Module) -> torch.device:
    first = next(iter(G.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def diagonal_fisher(G: nn.Module, D: nn.Module, z: torch.Tensor,
                    names: list[str] | None = None, chunk: int | None = None) -> dict[str, torch.Tensor]:
    """Per-parameter Fisher of D(G(z)) w.r.t. G's parameters ``names`` (all by default).

    ``chunk`` samples go through one vmap pass; by default as many as fit in the working set
    (at most 8), so a full-width 256 px model does not hold 8 sets of gradients at once.
    """
    params = {k: v.detach() for k, v in G.named_parameters() if names is None or k in names}
    buffers = {k: v.detach() for k, v in G.named_buffers()}
    D_frozen = D.requires_grad_(False)

    def score(p, z_one):
        img = functional_call(G, (p, buffers), (z_one[None],), {"noise_mode": "const"})
        return D_frozen(img).sum()

    total = {k: torch.zeros_like(v) for k, v in params.items()}
    if chunk is None:
        chunk = fisher_chunk(G, D, params)
    try:
        per_sample = vmap(grad(score), in_dims=(None, 0), randomness="different")
        for i in range(0, len(z), chunk):
            grads = per_sample(params, z[i:i + chunk])
            for k, g in grads.items():
                total[k] += g.square().sum(0)
    except (RuntimeError, NotImplementedError):  # ops vmap cannot batch: one sample at a time
        total = {k: torch.zeros_like(v) for k, v in params.items()}
        for z_one in z:
            grads = grad(score)(params, z_one)
            for k, g in grads.items():
                total[k] += g.square()
    fisher = {k: v / len(z) for k, v in total.items()}
    mean = torch.cat([v.flatten() for v in fisher.values()]).mean()
    if not torch.isfinite(mean) or mean <= 0:
        mean = torch.ones(())  # a D that ignores G entirely: fall back to a plain L2 anchor
        fisher = {k: torch.ones_like(v) for k, v in fisher.items()}
    return {k: v / mean for k, v in fisher.items()}
