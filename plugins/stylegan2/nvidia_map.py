"""NVIDIA StyleGAN2 network records -> our config and state dicts (names in docs/formats.md)."""
from __future__ import annotations

import re

from unlearn_cli.api import ImportedCheckpoint, UnlearnError

from .common import channel_base_max, check_filter, check_state, estimate_w_avg, expected_shapes
from .config import resolutions, validate_config
from .nvidia_pkl import PersistentRecord, find, flatten

#: our generator names that NVIDIA spells differently; every other name is the same in both
G_OURS_TO_NVIDIA = {"synthesis.const": "synthesis.b4.const", "w_avg": "mapping.w_avg"}
G_NVIDIA_TO_OURS = {theirs: ours for ours, theirs in G_OURS_TO_NVIDIA.items()}


def resample_filter_names(config: dict) -> tuple[list[str], list[str]]:
    """NVIDIA's persistent ``resample_filter`` buffers ([1, 3, 3, 1], sum 1) in G and in D.

    Our filters are fixed non-persistent buffers, so these names exist only on their side: the
    importer checks and drops them, the exporter writes them. G: every synthesis block and each of
    its conv layers; D (resnet): every block above 4x4 and each of its conv layers, fromrgb only in
    the first block, and the epilogue's conv.
    """
    res = resolutions(config["resolution"])
    g = []
    for r in res:
        g.append(f"synthesis.b{r}.resample_filter")
        g += [f"synthesis.b{r}.{layer}.resample_filter" for layer in
              (["conv0"] if r > 4 else []) + ["conv1"]]
    d = []
    for r in reversed(res[1:]):
        d.append(f"b{r}.resample_filter")
        d += [f"b{r}.{layer}.resample_filter" for layer in
              (["fromrgb"] if r == res[-1] else []) + ["conv0", "conv1", "skip"]]
    d.append("b4.conv.resample_filter")
    return g, d


def _kwargs(rec: PersistentRecord) -> dict:
    """Init kwargs with synthesis_kwargs merged in (stylegan2-ada nests them, stylegan3 not)."""
    kw = rec.attr("_init_kwargs")
    kw = dict(kw) if isinstance(kw, dict) else {}
    synthesis = kw.pop("synthesis_kwargs", None)
    kw.update(synthesis if isinstance(synthesis, dict) else {})
    return kw


def _num(v, default=None):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return default


def _refuse_unsupported_g(g: PersistentRecord, state: dict, source: str) -> None:
    if any(k.startswith(("synthesis.L", "synthesis.input.")) for k in state):
        raise UnlearnError(f"{source}: this is a StyleGAN3 network (synthesis.L* layers), which "
                           f"is not supported; use a StyleGAN2 .pkl (stylegan2-ada-pytorch, or "
                           f"stylegan3 trained with --cfg=stylegan2) or a rosinality .pt")
    kw = _kwargs(g)
    c_dim = int(_num(kw.get("c_dim", g.attr("c_dim", 0)), 0) or 0)
    if c_dim > 0 or any(k.startswith("mapping.embed.") for k in state):
        raise UnlearnError(f"{source}: this is a conditional generator (c_dim={c_dim}); "
                           f"class-conditional StyleGAN2 is not supported, use an "
                           f"unconditional checkpoint")
    archs = {b.attr("architecture") for b in (find(g, "synthesis") or g).modules.values()
             if isinstance(b, PersistentRecord)} - {None}
    archs |= {kw["architecture"]} if "architecture" in kw else set()
    if archs - {"skip"} or any(re.match(r"synthesis\.b\d+\.skip\.", k) for k in state):
        raise UnlearnError(f"{source}: generator architecture {sorted(archs - {'skip'})} is not "
                           f"supported (only the default 'skip'); use a default StyleGAN2 config")


def _refuse_unsupported_d(d: PersistentRecord, state: dict, res: int, source: str) -> None:
    kw = _kwargs(d)
    archs = {b.attr("architecture") for b in d.modules.values()
             if isinstance(b, PersistentRecord)} - {None}
    archs |= {kw["architecture"]} if "architecture" in kw else set()
    has_skip = any(re.match(r"b\d+\.skip\.", k) for k in state)
    if "orig" in archs or not has_skip:
        raise UnlearnError(f"{source}: discriminator architecture 'orig' is not supported (only "
                           f"'resnet', the default); use a checkpoint trained with a residual D")
    n_rgb = sum(1 for k in state if re.fullmatch(r"b\d+\.fromrgb\.weight", k))
    if archs - {"resnet"} or n_rgb != 1:
        raise UnlearnError(f"{source}: discriminator architecture {sorted(archs) or ['skip']} is "
                           f"not supported (only 'resnet'); use a checkpoint with the default D")
    c_dim = int(_num(kw.get("c_dim", 0), 0) or 0)
    if c_dim > 0 or any(k.startswith(("mapping.", "b4.cmap")) for k in state):
        raise UnlearnError(f"{source}: this is a conditional discriminator (c_dim={c_dim}); "
                           f"class-conditional StyleGAN2 is not supported")


def infer_config(g: PersistentRecord, gs: dict, d: PersistentRecord | None, ds: dict | None,
                 source: str) -> dict:
    try:
        res = max(int(m.group(1)) for k in gs if (m := re.match(r"synthesis\.b(\d+)\.", k)))
        n_map = len([k for k in gs if re.fullmatch(r"mapping\.fc\d+\.weight", k)])
        w_dim, z_dim = gs["mapping.fc0.weight"].shape
        channels = {"4": int(gs["synthesis.b4.const"].shape[0])}
        for r in resolutions(res)[1:]:
            channels[str(r)] = int(gs[f"synthesis.b{r}.conv0.weight"].shape[0])
        img_channels = int(gs["synthesis.b4.torgb.weight"].shape[0])
    except (KeyError, ValueError) as exc:
        raise UnlearnError(f"{source}: not a StyleGAN2 generator ({exc} missing); use a "
                           f"StyleGAN2 .pkl or a rosinality .pt") from None
    kw = _kwargs(g)
    fc0 = find(g, "mapping.fc0")
    lr_mul = _num(fc0.attr("bias_gain") if fc0 else None) or \
        _num((kw.get("mapping_kwargs") or {}).get("lr_multiplier")) or 0.01
    layer = find(g, "synthesis.b4.conv1")
    clamp = _num(layer.attr("conv_clamp") if layer else kw.get("conv_clamp"))
    base, cmax = channel_base_max(channels)
    cfg = {"resolution": res, "img_channels": img_channels, "z_dim": int(z_dim),
           "w_dim": int(w_dim), "mapping_layers": n_map, "mapping_lr_mul": lr_mul,
           "channel_base": base, "channel_max": cmax, "channels": channels,
           "conv_clamp": clamp, "mbstd_group_size": 4, "mbstd_channels": 1}
    if d is not None:
        try:
            dch = {str(res): int(ds[f"b{res}.fromrgb.weight"].shape[0])}
            for r in resolutions(res)[1:]:
                dch[str(r // 2)] = int(ds[f"b{r}.conv1.weight"].shape[0])
            cfg["d_channels"] = dch
            cfg["mbstd_channels"] = int(ds["b4.conv.weight"].shape[1]) - dch["4"]
        except KeyError as exc:
            raise UnlearnError(f"{source}: not a StyleGAN2 discriminator ({exc} missing)") from None
        dkw = _kwargs(d)
        mbstd = find(d, "b4.mbstd")
        group = (mbstd.attr("group_size") if mbstd else None) or \
            (dkw.get("epilogue_kwargs") or {}).get("mbstd_group_size") or 4
        cfg["mbstd_group_size"] = int(group)
        dlayer = find(d, f"b{res}.conv0")
        dclamp = _num(dlayer.attr("conv_clamp") if dlayer else dkw.get("conv_clamp"))
        if dclamp != clamp:
            raise UnlearnError(f"{source}: G and D use different conv_clamp ({clamp} vs {dclamp}),"
                               f" which is not supported; re-export with one value")
    try:
        return validate_config(cfg)
    except UnlearnError as exc:
        raise UnlearnError(f"{source}: unsupported StyleGAN2 network: {exc}") from None


def _drop_filters(state: dict, source: str) -> dict:
    out = {}
    for k, v in state.items():
        if k.endswith("resample_filter"):
            check_filter(v, 1.0, k, source)
        else:
            out[k] = v
    return out


def generator_from_nvidia(state: dict, config: dict, source: str) -> dict:
    out = {}
    for k, v in _drop_filters(state, source).items():
        out[G_NVIDIA_TO_OURS.get(k, k)] = v
    return check_state(out, expected_shapes(config)[0], "generator", source)


def discriminator_from_nvidia(state: dict, config: dict, source: str) -> dict:
    return check_state(_drop_filters(state, source), expected_shapes(config)[1],
                       "discriminator", source)


def import_nvidia(obj, source: str) -> ImportedCheckpoint:
    """The unpickled top-level object (dict of records, or one G record) -> ImportedCheckpoint."""
    if isinstance(obj, PersistentRecord):
        obj = {"G_ema": obj}
    if not isinstance(obj, dict) or not any(
            isinstance(obj.get(k), PersistentRecord) for k in ("G_ema", "G")):
        raise UnlearnError(f"{source}: no generator ('G_ema' or 'G') in the pickle; use a "
                           f"network pickle from stylegan2-ada-pytorch or stylegan3")
    g_rec = obj.get("G") if isinstance(obj.get("G"), PersistentRecord) else None
    ema_rec = obj.get("G_ema") if isinstance(obj.get("G_ema"), PersistentRecord) else None
    d_rec = obj.get("D") if isinstance(obj.get("D"), PersistentRecord) else None
    main = ema_rec or g_rec
    try:
        states = {n: flatten(r) for n, r in (("G", g_rec), ("G_ema", ema_rec), ("D", d_rec)) if r}
    except UnlearnError as exc:
        raise UnlearnError(f"{source}: {exc}; not a StyleGAN2 network pickle") from None
    main_state = states["G_ema" if ema_rec else "G"]
    _refuse_unsupported_g(main, main_state, source)
    if d_rec is not None:
        res = max(int(m.group(1)) for k in states["D"] if (m := re.match(r"b(\d+)\.", k)))
        _refuse_unsupported_d(d_rec, states["D"], res, source)
    config = infer_config(main, main_state, d_rec, states.get("D"), source)
    warnings = []
    gens = {}
    for name in ("G", "G_ema"):
        if name in states:
            _refuse_unsupported_g(obj[name], states[name], source)
            gens[name] = generator_from_nvidia(states[name], config, source) \
                if "mapping.w_avg" in states[name] else None
            if gens[name] is None:
                st = dict(states[name])
                st["mapping.w_avg"] = estimate_w_avg(config, generator_from_nvidia_map(st))
                gens[name] = generator_from_nvidia(st, config, source)
                warnings.append(f"no mean w in {name}: estimated from 10000 latents (seed 0)")
    if "G" not in gens:
        gens["G"] = dict(gens["G_ema"])
        warnings.append("file holds only the EMA generator (G_ema): it is used as G as well")
    disc = discriminator_from_nvidia(states["D"], config, source) if "D" in states else None
    if disc is None:
        warnings.append("no discriminator in file: the method needs one; a freshly initialised "
                        "discriminator will be warmed up on generated samples (docs/formats.md)")
    return ImportedCheckpoint(config=config, generator=gens["G"],
                              generator_ema=gens.get("G_ema"), discriminator=disc,
                              source_format="nvidia-pkl", warnings=warnings)


def generator_from_nvidia_map(state: dict) -> dict:
    """Only the mapping tensors renamed (enough for estimating mean w)."""
    return {k: v for k, v in state.items() if k.startswith("mapping.fc")}
