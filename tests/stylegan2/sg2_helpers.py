"""Test helpers: fixture paths, small configs, synthetic NVIDIA-format pickles.

The synthetic pickles use the same global names and nesting as real stylegan2-ada / stylegan3
network pickles: ``torch_utils.persistence._reconstruct_persistent_obj(meta)`` records whose
``state`` is an nn.Module ``__dict__``, ``dnnlib.util.EasyDict`` kwargs, Parameters and buffers
pickled by torch itself (``_rebuild_parameter`` / ``_rebuild_tensor_v2`` / nested
``torch.storage._load_from_bytes``). The fake modules exist in sys.modules only while a test
writes the bytes (monkeypatch).
"""
from __future__ import annotations

import pickle
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
ROSI_PT = FIXTURES / "rosinality-32px-narrow.pt"
EXPECTED = FIXTURES / "rosinality-32px-narrow.expected.safetensors"
BUFFERS = {"w_avg", "noise_const", "resample_filter"}


def require_fixtures():
    if not (ROSI_PT.exists() and EXPECTED.exists()):
        pytest.skip(f"reference fixtures not found at {FIXTURES} (they live in ../shared "
                    f"beside the project; a fresh clone has none)")


def small_config(**kw) -> dict:
    cfg = {"resolution": 16, "z_dim": 16, "w_dim": 16, "mapping_layers": 2,
           "channel_base": 256, "channel_max": 16}
    cfg.update(kw)
    return cfg


def randomise(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Every parameter and buffer random, so each code path shows in the outputs."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in list(module.named_parameters()) + list(module.named_buffers()):
            if t.is_floating_point() and "fir" not in name:
                t.copy_(torch.randn(t.shape, generator=gen) * (0.3 if t.ndim <= 1 else 1.0))
    return module


# ---- NVIDIA naming (test-side inverse of the importer) ------------------------------------
def fir() -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(k, k)
    return k / k.sum()


def ours_to_nvidia_g(state: dict, resolution: int) -> dict:
    out = OrderedDict()
    for k, v in state.items():
        k = {"w_avg": "mapping.w_avg", "synthesis.const": "synthesis.b4.const"}.get(k, k)
        out[k] = v.clone()
    r = 4
    while r <= resolution:
        out[f"synthesis.b{r}.resample_filter"] = fir()
        for layer in (["conv0"] if r > 4 else []) + ["conv1"]:
            out[f"synthesis.b{r}.{layer}.resample_filter"] = fir()
        r *= 2
    return out


def ours_to_nvidia_d(state: dict, resolution: int) -> dict:
    out = OrderedDict((k, v.clone()) for k, v in state.items())
    r = resolution
    while r > 4:
        out[f"b{r}.resample_filter"] = fir()
        for layer in (["fromrgb"] if r == resolution else []) + ["conv0", "conv1", "skip"]:
            out[f"b{r}.{layer}.resample_filter"] = fir()
        r //= 2
    out["b4.conv.resample_filter"] = fir()
    return out


# ---- persistence records -------------------------------------------------------------------
def install_fake_nvidia_modules(monkeypatch):
    """torch_utils.persistence and dnnlib.util stand-ins, only for pickling in this test."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called by our loader
        raise AssertionError("the loader must not call the real persistence function")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util",
                                          "__qualname__": "EasyDict"})
    util.EasyDict = EasyDict
    pkg_t, pkg_d = types.ModuleType("torch_utils"), types.ModuleType("dnnlib")
    pkg_t.persistence, pkg_d.util = persistence, util
    for name, mod in (("torch_utils", pkg_t), ("torch_utils.persistence", persistence),
                      ("dnnlib", pkg_d), ("dnnlib.util", util)):
        monkeypatch.setitem(__import__("sys").modules, name, mod)
    return _reconstruct_persistent_obj, EasyDict


class FakePersistent:
    """Pickles exactly like a torch_utils.persistence-decorated module instance."""

    def __init__(self, reconstruct, class_name: str, state: dict):
        self.reconstruct, self.class_name, self.state = reconstruct, class_name, state

    def __reduce__(self):
        meta = dict(type="class", version=6, module_src="# (the defining file's source)\n",
                    class_name=self.class_name, state=self.state)
        return (self.reconstruct, (meta,))


def records(flat: dict, attrs: dict, class_of, reconstruct, none_params=()) -> FakePersistent:
    """Nest a flat NVIDIA-named state dict into persistence records (module __dict__ states)."""
    nodes: dict[str, dict] = {}

    def node(path: str) -> dict:
        if path not in nodes:
            nodes[path] = {"p": OrderedDict(), "b": OrderedDict(), "m": OrderedDict()}
            if path:
                parent, _, name = path.rpartition(".")
                node(parent)["m"][name] = path
        return nodes[path]

    node("")
    for key, t in flat.items():
        mod, _, name = key.rpartition(".")
        n = node(mod)
        if name in BUFFERS:
            n["b"][name] = t.clone()
        else:
            n["p"][name] = torch.nn.Parameter(t.clone(), requires_grad=False)
    for path in attrs:
        node(path)
    for path in none_params:
        node(path.rpartition(".")[0])["p"][path.rpartition(".")[2]] = None

    def make(path: str) -> FakePersistent:
        n = nodes[path]
        state = {"training": False, "_parameters": n["p"], "_buffers": n["b"],
                 "_non_persistent_buffers_set": set(), "_backward_hooks": OrderedDict(),
                 "_forward_hooks": OrderedDict(), "_forward_pre_hooks": OrderedDict(),
                 "_state_dict_hooks": OrderedDict(), "_load_state_dict_pre_hooks": OrderedDict(),
                 "_modules": OrderedDict((k, make(p)) for k, p in n["m"].items())}
        state.update(attrs.get(path, {}))
        return FakePersistent(reconstruct, class_of(path), state)

    return make("")


def g_class(path: str) -> str:
    last = path.rpartition(".")[2]
    return {"": "Generator", "mapping": "MappingNetwork", "synthesis": "SynthesisNetwork",
            "torgb": "ToRGBLayer", "conv0": "SynthesisLayer", "conv1": "SynthesisLayer"}.get(
        last, "SynthesisBlock" if last.startswith("b") else "FullyConnectedLayer")


def d_class(path: str) -> str:
    last = path.rpartition(".")[2]
    if path == "":
        return "Discriminator"
    if path == "b4":
        return "DiscriminatorEpilogue"
    return {"mbstd": "MinibatchStdLayer", "fc": "FullyConnectedLayer",
            "out": "FullyConnectedLayer"}.get(last, "DiscriminatorBlock" if last.startswith("b")
                                              else "Conv2dLayer")


def nvidia_pickle(monkeypatch, cfg: dict, g_state: dict, d_state: dict | None, *,
                  layout: str = "ada", protocol: int = 4, g_extra: dict | None = None,
                  d_extra: dict | None = None, mbstd_group: int = 4, g_only: bool = False,
                  conv_clamp=None) -> bytes:
    """Bytes of a network pickle in the stylegan2-ada ('ada') or stylegan3 ('sg3') layout."""
    reconstruct, EasyDict = install_fake_nvidia_modules(monkeypatch)
    res = cfg["resolution"]
    syn = EasyDict(channel_base=cfg.get("channel_base", 32768), channel_max=512,
                   num_fp16_res=4, conv_clamp=conv_clamp)
    g_kw = {"z_dim": cfg["z_dim"], "w_dim": cfg["w_dim"], "c_dim": 0, "img_resolution": res,
            "img_channels": cfg.get("img_channels", 3),
            "mapping_kwargs": EasyDict(num_layers=cfg["mapping_layers"])}
    if layout == "ada":
        g_kw["synthesis_kwargs"] = syn
    else:
        g_kw.update(syn)
        g_kw["fused_modconv_default"] = "inference_only"
    g_kw.update(g_extra or {})
    g_attrs = {"": {"_init_args": (), "_init_kwargs": g_kw, "z_dim": cfg["z_dim"], "c_dim": 0}}
    for key in ours_to_nvidia_g(g_state, res):
        mod = key.rpartition(".")[0]
        last = mod.rpartition(".")[2]
        if last.startswith("fc"):
            fan_in = g_state[f"{mod}.weight"].shape[1]
            g_attrs[mod] = {"activation": "lrelu", "bias_gain": 0.01,
                            "weight_gain": np.float64(0.01 / np.sqrt(fan_in))}
        elif last in ("conv0", "conv1", "torgb"):
            g_attrs[mod] = {"conv_clamp": conv_clamp, "activation": "lrelu", "up": 1}
        elif last.startswith("b"):
            g_attrs[mod] = {"architecture": "skip", "resolution": int(last[1:])}
    out = {"training_set_kwargs": EasyDict(path="data.zip", resolution=res, use_labels=False)}

    def gen():
        return records(ours_to_nvidia_g(g_state, res), g_attrs, g_class, reconstruct)
    out["G"] = gen()
    if d_state is not None and not g_only:
        d_kw = {"c_dim": 0, "img_resolution": res, "img_channels": cfg.get("img_channels", 3),
                "channel_base": 32768, "channel_max": 512, "num_fp16_res": 4,
                "conv_clamp": conv_clamp, "block_kwargs": EasyDict(),
                "mapping_kwargs": EasyDict(),
                "epilogue_kwargs": EasyDict(mbstd_group_size=mbstd_group)}
        d_kw.update(d_extra or {})
        d_attrs = {"": {"_init_args": (), "_init_kwargs": d_kw},
                   "b4.mbstd": {"group_size": mbstd_group, "num_channels": 1}}
        flat = ours_to_nvidia_d(d_state, res)
        for key in flat:
            mod = key.rpartition(".")[0]
            if mod.count(".") == 1 and not mod.endswith(("fc", "out")):
                d_attrs[mod] = {"conv_clamp": conv_clamp, "activation": "lrelu"}
            elif mod.count(".") == 0 and mod != "b4":
                d_attrs[mod] = {"architecture": d_kw.get("architecture", "resnet")}
        skips = [k.rpartition(".")[0] + ".bias" for k in flat if k.endswith("skip.weight")]
        out["D"] = records(flat, d_attrs, d_class, reconstruct, none_params=skips)
    out["G_ema"] = gen()
    out["augment_pipe"] = None
    return pickle.dumps(out, protocol=protocol)


def pickle_of_nvidia_state_dicts(monkeypatch, states: dict, g_kwargs: dict,
                                 d_kwargs: dict | None = None, protocol: int = 4) -> bytes:
    """A network pickle of NVIDIA-named state dicts ({"G", "G_ema", "D"}: an export's), shaped
    like what networks built from ``g_kwargs`` / ``d_kwargs`` pickle as: the kwargs as
    ``_init_kwargs``, and the attributes their constructors derive from them on each layer
    (conv_clamp, the mapping's bias_gain, the minibatch-stddev group)."""
    reconstruct, EasyDict = install_fake_nvidia_modules(monkeypatch)

    def easy(value):
        return EasyDict({k: easy(v) for k, v in value.items()}) if isinstance(value, dict) else value

    out = {"training_set_kwargs": None, "augment_pipe": None}
    for name, flat in states.items():
        kw = d_kwargs if name == "D" else g_kwargs
        clamp = kw.get("conv_clamp", (kw.get("synthesis_kwargs") or {}).get("conv_clamp"))
        attrs = {"": {"_init_args": (), "_init_kwargs": easy(kw)}}
        for key in flat:
            mod = key.rpartition(".")[0]
            last = mod.rpartition(".")[2]
            if name != "D" and mod.startswith("mapping.fc"):
                attrs[mod] = {"bias_gain": kw["mapping_kwargs"]["lr_multiplier"]}
            elif name != "D" and last in ("conv0", "conv1", "torgb"):
                attrs[mod] = {"conv_clamp": clamp}
            elif name == "D" and mod.count(".") == 1 and not mod.endswith(("fc", "out")):
                attrs[mod] = {"conv_clamp": clamp}
        if name == "D":
            epilogue = kw["epilogue_kwargs"]
            attrs["b4.mbstd"] = {"group_size": epilogue["mbstd_group_size"],
                                 "num_channels": epilogue["mbstd_num_channels"]}
            skips = [k.rpartition(".")[0] + ".bias" for k in flat if k.endswith("skip.weight")]
            out[name] = records(flat, attrs, d_class, reconstruct, none_params=skips)
        else:
            out[name] = records(flat, attrs, g_class, reconstruct)
    return pickle.dumps(out, protocol=protocol)
