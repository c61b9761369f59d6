"""The two stages of Adapt-then-Unlearn as plain functions; method plugins compose them.

Stage 1, adapt: fine-tune a copy of (G, D) on the negatives with an EWC penalty
    lambda/2 * sum_i F_i (theta_i - theta_G,i)^2,   F normalised to mean 1 (engine/fisher.py).
Stage 2, unlearn: fine-tune theta (from theta_G) on the positives with gamma * repulsion(d),
    d = mean_k [ mean_i (theta_i - theta_N_k,i)^2 ] / d_0,
the mean squared parameter distance to the adapted models, averaged over them and divided by its
value d_0 at the start, so d = 1 when unlearning starts and gamma means the same on every model.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from unlearn_cli.config import RunConfig
from unlearn_cli.engine import compiling
from unlearn_cli.engine.fisher import diagonal_fisher
from unlearn_cli.engine.loop import LoopState, Stage, run_stage
from unlearn_cli.engine.models import GanBundle, clone, latents
from unlearn_cli.errors import UnlearnError


@dataclass
class StageOutput:
    G: nn.Module
    G_ema: nn.Module
    D: nn.Module
    state: LoopState


def _anchor(G: nn.Module, names: list[str] | None = None) -> list[tuple[nn.Parameter, torch.Tensor]]:
    return [(p, p.detach().clone()) for n, p in G.named_parameters() if names is None or n in names]


def ewc_penalty(G: nn.Module, fisher: dict[str, torch.Tensor], weight: float) -> Callable:
    """lambda/2 * sum_i F_i (theta_i - theta_G,i)^2 over the parameters the Fisher covers."""
    params = dict(G.named_parameters())
    terms = [(params[n], params[n].detach().clone(), f) for n, f in fisher.items()]

    def penalty() -> dict[str, torch.Tensor]:
        total = sum(((p - p0).square() * f).sum() for p, p0, f in terms)
        return {"ewc": (weight / 2) * total}

    return penalty


def squared_distance(params: list[torch.Tensor], targets: list[list[torch.Tensor]]) -> torch.Tensor:
    """Mean over adapted models of the mean squared difference over all parameters (reference)."""
    count = sum(p.numel() for p in params)
    per_model = [sum((p - t).square().sum() for p, t in zip(params, target)) for target in targets]
    return torch.stack(per_model).mean() / count


class _DistanceToCentre(torch.autograd.Function):
    """sum_i ||theta_i - c_i||^2 in two multi-tensor passes, with its gradient 2 (theta - c).

    Autograd over per-tensor (p - c).square().sum() builds three small ops per parameter tensor
    and as many again backwards; on a small model that was ~3% of a step (docs/performance.md).
    """

    @staticmethod
    def forward(ctx, centre: list[torch.Tensor], *params: torch.Tensor) -> torch.Tensor:
        diffs = torch._foreach_sub(list(params), centre)
        ctx.diffs = diffs
        return torch.stack(torch._foreach_norm(diffs)).square().sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grads = torch._foreach_mul(ctx.diffs, grad * 2)
        del ctx.diffs
        return (None, *grads)


def repulsion_penalty(G: nn.Module, adapted: list[nn.Module], loss_fn: Callable,
                      gamma: float) -> tuple[Callable, float]:
    """gamma * repulsion(d / d_0); the adapted parameters stay on the device, read once.

    The mean over K adapted models of ||theta - theta_k||^2 equals ||theta - mean_k theta_k||^2
    plus a constant (the spread of the theta_k around their mean), so each step pays for one
    distance whatever K is.
    """
    params = list(G.parameters())
    count = sum(p.numel() for p in params)
    with torch.no_grad():
        targets = [[p.detach() for p in A.parameters()] for A in adapted]
        centre = [torch.stack(ts).mean(0) for ts in zip(*targets)]
        spread = float(squared_distance(centre, targets)) if len(targets) > 1 else 0.0
        d0 = float(squared_distance(params, targets))
    if d0 <= 0:
        raise UnlearnError("the adapted model is identical to the pre-trained one, so there is "
                           "nothing to repel from; raise --adapt-iters or lower --ewc-lambda")

    def penalty() -> dict[str, torch.Tensor]:
        d = (_DistanceToCentre.apply(centre, *params) / count + spread) / d0
        return {"repulsion": gamma * loss_fn(d), "distance": d.detach()}

    return penalty, d0


def adapted_fakes(adapted: list[nn.Module], weight: float):
    """D also learns to call the adapted models' samples fake: they are what the feature looks
    like, which the positives alone teach D only slowly (the feature is merely absent there).

    With several adapted models each batch is split evenly between them: no random choice of a
    model, so nothing is read back from the device and a resumed run draws the same batches.
    """
    if not adapted or weight <= 0:
        return None

    @torch.no_grad()
    def make(batch: int, rng: torch.Generator) -> torch.Tensor:
        sizes = [batch // len(adapted) + (k < batch % len(adapted)) for k in range(len(adapted))]
        return torch.cat([A(torch.randn(n, A.z_dim, generator=rng, device=rng.device))
                          for A, n in zip(adapted, sizes) if n > 0])

    return weight, make


def adapt(bundle: GanBundle, D: nn.Module, negatives: torch.Tensor, config: RunConfig,
          seed: int, log_path: Path | None, show_progress: bool = True,
          resume_path: Path | None = None) -> StageOutput:
    """Stage 1: a copy of (G, D) fine-tuned on the negatives, held near theta_G by EWC."""
    torch.manual_seed(seed)
    G, G_ema, D = clone(bundle.G_ema), clone(bundle.G_ema, False), clone(D)
    z = latents(config.fisher_samples, G.z_dim, seed).to(negatives.device)
    names = getattr(bundle.plugin, "ewc_parameters", lambda G: None)(G)
    fisher = diagonal_fisher(G, D, z, names)
    D.requires_grad_(True)
    stage = Stage(f"adapt#{seed}", G, D, G_ema, negatives, config.adapt_iters, config.train,
                  seed, ewc_penalty(G, fisher, config.ewc_lambda), bundle.plugin, log_path,
                  resume_path, show_progress=show_progress, precision=config.precision)
    compiling.attach(stage, config.compile)
    return StageOutput(G, G_ema, D, run_stage(stage))


def unlearn(bundle: GanBundle, D: nn.Module, positives: torch.Tensor, adapted: list[nn.Module],
            loss_fn: Callable | None, config: RunConfig, log_path: Path | None,
            show_progress: bool = True, resume_path: Path | None = None) -> StageOutput:
    """Stage 2: theta_G fine-tuned on the positives, repelled from the adapted models.

    With no adapted models (or gamma 0) this is plain fine-tuning on the positives.
    """
    torch.manual_seed(config.seed)
    G, G_ema, D = clone(bundle.G_ema), clone(bundle.G_ema, False), clone(D)
    penalty = None
    if adapted and loss_fn is not None and config.gamma > 0:
        penalty, _ = repulsion_penalty(G, adapted, loss_fn, config.gamma)
    stage = Stage("unlearn", G, D, G_ema, positives, config.unlearn_iters, config.train,
                  config.seed + 1, penalty, bundle.plugin, log_path, resume_path,
                  show_progress=show_progress, precision=config.precision,
                  extra_fakes=adapted_fakes(adapted, config.adapted_fakes))
    compiling.attach(stage, config.compile)
    return StageOutput(G, G_ema, D, run_stage(stage))
