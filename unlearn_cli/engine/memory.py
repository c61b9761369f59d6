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
GPU memory on CUDA). Before a run starts, :func:`estimate_run` adds up what it will hold and
:func:`check_fits` refuses it in one line when that exceeds the available memory (or
``GAN_UNLEARN_MEMORY_LIMIT_MB``); ``GAN_UNLEARN_MEMORY_CHECK=0`` turns the check off.
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


# --------------------------------------------------------------------------- per-stage peaks
class StagePeaks:
    """Peak memory of each stage of a run in MB: peak RSS on CPU, the allocator's peak on CUDA.

    ``mark(stage)`` records the peak since the previous mark and starts a new one, so each
    number is that stage's own (metrics.json ``memory_peak_mb``; benchmarks/memory.py).
    """

    def __init__(self, device: torch.device):
        self.device = torch.device(device)
        self.peaks: dict[str, float] = {}
        self._restart()

    def _restart(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            reset_peak_rss()

    def _peak_mb(self) -> float:
        if self.device.type == "cuda":
            return round(torch.cuda.max_memory_allocated(self.device) / MB, 1)
        return peak_rss_mb()

    def mark(self, stage: str, restart: bool = True) -> None:
        """``restart=False`` for the last stage: the process's own peak (what getrusage and an
        outside observer report) then stays the run's true peak."""
        self.peaks[stage] = max(self.peaks.get(stage, 0.0), self._peak_mb())
        if restart:
            if self.device.type == "cpu":  # what the stage freed leaves the process now
                import gc

                from unlearn_cli.engine.cpu_allocator import release_free_memory

                gc.collect()
                release_free_memory()
            self._restart()


# --------------------------------------------------------------------------- pre-run estimate
def module_bytes(module: torch.nn.Module | None) -> int:
    if module is None:
        return 0
    return sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))


@dataclass(frozen=True)
class RunEstimate:
    """What a run will hold beyond what is resident when it is estimated (after loading)."""

    training_states: int  # network copies, Adam moments, gradients, adapted models, centre
    samples: int  # the positives and negatives, kept compact (engine/sample_store.py)
    activations: int  # one training batch's graph (with R1 / path-length double backward)
    workset: int  # one generation batch (collecting, evaluation, report)

    @property
    def total(self) -> int:
        return self.samples + max(self.training_states + self.activations, self.workset)


def estimate_run(G: torch.nn.Module, D: torch.nn.Module | None, batch: int, candidates: int,
                 adapted_models: int, device: torch.device) -> RunEstimate:
    """Extra memory a run needs, from the model's sizes and its measured activation memory.

    The unlearning stage is the largest: G and its EMA copy, two Adam moments and a gradient
    for each of G and D, the adapted models and their centre (6 + K copies of G, 4 of D).
    """
    g, d = module_bytes(G), module_bytes(D) or module_bytes(G)  # no D: a fresh one, ~G's size
    states = (6 + adapted_models) * g + 4 * d
    per_value = 1 if G.img_channels * G.img_resolution ** 2 >= 64 * 64 * 3 else 4
    samples = candidates * G.img_channels * G.img_resolution ** 2 * per_value
    activations = 0
    if D is not None:
        # D(G(z)) kept for backward; the R1 and path-length terms build a second graph on top
        activations = 2 * training_cost(G, D, device).bytes_for(batch)
    workset = min(workset_bytes(device), generation_cost(G, device).bytes_for(MAX_GENERATION_BATCH))
    return RunEstimate(states, samples, activations, workset)


def check_fits(estimate: RunEstimate, device: torch.device) -> None:
    """Refuse, before any work, a run whose estimate exceeds the memory available now."""
    if os.environ.get("GAN_UNLEARN_MEMORY_CHECK", "1") == "0":
        return
    available = available_bytes(device)
    limit = os.environ.get("GAN_UNLEARN_MEMORY_LIMIT_MB")
    if limit:  # a share of a machine that others use too
        try:
            mb = float(limit)
        except ValueError:
            mb = -1.0
        if not mb > 0:
            raise UnlearnError(f"GAN_UNLEARN_MEMORY_LIMIT_MB must be a positive number of "
                               f"megabytes, got {limit!r}")
        available = int(mb * MB) if available is None else min(available, int(mb * MB))
    if available is None or estimate.total <= available:
        return
    where = "GPU memory" if device.type == "cuda" else "memory"
    raise UnlearnError(
        f"this run needs about {estimate.total / 2**30:.1f} GB more {where} than the "
        f"{available / 2**30:.1f} GB available (model copies and optimiser states "
        f"{estimate.training_states / 2**30:.1f} GB, samples {estimate.samples / 2**30:.1f} GB, "
        f"one batch {max(estimate.activations, estimate.workset) / 2**30:.1f} GB); lower --batch, "
        f"--candidates or --adapted-models, free memory, or set GAN_UNLEARN_MEMORY_CHECK=0 to try anyway")


def current_rss_bytes() -> int:
    """This process's resident memory now (VmRSS), 0 where it cannot be read."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0
