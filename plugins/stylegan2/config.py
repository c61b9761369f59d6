"""The StyleGAN2 architecture config: a JSON-serialisable dict that fully determines G and D.

No torch here: the CLI validates configs without paying for it. Keys (docs/formats.md):

resolution        output size, a power of two from 8 to 1024
img_channels      1 (grey) or 3 (RGB); any positive count is accepted
z_dim, w_dim      latent and intermediate-latent sizes
mapping_layers    depth of the mapping network (fully connected layers)
mapping_lr_mul    learning-rate multiplier of the mapping network (0.01)
channel_base, channel_max
                  width at resolution r = min(channel_base // r, channel_max), as in NVIDIA's code
                  (32768 / 512 equals rosinality's channel_multiplier 2, 16384 its 1)
channels          explicit G widths {"4": 512, "8": 512, ...}; filled in from base/max when absent
d_channels        explicit D widths, same form; default: equal to ``channels``
conv_clamp        clamp activations to [-c, c] (NVIDIA uses 256), or null for none
mbstd_group_size  minibatch standard deviation group size (4)
mbstd_channels    features of the minibatch standard deviation (1)
"""
from __future__ import annotations

import copy

from unlearn_cli.api import UnlearnError

DEFAULTS: dict = {
    "resolution": 32,
    "img_channels": 3,
    "z_dim": 128,
    "w_dim": 128,
    "mapping_layers": 8,
    "mapping_lr_mul": 0.01,
    "channel_base": 32768,
    "channel_max": 512,
    "channels": None,
    "d_channels": None,
    "conv_clamp": None,
    "mbstd_group_size": 4,
    "mbstd_channels": 1,
}


def default_config() -> dict:
    """The paper's MNIST generator (32 px, z 128, 8 mapping layers, 512 channels), RGB."""
    return copy.deepcopy(DEFAULTS)


def resolutions(resolution: int) -> list[int]:
    """4, 8, ..., resolution."""
    return [2 ** i for i in range(2, resolution.bit_length())]


def widths(channel_base: int, channel_max: int, resolution: int) -> dict[str, int]:
    return {str(r): min(channel_base // r, channel_max) for r in resolutions(resolution)}


def _int(cfg: dict, key: str, lo: int, hi: int | None = None) -> int:
    v = cfg[key]
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        rng = f">= {lo}" if hi is None else f"in {lo}..{hi}"
        raise UnlearnError(f"stylegan2 config '{key}' must be an integer {rng}, got {v!r}")
    return v


def _widths(cfg: dict, key: str, res: list[int]) -> dict[str, int]:
    v = cfg[key]
    if not isinstance(v, dict):
        raise UnlearnError(f"stylegan2 config '{key}' must map resolutions to widths, "
                           f"e.g. {{\"4\": 512, \"8\": 512}}, got {v!r}")
    out = {str(k): w for k, w in v.items()}
    want = {str(r) for r in res}
    if set(out) != want:
        raise UnlearnError(
            f"stylegan2 config '{key}' must list exactly the resolutions {sorted(res)}, got "
            f"{sorted(out, key=int)}: fix it or remove '{key}' to derive it from channel_base")
    for k, w in out.items():
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise UnlearnError(f"stylegan2 config '{key}[{k}]' must be a positive integer")
    return {str(r): out[str(r)] for r in res}


def validate_config(config: dict | None) -> dict:
    """Fill defaults and check every key; the result fully determines the architecture."""
    cfg = default_config()
    if config:
        unknown = sorted(set(config) - set(DEFAULTS))
        if unknown:
            raise UnlearnError(f"unknown stylegan2 config key '{unknown[0]}'; known keys: "
                               + ", ".join(DEFAULTS))
        cfg.update(copy.deepcopy(dict(config)))
    res = _int(cfg, "resolution", 8, 1024)
    if res & (res - 1):
        raise UnlearnError(f"stylegan2 config 'resolution' must be a power of two, got {res}")
    for key in ("img_channels", "z_dim", "w_dim", "mapping_layers", "channel_base",
                "channel_max", "mbstd_group_size"):
        _int(cfg, key, 1)
    _int(cfg, "mbstd_channels", 0)
    lr = cfg["mapping_lr_mul"]
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or lr <= 0:
        raise UnlearnError(f"stylegan2 config 'mapping_lr_mul' must be a positive number, got {lr!r}")
    cfg["mapping_lr_mul"] = float(lr)
    clamp = cfg["conv_clamp"]
    if clamp is not None:
        if isinstance(clamp, bool) or not isinstance(clamp, (int, float)) or clamp <= 0:
            raise UnlearnError(f"stylegan2 config 'conv_clamp' must be a positive number or "
                               f"null, got {clamp!r}")
        cfg["conv_clamp"] = float(clamp)
    rs = resolutions(res)
    if cfg["channels"] is None:
        cfg["channels"] = widths(cfg["channel_base"], cfg["channel_max"], res)
    cfg["channels"] = _widths(cfg, "channels", rs)
    if cfg["d_channels"] is None:
        cfg["d_channels"] = dict(cfg["channels"])
    cfg["d_channels"] = _widths(cfg, "d_channels", rs)
    return cfg


def num_ws(resolution: int) -> int:
    """How many w vectors the synthesis network takes: 2 * log2(resolution) - 2."""
    return 2 * (resolution.bit_length() - 1) - 2


def estimate(config: dict) -> dict:
    """Sizes of the networks ``config`` asks for, computed without building them (the core
    refuses a config whose networks would not fit before allocating anything, issue 19.5).

    ``parameters``: every tensor of G and D (parameters and persistent buffers), exactly.
    ``activation_bytes_per_image``: float32 feature maps one image's forward pass through G and
    D keeps for a backward pass, about (a few tensors per layer), without batch overhead.
    """
    cfg = validate_config(config)
    res, img, w = cfg["resolution"], cfg["img_channels"], cfg["w_dim"]
    ch = {int(k): v for k, v in cfg["channels"].items()}
    dch = {int(k): v for k, v in cfg["d_channels"].items()}
    layers = cfg["mapping_layers"]
    g = cfg["z_dim"] * w + w + (layers - 1) * (w * w + w) + w      # mapping, w_avg
    g += ch[4] * 16                                                  # const

    def modconv(i, o, r):  # affine, weight, bias, noise_strength, noise_const
        return w * i + i + o * i * 9 + o + 1 + r * r

    def torgb(i):
        return w * i + i + img * i + img

    acts = 0
    for r in resolutions(res):
        c, prev = ch[r], ch[max(r // 2, 4)]
        g += (modconv(prev, c, r) if r > 4 else 0) + modconv(c, c, r) + torgb(c)
        acts += (2 if r > 4 else 1) * 4 * c * r * r + 2 * img * r * r
    d = img * dch[res] + dch[res]                                    # fromrgb
    for r in [r for r in resolutions(res) if r > 4]:
        c, half = dch[r], dch[r // 2]
        d += c * c * 9 + c + half * c * 9 + half + half * c          # conv0, conv1, skip
        acts += 4 * c * r * r + 3 * half * (r // 2) ** 2
    c4, mb = dch[4], cfg["mbstd_channels"]
    d += (c4 + mb) * c4 * 9 + c4 + c4 * 16 * c4 + c4 + c4 + 1        # epilogue conv, fc, out
    acts += 4 * (c4 + mb) * 16
    return {"parameters": g + d, "activation_bytes_per_image": 4 * acts}
