"""rosinality/stylegan2-pytorch checkpoints (``.pt``): safe import and export of state dicts.

Read with ``torch.load(weights_only=True)`` (``argparse.Namespace`` allowed for ``args``);
nothing in the file is executed. Name mapping in docs/formats.md.
"""
from __future__ import annotations

import argparse
import re
import warnings
from pathlib import Path

import torch

from unlearn_cli.api import ImportedCheckpoint, UnlearnError

from .common import channel_base_max, check_filter, check_state, estimate_w_avg, \
    expected_shapes, fir2d
from .config import resolutions, validate_config

ROSINALITY_WIDTHS = {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32,
                     1024: 16}   # times channel_multiplier from 64 px up


def load_torch_file(path: str | Path):
    """``torch.load`` that executes nothing: tensors, containers and argparse.Namespace only."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch warns about odd pickle protocols: no stray lines
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError for non-torch files, ...
        text = str(exc)
        refused = re.search(r"GLOBAL ([\w.]+)", text) if "weights_only" in text.lower() else None
        if refused:
            raise UnlearnError(f"{path}: refused: the file references '{refused.group(1)}'; only "
                               f"tensors and plain containers are read safely (nothing from it "
                               f"was run)") from None
        if "weights_only" in text.lower():  # torch's advice to load unsafely is never passed on
            raise UnlearnError(f"{path}: refused: the file holds something other than tensors and "
                               f"plain containers (nothing from it was run)") from None
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise UnlearnError(f"{path}: not a PyTorch checkpoint that can be read ({first[:200]}); "
                           f"the file is damaged, truncated or of another kind") from None


def _state_dict(value, what: str, source: str) -> dict | None:
    """A rosinality part: absent, or a mapping of names to tensors."""
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in value.items()):
        raise UnlearnError(f"{source}: '{what}' is not a state dict of tensors; not a rosinality "
                           f"StyleGAN2 checkpoint")
    return value


def _gen_map(config: dict) -> list[tuple[str, str, str]]:
    """(rosinality name, our name, kind) for every generator tensor."""
    res = resolutions(config["resolution"])
    out = [("input.input", "synthesis.const", "const")]
    for i in range(config["mapping_layers"]):
        for p in ("weight", "bias"):
            out.append((f"style.{i + 1}.{p}", f"mapping.fc{i}.{p}", "plain"))

    def conv(src, dst, noise_i):
        out.extend([(f"{src}.conv.weight", f"{dst}.weight", "conv5d"),
                    (f"{src}.conv.modulation.weight", f"{dst}.affine.weight", "plain"),
                    (f"{src}.conv.modulation.bias", f"{dst}.affine.bias", "plain"),
                    (f"{src}.noise.weight", f"{dst}.noise_strength", "scalar"),
                    (f"{src}.activate.bias", f"{dst}.bias", "plain"),
                    (f"noises.noise_{noise_i}", f"{dst}.noise_const", "noise")])

    def torgb(src, dst):
        out.extend([(f"{src}.conv.weight", f"{dst}.weight", "conv5d"),
                    (f"{src}.conv.modulation.weight", f"{dst}.affine.weight", "plain"),
                    (f"{src}.conv.modulation.bias", f"{dst}.affine.bias", "plain"),
                    (f"{src}.bias", f"{dst}.bias", "rgbbias")])

    conv("conv1", "synthesis.b4.conv1", 0)
    torgb("to_rgb1", "synthesis.b4.torgb")
    for k, r in enumerate(res[1:]):
        conv(f"convs.{2 * k}", f"synthesis.b{r}.conv0", 2 * k + 1)
        conv(f"convs.{2 * k + 1}", f"synthesis.b{r}.conv1", 2 * k + 2)
        torgb(f"to_rgbs.{k}", f"synthesis.b{r}.torgb")
    return out


def _gen_filters(config: dict) -> list[str]:
    res = resolutions(config["resolution"])
    return ([f"convs.{2 * k}.conv.blur.kernel" for k in range(len(res) - 1)]
            + [f"to_rgbs.{k}.upsample.kernel" for k in range(len(res) - 1)])


def _disc_map(config: dict) -> list[tuple[str, str, str]]:
    big = config["resolution"]
    out = [("convs.0.0.weight", f"b{big}.fromrgb.weight", "plain"),
           ("convs.0.1.bias", f"b{big}.fromrgb.bias", "plain")]
    for k, r in enumerate([r for r in reversed(resolutions(big)) if r > 4]):
        s, d = f"convs.{k + 1}", f"b{r}"
        out += [(f"{s}.conv1.0.weight", f"{d}.conv0.weight", "plain"),
                (f"{s}.conv1.1.bias", f"{d}.conv0.bias", "plain"),
                (f"{s}.conv2.1.weight", f"{d}.conv1.weight", "plain"),
                (f"{s}.conv2.2.bias", f"{d}.conv1.bias", "plain"),
                (f"{s}.skip.1.weight", f"{d}.skip.weight", "plain")]
    out += [("final_conv.0.weight", "b4.conv.weight", "plain"),
            ("final_conv.1.bias", "b4.conv.bias", "plain")]
    for i, name in ((0, "fc"), (1, "out")):
        out += [(f"final_linear.{i}.weight", f"b4.{name}.weight", "plain"),
                (f"final_linear.{i}.bias", f"b4.{name}.bias", "plain")]
    return out


def _disc_filters(config: dict) -> list[str]:
    n = len(resolutions(config["resolution"])) - 1
    return [f"convs.{k + 1}.{m}.0.kernel" for k in range(n) for m in ("conv2", "skip")]


def _to_ours(t: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "const" or kind == "conv5d":
        return t.squeeze(0) if t.ndim and t.shape[0] == 1 else t
    if kind == "scalar":
        return t.reshape([]) if t.numel() == 1 else t
    if kind == "noise":
        return t.reshape(t.shape[-2:]) if t.ndim == 4 else t
    if kind == "rgbbias":
        return t.reshape(-1) if t.ndim == 4 else t
    return t


def _to_rosinality(t: torch.Tensor, kind: str) -> torch.Tensor:
    if kind in ("const", "conv5d"):
        return t.unsqueeze(0)
    if kind == "scalar":
        return t.reshape(1)
    if kind == "noise":
        return t.reshape(1, 1, *t.shape)
    if kind == "rgbbias":
        return t.reshape(1, -1, 1, 1)
    return t


def _remap(state: dict, table, what: str, source: str) -> dict:
    known = {src for src, _, _ in table}
    out = {}
    for src, dst, kind in table:
        if src not in state:
            raise UnlearnError(f"{source}: {what} lacks '{src}'; the file is incomplete or "
                               f"not a rosinality StyleGAN2 checkpoint")
        out[dst] = _to_ours(state[src], kind)
    return out, [k for k in state if k not in known]


def infer_config(g: dict, d: dict | None = None, args=None) -> dict:
    """Our architecture config from rosinality state-dict shapes (widths never assumed)."""
    n_rgbs = len({m.group(1) for k in g if (m := re.match(r"to_rgbs\.(\d+)\.", k))})
    res = 2 ** (n_rgbs + 2)
    n_mlp = len([k for k in g if re.fullmatch(r"style\.\d+\.weight", k)])
    if "style.1.weight" not in g or "input.input" not in g or "to_rgb1.conv.weight" not in g:
        raise UnlearnError("not a rosinality StyleGAN2 generator: 'style.1.weight', "
                           "'input.input' or 'to_rgb1.conv.weight' is missing")
    w_dim, z_dim = g["style.1.weight"].shape
    channels = {"4": int(g["input.input"].shape[1])}
    for k, r in enumerate(resolutions(res)[1:]):
        key = f"convs.{2 * k}.conv.weight"
        if key not in g:
            raise UnlearnError(f"not a rosinality StyleGAN2 generator: '{key}' is missing")
        channels[str(r)] = int(g[key].shape[1])
    base, cmax = channel_base_max(channels)
    cfg = {"resolution": res, "img_channels": int(g["to_rgb1.conv.weight"].shape[1]),
           "z_dim": int(z_dim), "w_dim": int(w_dim), "mapping_layers": n_mlp,
           "mapping_lr_mul": float(getattr(args, "lr_mlp", 0.01) or 0.01),
           "channel_base": base, "channel_max": cmax, "channels": channels,
           "conv_clamp": None, "mbstd_group_size": 4, "mbstd_channels": 1}
    if d is not None and "convs.0.0.weight" in d and "final_conv.0.weight" in d:
        dch = {str(res): int(d["convs.0.0.weight"].shape[0])}
        for k, r in enumerate(reversed(resolutions(res)[:-1])):
            key = f"convs.{k + 1}.conv2.1.weight"
            if key in d:
                dch[str(r)] = int(d[key].shape[0])
        cfg["d_channels"] = dch
        cfg["mbstd_channels"] = int(d["final_conv.0.weight"].shape[1]) - dch.get("4", 0)
    try:
        return validate_config(cfg)
    except UnlearnError as exc:
        raise UnlearnError(f"not a usable rosinality StyleGAN2 checkpoint: {exc}") from None


def generator_from_rosinality(g: dict, config: dict, source: str = "checkpoint",
                              w_avg: torch.Tensor | None = None) -> dict:
    """rosinality generator state dict -> ours (w_avg from the argument, else zeros)."""
    out = _remap_checked(g, _gen_map(config), _gen_filters(config), 4.0, "generator",
                         "StyleGAN2 checkpoint of the supported layout", source)
    out["w_avg"] = w_avg.reshape(-1) if w_avg is not None else torch.zeros(config["w_dim"])
    return check_state(out, expected_shapes(config)[0], "generator", source)


def _remap_checked(state: dict, mapping, filter_keys, filter_sum: float, what: str,
                   layout: str, source: str) -> dict:
    """Rename a rosinality state dict; only its fixed blur filters may be left over (checked)."""
    out, extra = _remap(state, mapping, what, source)
    filters = set(filter_keys)
    bad = [k for k in extra if k not in filters]
    if bad:
        raise UnlearnError(f"{source}: {what} has unexpected tensor '{bad[0]}'; not a {layout}")
    for k in filters:
        if k in state:
            check_filter(state[k], filter_sum, k, source)
    return out


def discriminator_from_rosinality(d: dict, config: dict, source: str = "checkpoint") -> dict:
    out = _remap_checked(d, _disc_map(config), _disc_filters(config), 1.0, "discriminator",
                         "StyleGAN2 discriminator of the supported (residual) layout", source)
    return check_state(out, expected_shapes(config)[1], "discriminator", source)


def generator_to_rosinality(state: dict, config: dict) -> dict:
    """Our generator state dict -> rosinality's names and shapes (blur kernels included)."""
    cfg = validate_config(config)
    out = {src: _to_rosinality(state[dst], kind) for src, dst, kind in _gen_map(cfg)}
    for k in _gen_filters(cfg):
        out[k] = fir2d(4.0)
    return out


def discriminator_to_rosinality(state: dict, config: dict) -> dict:
    cfg = validate_config(config)
    out = {src: state[dst] for src, dst, _ in _disc_map(cfg)}
    for k in _disc_filters(cfg):
        out[k] = fir2d(1.0)
    return out


def channel_multiplier(widths: dict, resolution: int) -> int | None:
    """rosinality's ``channel_multiplier`` whose width table gives ``widths``, or None; below
    64 px every multiplier gives the same table, and their default (2) is named."""
    for m in (2, 1, 4):
        table = {str(r): (w * m if r >= 64 else w) for r, w in ROSINALITY_WIDTHS.items()
                 if r <= resolution}
        if table == widths:
            return m
    return None


def to_rosinality_checkpoint(config: dict, generator: dict, generator_ema: dict | None = None,
                             discriminator: dict | None = None) -> dict:
    """A dict ``torch.save`` can write and rosinality's code can read: g, g_ema, d,
    latent_avg (from G_ema's w_avg) and args. Their code itself supports 3-channel images,
    no conv_clamp, a group size of 4 and its own width table only; names map regardless."""
    cfg = validate_config(config)
    ema = generator_ema if generator_ema is not None else generator
    mult = channel_multiplier(cfg["channels"], cfg["resolution"])
    out = {"g": generator_to_rosinality(generator, cfg),
           "g_ema": generator_to_rosinality(ema, cfg),
           "latent_avg": ema["w_avg"].clone(),
           "args": argparse.Namespace(size=cfg["resolution"], latent=cfg["w_dim"],
                                      n_mlp=cfg["mapping_layers"], channel_multiplier=mult,
                                      arch="stylegan2")}
    if discriminator is not None:
        out["d"] = discriminator_to_rosinality(discriminator, cfg)
    return out


def import_rosinality(ckpt: dict, source: str) -> ImportedCheckpoint:
    """A loaded rosinality checkpoint dict -> ImportedCheckpoint (all checks included)."""
    if not isinstance(ckpt, dict) or not ("g_ema" in ckpt or "g" in ckpt):
        raise UnlearnError(f"{source}: not a rosinality StyleGAN2 checkpoint (no 'g' or 'g_ema'); "
                           f"use a .pt written by rosinality/stylegan2-pytorch or an NVIDIA .pkl")
    args = ckpt.get("args")
    arch = getattr(args, "arch", "stylegan2")
    if arch != "stylegan2":
        raise UnlearnError(f"{source}: rosinality architecture '{arch}' is not supported; "
                           f"only arch=stylegan2 checkpoints can be imported")
    g_raw, ema_raw, d_raw = (_state_dict(ckpt.get(k), k, source) for k in ("g", "g_ema", "d"))
    if g_raw is None and ema_raw is None:
        raise UnlearnError(f"{source}: neither 'g' nor 'g_ema' holds a generator; not a usable "
                           f"rosinality StyleGAN2 checkpoint")
    if ckpt.get("latent_avg") is not None and not isinstance(ckpt["latent_avg"], torch.Tensor):
        raise UnlearnError(f"{source}: 'latent_avg' is not a tensor; not a rosinality StyleGAN2 "
                           f"checkpoint")
    try:
        config = infer_config(ema_raw if ema_raw is not None else g_raw, d_raw, args)
    except UnlearnError as exc:
        raise UnlearnError(f"{source}: {exc}") from None
    warnings = []
    latent_avg = ckpt.get("latent_avg")
    ema = None
    if ema_raw is not None:
        ema = generator_from_rosinality(ema_raw, config, source, latent_avg)
        if latent_avg is None:
            ema["w_avg"] = estimate_w_avg(config, ema)
            warnings.append("no mean w (latent_avg) in file: estimated from 10000 latents (seed 0)")
    if g_raw is not None:
        # rosinality keeps one mean w (of g_ema); G shares it, or gets its own estimate
        gen = generator_from_rosinality(g_raw, config, source, latent_avg)
        if latent_avg is None:
            gen["w_avg"] = estimate_w_avg(config, gen)
    else:
        gen = dict(ema)
        warnings.append("file holds only the EMA generator (g_ema): it is used as G as well")
    disc = None
    if d_raw is not None:
        disc = discriminator_from_rosinality(d_raw, config, source)
    else:
        warnings.append("no discriminator in file: the method needs one; a freshly initialised "
                        "discriminator will be warmed up on generated samples (docs/formats.md)")
    return ImportedCheckpoint(config=config, generator=gen, generator_ema=ema, discriminator=disc,
                              source_format="rosinality-pt", warnings=warnings)
