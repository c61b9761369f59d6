"""The one adversarial loop, shared by adaptation, unlearning and plain training.

Read it top to bottom: per step one D update (non-saturating logistic loss, lazy R1 every
``r1_interval`` steps) and one G update (non-saturating loss + the stage's penalty + the gan
plugin's own regulariser, if it has one), then the EMA update. Losses stay on the device and are
read back only every ``log_every`` steps, so a GPU is never synchronised inside a step.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from unlearn_cli.config import TrainOptions
from unlearn_cli.engine import distributed, interrupts, resume
from unlearn_cli.engine.sample_store import as_float
from unlearn_cli.errors import UnlearnError


@dataclass
class LoopState:
    """Everything needed to continue a stage where it stopped."""

    step: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class Stage:
    """One run of the loop: what to train, on what, with which extra G penalty."""

    name: str
    G: nn.Module
    D: nn.Module
    G_ema: nn.Module
    real_images: torch.Tensor  # [N, C, H, W] on the device, sampled with replacement
    steps: int
    options: TrainOptions
    seed: int
    g_penalty: Callable[[], dict[str, torch.Tensor]] | None = None  # name -> scalar; summed
    # the gan plugin (optional generate_for_training, generator_regularizer, discriminate_chunks)
    extras: object = None
    log_path: Path | None = None
    resume_path: Path | None = None  # stage checkpoint: read if present, written on interrupt
    show_progress: bool = True
    precision: str = "fp32"
    # (weight, make(batch, rng) -> images): more samples D must call fake, besides G's own
    extra_fakes: tuple[float, Callable] | None = None
    resume_hint: str | None = None  # how the user continues; None: --resume <the run folder>
    # compiled forward passes of G and D (engine/compiling.py) that share their parameters; the
    # double backward of R1 and of the path-length regulariser runs on the eager modules
    G_compiled: nn.Module | None = None
    D_compiled: nn.Module | None = None

    def continue_with(self) -> str:
        if self.resume_hint:
            return self.resume_hint
        if self.resume_path is None:
            return "--resume RUN_FOLDER"
        folder = self.resume_path.parent  # a run keeps stage checkpoints in <run folder>/resume/
        return f"--resume {folder.parent if folder.name == 'resume' else folder}"


def _generate(stage: Stage, z: torch.Tensor) -> torch.Tensor:
    G = stage.G if stage.G_compiled is None else stage.G_compiled
    fn = getattr(stage.extras, "generate_for_training", None)
    return fn(G, z) if fn is not None else G(z)


def _discriminate(stage: Stage, D: nn.Module, batches: list[torch.Tensor]) -> list[torch.Tensor]:
    """D's logits for each of ``batches`` (equal sizes). One pass over all of them where the gan
    plugin can keep them apart (``discriminate_chunks``: per-batch statistics such as the
    minibatch stddev); otherwise one pass each. On small models the pass count is the cost."""
    fn = getattr(stage.extras, "discriminate_chunks", None)
    if fn is None or len(batches) == 1:
        return [D(b) for b in batches]
    return list(fn(D, torch.cat(batches), len(batches)).chunk(len(batches)))


def translate(images: torch.Tensor, rng: torch.Generator, fraction: float = 0.125) -> torch.Tensor:
    """Each image shifted by its own random whole-pixel offset, up to ``fraction`` of its size
    (edges repeated); differentiable, so the generator's step sees it as D does."""
    n, _, h, w = images.shape
    r = max(1, int(round(min(h, w) * fraction)))
    padded = F.pad(images, (r, r, r, r), mode="replicate")
    oy, ox = (torch.randint(0, 2 * r + 1, (2, n), device=images.device, generator=rng))
    rows = (oy[:, None] + torch.arange(h, device=images.device))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w, device=images.device))[:, None, None, :]
    batch = torch.arange(n, device=images.device)[:, None, None, None]
    channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
    return padded[batch, channels, rows, cols]


@torch.no_grad()
def update_ema(G_ema: nn.Module, G: nn.Module, decay: float) -> None:
    ema_params = list(G_ema.parameters())
    torch._foreach_lerp_(ema_params, [p.detach() for p in G.parameters()], 1.0 - decay)
    for b_ema, b in zip(G_ema.buffers(), G.buffers()):
        b_ema.copy_(b)


def make_optimizers(stage: Stage):
    o = stage.options
    betas = (o.beta1, o.beta2)
    # lazy regularisation: scale lr and betas as StyleGAN2 does for the R1 interval
    ratio = o.r1_interval / (o.r1_interval + 1) if o.r1_interval else 1.0
    g_opt = torch.optim.Adam(stage.G.parameters(), lr=o.lr, betas=betas)
    d_opt = torch.optim.Adam(stage.D.parameters(), lr=o.lr * ratio,
                             betas=(o.beta1 ** ratio, o.beta2 ** ratio))
    return g_opt, d_opt


def run_stage(stage: Stage, state: LoopState | None = None, optimizers=None) -> LoopState:
    """Train ``stage.steps`` steps (continuing from ``state``). Returns the final state."""
    o, device = stage.options, stage.real_images.device
    state = state or LoopState()
    g_opt, d_opt = optimizers or make_optimizers(stage)
    # each rank draws its own batches from its own stream
    rng = torch.Generator(device=device).manual_seed(stage.seed + 104729 * distributed.rank())
    kept = None  # the step of the checkpoint on disk (only finite ones are ever written)
    if stage.resume_path is not None and stage.resume_path.is_file():
        resume.load_checkpoint(stage.resume_path, stage, state, g_opt, d_opt, rng)
        kept = state.step
    elif state.step == 0:
        for module in (stage.G, stage.D, stage.G_ema):
            distributed.broadcast_module(module)
    main = distributed.is_main()
    if stage.log_path is not None and main:  # a killed run's lines past the checkpoint go
        resume.truncate_log(stage.log_path, stage.name, state.step)
    stop_at = _test_interrupt_step(stage.name)
    signal_at = _test_signal_step(stage.name)
    n_real, batch = len(stage.real_images), o.batch
    seen = (lambda x: translate(x, rng)) if o.augment == "translate" else (lambda x: x)  # what D sees
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=stage.precision == "bf16")
    D = stage.D if stage.D_compiled is None else stage.D_compiled
    sums: dict[str, torch.Tensor] = {}
    count, started = 0, time.perf_counter()
    log = _open_log(stage.log_path) if stage.log_path and main else None
    progress = _progress(stage, state.step) if main else None
    sync_check = _sync_check(device)
    # a signal only sets a flag here; the loop stops between steps (engine/interrupts.py)
    deferring = interrupts.deferred()
    deferring.__enter__()
    try:
        while state.step < stage.steps:
            if interrupts.pending() is not None:
                raise KeyboardInterrupt
            step = state.step
            sync_check(True)
            # ---- discriminator step
            stage.G.requires_grad_(False)
            stage.D.requires_grad_(True)
            z = torch.randn(batch, stage.G.z_dim, device=device, generator=rng)
            # sample sets of large images are kept as uint8 (engine/sample_store.py)
            real = as_float(stage.real_images[torch.randint(n_real, (batch,), device=device, generator=rng)])
            do_r1 = o.r1_gamma > 0 and o.r1_interval > 0 and step % o.r1_interval == 0
            with autocast:
                fake = _generate(stage, z)
                real = real.detach().requires_grad_(do_r1)
                shown = [seen(real), seen(fake)]
                if stage.extra_fakes is not None:  # e.g. the adapted models' samples, as fake
                    weight, make = stage.extra_fakes
                    shown.append(make(batch, rng))
                if do_r1:  # R1: the eager D's double backward through the reals; they go alone
                    logits = [stage.D(shown[0])] + _discriminate(stage, D, shown[1:])
                else:
                    logits = _discriminate(stage, D, shown)
                real_logits, fake_logits = logits[0], logits[1]
            d_loss = F.softplus(fake_logits.float()).mean() + F.softplus(-real_logits.float()).mean()
            losses = {"d_loss": d_loss.detach()}
            if stage.extra_fakes is not None:
                extra = F.softplus(logits[2].float()).mean()
                d_loss = d_loss + weight * extra
                losses["d_extra_fake"] = extra.detach()
            if do_r1:
                (grad,) = torch.autograd.grad(real_logits.float().sum(), real, create_graph=True)
                r1 = grad.float().square().sum(dim=[1, 2, 3]).mean()
                d_loss = d_loss + (o.r1_gamma / 2) * r1 * o.r1_interval
                losses["r1"] = r1.detach()
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            distributed.average_gradients(list(stage.D.parameters()))
            d_opt.step()
            if signal_at is not None and step == signal_at[0]:  # tests: a real signal mid-step
                os.kill(os.getpid(), signal_at[1])
            # ---- generator step
            stage.G.requires_grad_(True)
            stage.D.requires_grad_(False)
            z = torch.randn(batch, stage.G.z_dim, device=device, generator=rng)
            with autocast:
                g_adv = F.softplus(-D(seen(_generate(stage, z))).float()).mean()
            g_loss = g_adv
            losses["g_loss"] = g_adv.detach()
            if stage.g_penalty is not None:
                for name, value in stage.g_penalty().items():
                    g_loss = g_loss + value
                    losses[name] = value.detach()
            reg = getattr(stage.extras, "generator_regularizer", None)
            if reg is not None:
                extra = reg(stage.G, batch, step)
                if extra is not None:
                    g_loss = g_loss + extra
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            distributed.average_gradients(list(stage.G.parameters()))
            g_opt.step()
            distributed.sync_buffers(stage.G)
            update_ema(stage.G_ema, stage.G, o.ema_decay)
            sync_check(False)  # the step is done; logging below may read losses back
            state.step += 1
            for key, value in losses.items():
                sums[key] = sums[key] + value if key in sums else value.clone()
            count += 1
            if state.step % max(o.log_every, 1) == 0 or state.step == stage.steps:
                record = {"stage": stage.name, "step": state.step,
                          **{k: round(float(v) / count, 6) for k, v in sums.items()},
                          "sec_per_step": round((time.perf_counter() - started) / count, 4)}
                _check_finite(record, stage, kept)
                state.history.append(record)
                if log:
                    _append(log, stage.log_path, json.dumps(record) + "\n")
                if progress is not None:
                    progress.update(state.step, record)
                sums, count, started = {}, 0, time.perf_counter()
            if (stage.resume_path and o.checkpoint_every
                    and state.step % o.checkpoint_every == 0 and state.step < stage.steps):
                _check_parameters(stage, state.step, kept, (g_opt, d_opt))  # every rank agrees
                if main:
                    resume.save_checkpoint(stage.resume_path, stage, state, g_opt, d_opt, rng)
                    kept = state.step
            if state.step == stop_at:
                raise KeyboardInterrupt
    except KeyboardInterrupt:
        if stage.resume_path is None or not main:
            raise
        # never overwrite a good checkpoint with NaN
        _check_parameters(stage, state.step, kept, (g_opt, d_opt))
        resume.save_checkpoint(stage.resume_path, stage, state, g_opt, d_opt, rng)
        raise StageInterrupted(stage.name, state.step, stage.steps, stage.continue_with()) from None
    except OSError as exc:  # the disk filled up (the log, a checkpoint): say where; keep the rest
        raise DiskFull(exc, stage, kept) from None
    finally:
        deferring.__exit__(None, None, None)
        sync_check(False)
        if log:
            log.close()
        if progress is not None:
            progress.close()
    stage.G.requires_grad_(True)
    return state


class StageInterrupted(UnlearnError):
    """Ctrl-C or SIGTERM during a stage: its checkpoint was saved; `--resume` continues."""

    exit_code = 130
    keep_run_folder = True

    def __init__(self, stage: str, step: int, total: int, hint: str = "--resume RUN_FOLDER"):
        super().__init__(f"interrupted during {stage} at step {step} of {total}; its checkpoint "
                         f"was saved: continue with {hint}")


class DiskFull(UnlearnError):
    """A write failed during a stage (no space, quota, read-only): the run folder stays, with the
    last checkpoint and the finished stages, so `--resume` continues once space is freed."""

    keep_run_folder = True

    def __init__(self, exc: OSError, stage: Stage, kept: int | None):
        where = exc.filename or stage.log_path or stage.resume_path
        saved = (f"the checkpoint of step {kept} and finished stages are kept"
                 if kept is not None else "finished stages are kept")
        super().__init__(f"could not write {where}: {exc.strerror or exc}; {saved}: free space, "
                         f"then continue with {stage.continue_with()}")


def _open_log(path: Path):
    try:
        return open(path, "a")
    except OSError as exc:
        raise UnlearnError(f"could not write {path}: {exc.strerror or exc}; check free space and "
                           f"permissions") from None


def _append(log, path: Path, line: str) -> None:
    try:
        log.write(line)
        log.flush()
    except OSError as exc:
        if exc.filename is None:
            exc.filename = str(path)
        raise



def _sync_check(device: torch.device) -> Callable[[bool], None]:
    """GAN_UNLEARN_CHECK_SYNC=1 on a GPU: any host synchronisation inside a step is an error.

    benchmarks/gpu_check.sh sets it; a step must only queue work (losses are read back every
    ``log_every`` steps, outside the guarded part).
    """
    if device.type != "cuda" or os.environ.get("GAN_UNLEARN_CHECK_SYNC") != "1":
        return lambda on: None
    return lambda on: torch.cuda.set_sync_debug_mode("error" if on else "default")


def _test_interrupt_step(stage_name: str) -> int | None:
    """Tests simulate Ctrl-C after a given step: GAN_UNLEARN_TEST_INTERRUPT=STAGE:STEP."""
    name, _, step = os.environ.get("GAN_UNLEARN_TEST_INTERRUPT", "").rpartition(":")
    return int(step) if name == stage_name and step.isdigit() else None


def _test_signal_step(stage_name: str) -> tuple[int, int] | None:
    """Tests send the process a real signal in the middle of a step (between the D and the G
    update, the worst moment): GAN_UNLEARN_TEST_SIGNAL=STAGE:STEP:TERM|INT."""
    import signal

    parts = os.environ.get("GAN_UNLEARN_TEST_SIGNAL", "").rsplit(":", 2)
    if len(parts) != 3 or parts[0] != stage_name or not parts[1].isdigit():
        return None
    return int(parts[1]), {"TERM": signal.SIGTERM, "INT": signal.SIGINT}[parts[2]]


def _check_finite(record: dict, stage: Stage, kept: int | None = None) -> None:
    bad = [k for k, v in record.items() if isinstance(v, float) and not math.isfinite(v)]
    if bad:
        raise UnlearnError(_diverged(stage, ", ".join(bad), record["step"], kept))


@torch.no_grad()
def _check_parameters(stage: Stage, step: int, kept: int | None, optimizers=()) -> None:
    """Before a checkpoint is written: G, D and the optimisers' moments must be finite (one host
    sync, rare). An infinite exp_avg_sq with finite weights would diverge again on resume."""
    params = [p for module in (stage.G, stage.D) for p in module.parameters()]
    if params and not bool(torch.stack([torch.isfinite(p).all() for p in params]).all()):
        raise UnlearnError(_diverged(stage, "the parameters", step, kept))
    moments = [v for opt in optimizers for slots in opt.state.values()
               for v in slots.values() if torch.is_tensor(v) and v.is_floating_point()]
    if moments and not bool(torch.stack([torch.isfinite(v).all() for v in moments]).all()):
        raise UnlearnError(_diverged(stage, "the optimiser's moments", step, kept))


def _diverged(stage: Stage, what: str, step: int, kept: int | None) -> str:
    where = (f"; the last good checkpoint (step {kept}) is kept in {stage.resume_path}"
             if kept is not None and stage.resume_path is not None else "")
    return (f"{stage.name}: {what} became NaN or infinite by step {step}{where}; lower the "
            f"learning rate or gamma and start again")


class _progress:
    """A rich progress bar with the latest losses, or nothing when output is not a terminal."""

    def __new__(cls, stage: Stage, start: int):
        if not stage.show_progress:
            return None
        return super().__new__(cls)

    def __init__(self, stage: Stage, start: int):
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn(f"[bold]{stage.name}[/bold]"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"), TimeRemainingColumn(),
                            TextColumn("{task.fields[losses]}"), transient=False)
        self.task = self.bar.add_task(stage.name, total=stage.steps, completed=start, losses="")
        self.bar.start()

    def update(self, step: int, record: dict) -> None:
        text = " ".join(f"{k}={v:.3g}" for k, v in record.items()
                        if k not in ("stage", "step") and isinstance(v, float))
        self.bar.update(self.task, completed=step, losses=text)

    def close(self) -> None:
        self.bar.stop()
