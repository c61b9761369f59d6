"""How much memory a model's work takes, measured, so batch sizes follow the model, not a constant.

One 256 px StyleGAN2 image costs ~65-135 MB of activations in a forward pass, a 16 px one a few
hundred KB: a fixed generation batch (it was 256) is either wasteful or 17-35 GB. Here a model's
activation memory is *measured* on one and two images and every place that generates (sources,
evaluation, report, sample, the Fisher) asks :func:`generation_batch` how many images fit in the
working set.

- On CUDA the allocator's own peak counter is exact.
- On CPU, :class:`LiveTensorBytes` watches every tensor an operation creates and when its storage
  is freed (PyTorch keeps one Python object per storage, so a weakref finaliser fires when the
  memory really goes), and keeps the peak of live bytes. Kernels' private scratch space is not
  seen: :data:`SAFETY` covers it.

The working set is ``GAN_UNLEARN_WORKSET_MB`` (default: 1024 MB on CPU, a quarter of the free
GPU memory on CUDA). ``GAN_UNLEARN_MEMORY_CHECK=0`` turns the pre-run estimate off.
"""
from __future__ import annotations

import os
import resource
import weakref
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from unlearn_cli.errors import UnlearnError

SAFETY = 1.5  # kernels' scratch space and allocator slack, on top of the measured tensors
MAX_GENERATION_BATCH = 256  # more gives no speed and makes progress coarse
CPU_WORKSET_MB = 1024
MB = 1 << 20


class LiveTensorBytes(TorchDispatchMode):
    """Peak bytes of tensors created (and still alive) while the mode is active."""

    def __init__(self):
        super().__init__()
        self.live = self.peak = 0
        self._seen: set[int] = set()

    def _free(self, key: int, nbytes: int) -> None:
        self._seen.discard(key)
        self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key in self._seen or storage.nbytes() == 0:
                continue  # a view of memory already counted
            self._seen.add(key)
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._free, key, storage.nbytes())
        return out


def _peak_of(fn, device: torch.device) -> int:
    """Peak bytes of the tensors ``fn()`` creates while it runs."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        start = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        torch.cuda.synchronize(device)
        return max(0, torch.cuda.max_memory_allocated(device) - start)
    with LiveTensorBytes() as mode:
        fn()
    return mode.peak


@dataclass(frozen=True)
class ImageCost:
    """Activation bytes of a pass through a model: ``base + per_image * n`` for n images."""

    base: int
    per_image: int

    def bytes_for(self, n: int) -> int:
        return int(SAFETY * (self.base + self.per_image * n))


def _latents(n: int, z_dim: int, device: torch.device) -> torch.Tensor:
    # a private generator: measuring must not move the global random stream a run depends on
    return torch.randn(n, z_dim, generator=torch.Generator().manual_seed(0)).to(device)


def _measure(run_n, device: torch.device) -> ImageCost:
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):  # layers drawing noise must not move it either
        one, two = _peak_of(lambda: run_n(1), device), _peak_of(lambda: run_n(2), device)
    per_image = max(two - one, 1)
    return ImageCost(base=max(one - per_image, 0), per_image=per_image)


_CACHE: dict[tuple, ImageCost] = {}


def _key(kind: str, G: torch.nn.Module, device: torch.device) -> tuple:
    shapes = tuple((k, tuple(v.shape)) for k, v in G.state_dict().items())
    return kind, type(G).__qualname__, hash(shapes), device.type


def _device_of(G: torch.nn.Module, device=None) -> torch.device:
    if device is not None:
        return torch.device(device)
    first = next(iter(G.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


def generation_cost(G: torch.nn.Module, device=None) -> ImageCost:
    """Measured activation memory of ``G(z)`` without gradients (cached per architecture)."""
    device = _device_of(G, device)
    key = _key("generate", G, device)
    if key not in _CACHE:
        def run_n(n: int):
            z = _latents(n, G.z_dim, device)
            with torch.no_grad():
                G(z, truncation_psi=1.0, noise_mode="const")
        was_training = G.training
        G.eval()
        try:
            _CACHE[key] = _measure(run_n, device)
        finally:
            G.train(was_training)
    return _CACHE[key]


def training_cost(G: torch.nn.Module, D: torch.nn.Module, device=None) -> ImageCost:
    """Measured memory of D(G(z)) kept for a backward pass: the graph a training image holds."""
    device = _device_of(G, device)
    key = _key("train", G, device) + (_key("d", D, device)[2],)
    if key not in _CACHE:
        def run_n(n: int):
            z = _latents(n, G.z_dim, device)
            with torch.enable_grad():
                D(G(z, noise_mode="const")).sum().backward()
            for p in (*G.parameters(), *D.parameters()):
                p.grad = None
        states = [(m, m.training, [p.requires_grad for p in m.parameters()]) for m in (G, D)]
        for m in (G, D):
            m.requires_grad_(True).eval()  # eval: no running statistics may change
        try:
            _CACHE[key] = _measure(run_n, device)
        finally:
            for m, training, flags in states:
                m.train(training)
                for p, flag in zip(m.parameters(), flags):
                    p.requires_grad_(flag)
    return _CACHE[key]


def workset_bytes(device: torch.device) -> int:
    """The memory one batch of generation (or evaluation) may take."""
    value = os.environ.get("GAN_UNLEARN_WORKSET_MB")
    if value:
        try:
            mb = float(value)
        except ValueError:
            mb = -1.0
        if not mb > 0:
            raise UnlearnError(f"GAN_UNLEARN_WORKSET_MB must be a positive number of megabytes, "
                               f"got {value!r}")
        return int(mb * MB)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free // 4
    return CPU_WORKSET_MB * MB


def generation_batch(G: torch.nn.Module, device=None, cap: int = MAX_GENERATION_BATCH) -> int:
    """How many images G may generate at once within the working set (at least 1)."""
    device = _device_of(G, device)
    cost = generation_cost(G, device)
    room = workset_bytes(device) / SAFETY - cost.base
    return int(max(1, min(cap, room // cost.per_image)))


# --------------------------------------------------------------------------- reading RSS
def peak_rss_mb() -> float:
    """This process's peak resident memory since the last :func:`reset_peak_rss` (or start)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def reset_peak_rss() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM); elsewhere a no-op."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def available_bytes(device: torch.device) -> int | None:
    """Memory the run can still take: MemAvailable on CPU, free memory on CUDA."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None
