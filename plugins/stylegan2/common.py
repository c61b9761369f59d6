"""Helpers shared by the importers: shape checks against an inferred config, mean-w estimation."""
from __future__ import annotations

import torch

from unlearn_cli.api import UnlearnError

from .config import validate_config

FIR_SUM1 = torch.tensor([1.0, 3.0, 3.0, 1.0])


def fir2d(gain: float) -> torch.Tensor:
    k = torch.outer(FIR_SUM1, FIR_SUM1)
    return k * (gain / k.sum())


def build_meta(config: dict):
    """G and D on the meta device: shapes without memory or random numbers."""
    from .discriminator import Discriminator
    from .generator import Generator
    with torch.device("meta"):
        return Generator(config), Discriminator(config)


def expected_shapes(config: dict) -> tuple[dict, dict]:
    g, d = build_meta(config)
    return ({k: tuple(v.shape) for k, v in g.state_dict().items()},
            {k: tuple(v.shape) for k, v in d.state_dict().items()})


def check_state(state: dict, shapes: dict, what: str, source: str) -> dict:
    """Raise UnlearnError unless ``state`` has exactly the keys and shapes in ``shapes``."""
    missing = [k for k in shapes if k not in state]
    if missing:
        raise UnlearnError(f"{source}: {what} lacks tensor '{missing[0]}' (and {len(missing) - 1} "
                           f"more) that the architecture inferred from the file needs; the file "
                           f"is incomplete or not a StyleGAN2 checkpoint")
    extra = [k for k in state if k not in shapes]
    if extra:
        raise UnlearnError(f"{source}: {what} has unexpected tensor '{extra[0]}'; the file is "
                           f"not a plain StyleGAN2 checkpoint of a supported layout")
    for k, shape in shapes.items():
        got = tuple(state[k].shape)
        if got != shape:
            raise UnlearnError(f"{source}: {what} tensor '{k}' has shape {list(got)} but the "
                               f"architecture inferred from the file needs {list(shape)}; the "
                               f"file is inconsistent (mixed models?) and cannot be loaded")
    return {k: state[k].detach().to(torch.float32).contiguous() for k in shapes}


def check_filter(t: torch.Tensor, gain: float, name: str, source: str) -> None:
    """Refuse resampling filters other than [1, 3, 3, 1] (ours is fixed)."""
    want = fir2d(gain)
    if tuple(t.shape) != (4, 4) or not torch.allclose(t.float(), want, atol=1e-6):
        raise UnlearnError(f"{source}: '{name}' is not the [1, 3, 3, 1] resampling filter; "
                           f"models with other filters are not supported")


def estimate_w_avg(config: dict, g_state: dict, n: int = 10000, seed: int = 0) -> torch.Tensor:
    """Mean of the mapping network's output over n latents (only the mapping is built)."""
    from .generator import MappingNetwork
    cfg = validate_config(config)
    m = MappingNetwork(cfg["z_dim"], cfg["w_dim"], cfg["mapping_layers"], cfg["mapping_lr_mul"])
    m.load_state_dict({k[len("mapping."):]: v for k, v in g_state.items()
                       if k.startswith("mapping.")})
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(cfg["w_dim"], dtype=torch.float64)
    with torch.no_grad():
        for start in range(0, n, 2000):
            z = torch.randn(min(2000, n - start), cfg["z_dim"], generator=gen)
            total += m(z).double().sum(0)
    return (total / n).float()


def channel_base_max(channels: dict[str, int]) -> tuple[int, int]:
    """channel_base / channel_max that reproduce ``channels`` if any simple pair does."""
    from .config import widths
    res = max(int(r) for r in channels)
    cmax = max(channels.values())
    for r, c in channels.items():
        base = c * int(r)
        if widths(base, cmax, res) == channels:
            return base, cmax
    return 32768, 512
