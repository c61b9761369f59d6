"""The ``stylegan2`` gan plugin object (contract: bottom of unlearn_cli/api.py).

Optional export: ``export_formats``, ``export_for_import`` and ``export`` (``export.py``).
Public functions the core may call besides the contract: :func:`to_rosinality_checkpoint`,
:func:`save_rosinality`, ``generator_to_rosinality`` / ``discriminator_to_rosinality``
(in ``rosinality``), :func:`sniff`. torch is imported only inside the functions that need it.
"""
from __future__ import annotations

import math
import zipfile
from pathlib import Path

from unlearn_cli.api import UnlearnError

from .config import default_config, estimate, validate_config

#: pickle prefix of a legacy (pre-1.6, non-zip) torch.save file: protocol 2 + the magic number
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"
STYLE_MIXING_PROB = 0.9
PL_WEIGHT, PL_INTERVAL, PL_DECAY, PL_BATCH_SHRINK = 2.0, 4, 0.01, 2


def sniff(path) -> str | None:
    """'torch' (zip or legacy torch.save), 'nvidia-pkl', or None; reads at most 1 MiB."""
    p = Path(path)
    try:
        with open(p, "rb") as f:
            head = f.read(1 << 20)
    except OSError:
        return None
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(p) as zf:
                pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
                data = zf.read(pkl[0]) if pkl else b""
        except Exception:  # BadZipFile, OSError, zlib.error, NotImplementedError, ...: not ours
            return None
        return "torch" if b"g_ema" in data or b"to_rgb1" in data or b"style.1" in data else None
    if head.startswith(LEGACY_TORCH_MAGIC):
        return "torch" if b"g_ema" in head or b"to_rgb1" in head else None
    if head[:1] == b"\x80" and b"_reconstruct_persistent_obj" in head:
        return "nvidia-pkl"
    if head[:1] == b"\x80" and b"dnnlib.tflib" in head:
        return "nvidia-tf"  # recognised only to refuse it with a useful message
    if head[:1] == b"\x80" and p.suffix == ".pkl":
        # any other .pkl pickle is ours to judge: the safe unpickler says exactly what it refuses
        return "nvidia-pkl"
    return None


class StyleGAN2Plugin:
    name = "stylegan2"
    formats = ("rosinality-pt", "nvidia-pkl")
    # optional export (docs/plugins/hooks.md); the tables live in export.py, which needs torch
    export_formats = {"nvidia-state-dict": "nvidia", "rosinality": "rosinality"}
    export_for_import = {"rosinality-pt": "rosinality", "nvidia-pkl": "nvidia-state-dict"}

    def default_config(self) -> dict:
        return default_config()

    def validate_config(self, config: dict) -> dict:
        return validate_config(config)

    def estimate(self, config: dict) -> dict:
        """Parameter count and activation bytes per image, without building (config.py)."""
        return estimate(config)

    def build(self, config: dict):
        from .discriminator import Discriminator
        from .generator import Generator
        cfg = validate_config(config)
        return Generator(cfg), Discriminator(cfg)

    def can_import(self, path) -> bool:
        return sniff(path) is not None

    def import_checkpoint(self, path):
        p = Path(path)
        if not p.is_file():
            raise UnlearnError(f"{path}: no such file")
        if p.stat().st_size == 0:
            raise UnlearnError(f"{path}: the file is empty (0 bytes); re-download or re-create it")
        try:
            return self._import(p, path)
        except UnlearnError:
            raise
        except Exception as exc:  # a damaged file can trip anything: still one clean error
            detail = " ".join(str(exc).split())[:200]
            raise UnlearnError(f"{path}: damaged, or not a StyleGAN2 checkpoint of a supported "
                               f"layout ({type(exc).__name__}: {detail})") from exc

    def _import(self, p: Path, path):
        kind = sniff(p)
        if kind == "nvidia-tf":
            raise UnlearnError(f"{path}: a TensorFlow StyleGAN/StyleGAN2 pickle (dnnlib.tflib), "
                               f"which cannot be read without TensorFlow; convert it first with "
                               f"stylegan2-ada-pytorch's legacy.py, then import the .pkl it writes")
        if kind == "torch":
            from .rosinality import import_rosinality, load_torch_file
            return import_rosinality(load_torch_file(p), str(path))
        if kind == "nvidia-pkl" or p.suffix == ".pkl":
            from .nvidia_map import import_nvidia
            from .nvidia_pkl import load_pickle
            return import_nvidia(load_pickle(p), str(path))
        if p.suffix in (".pt", ".pth", ".ckpt"):
            from .rosinality import import_rosinality, load_torch_file
            return import_rosinality(load_torch_file(p), str(path))
        raise UnlearnError(f"{path}: not a StyleGAN2 checkpoint this plugin reads; expected a "
                           f"rosinality .pt or an NVIDIA .pkl")

    def export(self, parts: dict, config: dict, naming: str):
        """Our state dicts ({"G", "G_ema", "D"}) -> ExportedModel under rosinality's or
        NVIDIA's names (export.py); what a naming cannot express is an UnlearnError."""
        from .export import export
        return export(parts, config, naming)

    # ---- optional training extras -------------------------------------------------------
    def generate_for_training(self, G, z):
        """Images for a training step: style mixing with probability 0.9, mean-w tracking."""
        return G(z, style_mixing_prob=STYLE_MIXING_PROB, update_w_avg=True)

    def discriminate_chunks(self, D, images, chunks: int):
        """D's logits for ``chunks`` stacked minibatches in one pass (each its own mbstd groups),
        so the loop shows D reals and fakes together: fewer, larger kernels (docs/performance.md)."""
        return D(images, chunks=chunks)

    def generator_regularizer(self, G, batch_size: int, step: int):
        """Lazy path-length regulariser: weight 2, every 4th step (scaled by 4), half batch.

        The running mean of path lengths lives in the buffer ``G.pl_mean`` (no host sync).
        """
        if step % PL_INTERVAL:
            return None
        import torch
        m = getattr(G, "module", G)
        n = max(batch_size // PL_BATCH_SHRINK, 1)
        z = torch.randn(n, m.z_dim, device=m.w_avg.device)
        img, ws = G(z, style_mixing_prob=STYLE_MIXING_PROB, return_ws=True)
        noise = torch.randn_like(img) / math.sqrt(img.shape[2] * img.shape[3])
        (grad,) = torch.autograd.grad((img * noise).sum(), ws, create_graph=True)
        lengths = grad.square().sum(2).mean(1).sqrt()
        pl_mean = m.pl_mean.lerp(lengths.mean().detach(), PL_DECAY)
        m.pl_mean.copy_(pl_mean)
        return (lengths - pl_mean).square().mean() * (PL_WEIGHT * PL_INTERVAL)


def to_rosinality_checkpoint(config, generator, generator_ema=None, discriminator=None) -> dict:
    """Our state dicts -> a rosinality checkpoint dict (g, g_ema, d, latent_avg, args)."""
    from .rosinality import to_rosinality_checkpoint as conv
    return conv(config, generator, generator_ema, discriminator)


def save_rosinality(path, config, generator, generator_ema=None, discriminator=None) -> None:
    """Write a rosinality-layout .pt (readable by their code and by this plugin)."""
    import torch
    torch.save(to_rosinality_checkpoint(config, generator, generator_ema, discriminator),
               str(path))


PLUGIN = StyleGAN2Plugin()
