"""Checks on what a model file asks for and holds, run by the load path (engine/models.py).

- Size (issue 19.5): a 600-byte file's config can ask for networks of hundreds of GB. Before
  anything is built, the gan plugin's optional ``estimate(config)`` gives the parameter count
  and the activation memory of one image; a model above ``GAN_UNLEARN_MAX_PARAMS`` parameters
  (default 2,000,000,000: 8 GB of float32 weights, 30 times the largest StyleGAN2), or one whose
  weights (three copies: G, the EMA copy, D, while loading) and one image's activations exceed
  the memory available now, is refused in one line. ``GAN_UNLEARN_MEMORY_CHECK=0`` turns the
  memory comparison off (the parameter limit stays: raise it with the variable).
- Finite weights (issue 19.7): a tensor holding NaN or infinity is named at load, instead of
  surfacing later as "lower the learning rate" or "the classifier flagged none".
"""
from __future__ import annotations

import os

from unlearn_cli.errors import UnlearnError

DEFAULT_MAX_PARAMS = 2_000_000_000
_COPIES = 3  # G, G_ema and D's share, as held while a file loads (each parameter 4 bytes)


def max_params() -> int:
    value = os.environ.get("GAN_UNLEARN_MAX_PARAMS")
    if value is None or value.strip() == "":
        return DEFAULT_MAX_PARAMS
    try:
        limit = int(float(value))
        if limit < 1 or limit != float(value):
            raise ValueError
    except (ValueError, OverflowError):
        raise UnlearnError(f"GAN_UNLEARN_MAX_PARAMS must be a positive whole number of "
                           f"parameters, got {value!r}") from None
    return limit


def _gb(nbytes: float) -> str:
    return f"{nbytes / 1e9:.1f} GB"


def check_model_size(plugin, name: str, config: dict, where,
                     hint: str = "the file is damaged or not what it claims") -> None:
    """Refuse a config whose networks exceed the parameter limit or the available memory
    (see the module docstring); plugins without ``estimate`` are not checked. ``hint`` says
    what a too-large config means where it came from."""
    estimate = getattr(plugin, "estimate", None)
    if estimate is None:
        return
    try:
        sizes = estimate(config)
        params = int(sizes["parameters"])
        per_image = int(sizes.get("activation_bytes_per_image", 0))
    except UnlearnError:
        raise
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise UnlearnError(f"{where}: the '{name}' plugin's estimate failed ({type(exc).__name__}: "
                           f"{detail}); fix the plugin or report it to its authors") from exc
    limit = max_params()
    if params > limit:
        raise UnlearnError(f"{where}: its config asks for networks of {params:,} parameters "
                           f"({_gb(4 * params)} of weights), above the limit of {limit:,}; "
                           f"{hint} (raise "
                           f"GAN_UNLEARN_MAX_PARAMS if you really mean it)")
    if os.environ.get("GAN_UNLEARN_MEMORY_CHECK", "1") == "0":
        return
    from unlearn_cli.engine.memory import available_bytes

    import torch

    available = available_bytes(torch.device("cpu"))  # files load on the CPU first
    need = _COPIES * 4 * params + per_image
    if available is not None and need > available:
        raise UnlearnError(f"{where}: loading it needs about {_gb(need)} (networks of "
                           f"{params:,} parameters) but {_gb(available)} of memory is available; "
                           f"free memory or use a smaller model (GAN_UNLEARN_MEMORY_CHECK=0 to "
                           f"try anyway)")


def check_finite(parts: dict[str, dict], where) -> None:
    """Refuse weights holding NaN or infinity, naming the first such tensor."""
    import torch

    for part, state in parts.items():
        for key, tensor in (state or {}).items():
            if (isinstance(tensor, torch.Tensor) and tensor.is_floating_point()
                    and not bool(torch.isfinite(tensor).all())):
                bad = int((~torch.isfinite(tensor)).sum())
                raise UnlearnError(f"{where}: tensor '{part}.{key}' holds {bad} NaN or infinite "
                                   f"value(s); the checkpoint is damaged or was saved after "
                                   f"training diverged: use an earlier or another checkpoint")
