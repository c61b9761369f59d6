"""Each method takes the core's Job and leaves an unlearned model in it (job.save_unlearned)."""
from __future__ import annotations

import copy


def adapt_then_unlearn(job) -> None:
    """Stage 1 on the negatives, then stage 2 on the positives repelled from the adapted models."""
    adapted = job.adapt_models()
    out = job.unlearn(adapted)
    job.save_unlearned(out.G_ema, out.G, out.D)


def finetune(job) -> None:
    """Fine-tune on the positives alone: what the repulsion is measured against."""
    out = job.unlearn([], use_repulsion=False)
    job.save_unlearned(out.G_ema, out.G, out.D)


def extrapolation(job) -> None:
    """Move away from the adapted model in parameter space, no training: theta_G + g (theta_N - theta_G)."""
    import torch

    adapted = job.adapt_models()
    g = -job.config.method_options["extrapolation_strength"]  # checked and filled by the core
    G = copy.deepcopy(job.bundle.G_ema)
    with torch.no_grad():
        base = dict(job.bundle.G_ema.named_parameters())
        targets = [dict(A.named_parameters()) for A in adapted]
        for name, p in G.named_parameters():
            theta_n = torch.stack([t[name] for t in targets]).mean(0)
            p.copy_(base[name] + g * (theta_n - base[name]))
    job.save_unlearned(G, G, job.D)
