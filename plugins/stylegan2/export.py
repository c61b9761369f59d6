"""Our StyleGAN2 state dicts -> the names other tools load: the reverse of the two importers.

The name tables are the importers' own (``rosinality._gen_map`` / ``_disc_map`` through
``generator_to_rosinality``; ``nvidia_map.G_OURS_TO_NVIDIA`` and ``resample_filter_names``), so
an export is read back bit-identically. What a target's file has no place for (rosinality and
conv_clamp, say) is refused in one line rather than written as a model that computes something
else. docs/formats.md ("Export") lists both layouts and how to load them; the formats the
plugin declares are in plugin.py (no torch there).
"""
from __future__ import annotations

from unlearn_cli.api import ExportedModel, UnlearnError

from .common import channel_base_max, check_state, expected_shapes, fir2d
from .config import validate_config, widths
from .nvidia_map import G_OURS_TO_NVIDIA, resample_filter_names
from .rosinality import channel_multiplier, discriminator_to_rosinality, generator_to_rosinality

ROSINALITY_LR_MUL = 0.01   # rosinality's lr_mlp default; their plain-tensor files do not store it
ROSINALITY_MBSTD = (4, 1)  # their D's fixed stddev group and features


def export(parts: dict, config: dict, naming: str) -> ExportedModel:
    cfg = validate_config(config)
    g_shapes, d_shapes = expected_shapes(cfg)
    checked = {}
    for part, state in parts.items():  # a wrong tensor fails here, not in the user's tool
        shapes = d_shapes if part == "D" else g_shapes
        checked[part] = check_state(state, shapes, part, "export")
    if naming == "rosinality":
        return _rosinality(checked, cfg)
    if naming == "nvidia":
        return _nvidia(checked, cfg)
    raise UnlearnError(f"the stylegan2 plugin has no naming '{naming}'; it writes nvidia "
                       f"and rosinality names")


# ---- rosinality/stylegan2-pytorch ----------------------------------------------------------
def _refuse_for_rosinality(cfg: dict, has_d: bool) -> None:
    if cfg["conv_clamp"] is not None:
        raise UnlearnError(
            f"rosinality's networks have no conv_clamp, and this model clamps activations at "
            f"{cfg['conv_clamp']:g} (NVIDIA's training setting): in their code it would make other "
            f"images; export with --format nvidia-state-dict (or safetensors --names nvidia)")
    if cfg["mapping_lr_mul"] != ROSINALITY_LR_MUL:
        raise UnlearnError(
            f"this model's mapping learning-rate multiplier is {cfg['mapping_lr_mul']:g}, and a "
            f"rosinality file of plain tensors has no field for it (their code assumes lr_mlp "
            f"{ROSINALITY_LR_MUL}); export with --format nvidia-state-dict, which records it")
    mbstd = (cfg["mbstd_group_size"], cfg["mbstd_channels"])
    if has_d and mbstd != ROSINALITY_MBSTD:
        raise UnlearnError(
            f"this model's discriminator uses a minibatch-stddev group of {mbstd[0]} with "
            f"{mbstd[1]} feature(s), rosinality's a fixed group of 4 with 1; export with "
            f"--format nvidia-state-dict, which records it")


def _rosinality_notes(cfg: dict, has_d: bool) -> list[str]:
    """Their stock constructors' arguments, or what those cannot build (the file still holds it)."""
    res, mult = cfg["resolution"], channel_multiplier(cfg["channels"], cfg["resolution"])
    d_mult = channel_multiplier(cfg["d_channels"], res)
    problems = []
    if cfg["img_channels"] != 3:
        problems.append(f"{cfg['img_channels']} image channel(s) (theirs: 3)")
    if cfg["z_dim"] != cfg["w_dim"]:
        problems.append(f"z_dim {cfg['z_dim']} != w_dim {cfg['w_dim']} (theirs: one style_dim)")
    if mult is None or (has_d and d_mult != mult):
        problems.append(f"widths {cfg['channels']} (not their width table for any "
                        f"channel_multiplier)")
    if problems:
        return ["rosinality's stock Generator cannot be built for this model: "
                + "; ".join(problems) + ". The file holds every tensor: load it into networks "
                "built with these sizes"]
    args = f"size={res}, style_dim={cfg['w_dim']}, n_mlp={cfg['mapping_layers']}, " \
           f"channel_multiplier={mult}"
    return [f"rosinality: Generator({args}) loads g_ema and g with strict=True"
            + (f", Discriminator(size={res}, channel_multiplier={mult}) loads d" if has_d else "")]


def _rosinality(parts: dict, cfg: dict) -> ExportedModel:
    _refuse_for_rosinality(cfg, "D" in parts)
    ema = parts.get("G_ema", parts.get("G"))
    # rosinality keeps one mean w (of g_ema); G's own w_avg is training state they do not store
    entries = {"g_ema": generator_to_rosinality(ema, cfg), "latent_avg": ema["w_avg"]}
    if "G" in parts:
        entries["g"] = generator_to_rosinality(parts["G"], cfg)
    if "D" in parts:
        entries["d"] = discriminator_to_rosinality(parts["D"], cfg)
    return ExportedModel(entries=_plain(entries), notes=_rosinality_notes(cfg, "D" in parts))


# ---- NVIDIA stylegan2-ada-pytorch / stylegan3 (StyleGAN2 networks) -------------------------
def _nvidia_kwargs(cfg: dict, has_d: bool) -> tuple[dict, list[str]]:
    """Constructor arguments of their Generator / Discriminator, and what those cannot express."""
    res, notes = cfg["resolution"], []
    g_base, g_max = channel_base_max(cfg["channels"])
    d_base, d_max = channel_base_max(cfg["d_channels"])
    if widths(g_base, g_max, res) != cfg["channels"] or (
            has_d and widths(d_base, d_max, res) != cfg["d_channels"]):
        notes.append("these widths do not follow NVIDIA's min(channel_base // r, channel_max): "
                     "their networks need a changed width rule to load this state dict")
    clamp = cfg["conv_clamp"]
    settings = {"G_kwargs": {
        "z_dim": cfg["z_dim"], "c_dim": 0, "w_dim": cfg["w_dim"], "img_resolution": res,
        "img_channels": cfg["img_channels"],
        "mapping_kwargs": {"num_layers": cfg["mapping_layers"],
                           "lr_multiplier": cfg["mapping_lr_mul"]},
        "synthesis_kwargs": {"channel_base": g_base, "channel_max": g_max,
                             "num_fp16_res": 0, "conv_clamp": clamp}}}
    # also without a D: their network pickle loader wants one, so the user builds a fresh one
    settings["D_kwargs"] = {
        "c_dim": 0, "img_resolution": res, "img_channels": cfg["img_channels"],
        "architecture": "resnet", "channel_base": d_base, "channel_max": d_max,
        "num_fp16_res": 0, "conv_clamp": clamp,
        "epilogue_kwargs": {"mbstd_group_size": cfg["mbstd_group_size"],
                            "mbstd_num_channels": cfg["mbstd_channels"]}}
    return settings, notes


def generator_to_nvidia(state: dict, config: dict) -> dict:
    """Our generator state dict -> NVIDIA's names, their resample filters included."""
    out = {G_OURS_TO_NVIDIA.get(k, k): v for k, v in state.items()}
    for name in resample_filter_names(config)[0]:
        out[name] = fir2d(1.0)
    return out


def discriminator_to_nvidia(state: dict, config: dict) -> dict:
    out = dict(state)  # our D names are NVIDIA's
    for name in resample_filter_names(config)[1]:
        out[name] = fir2d(1.0)
    return out


def _nvidia(parts: dict, cfg: dict) -> ExportedModel:
    entries = {}
    for part in ("G", "G_ema"):
        if part in parts:
            entries[part] = generator_to_nvidia(parts[part], cfg)
    if "D" in parts:
        entries["D"] = discriminator_to_nvidia(parts["D"], cfg)
    settings, notes = _nvidia_kwargs(cfg, "D" in parts)
    return ExportedModel(entries=_plain(entries), settings=settings, notes=notes)


def _plain(entries: dict) -> dict:
    """Fresh contiguous CPU tensors: no views into a shared storage, no parameters, no grads."""
    def copy(t):
        return t.detach().to("cpu", copy=True).contiguous()
    return {k: ({n: copy(t) for n, t in v.items()} if isinstance(v, dict) else copy(v))
            for k, v in entries.items()}
