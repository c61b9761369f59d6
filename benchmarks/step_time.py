"""Seconds per StyleGAN2 training step, FLOPs, and the fraction of this machine's conv peak.

One training step = one D step + one G step, non-saturating logistic loss, batch 16, Adam
(lr 0.002, betas (0, 0.99)), style mixing 0.9 as in training; the lazy regularisers (R1 every
16 D steps, path length every 4 G steps) are not part of the step. The D step runs G without a
graph and D on fakes and reals (separate calls, so minibatch-stddev groups never mix them); the
G step back-propagates through D without D's weight gradients, as the reference trainers do.

FLOPs are counted with torch.utils.flop_counter.FlopCounterMode over one step (forward and
backward, 2 FLOPs per multiply-add). The peak is measured in the same run: the best rate of a
large 3x3 convolution (batch 16, 512 -> 512 channels, 32x32 and 16x16, NCHW and channels-last,
forward only), sampled before and after every timed step, so that a step is compared with the
machine as it was at that moment (other work on a shared machine moves both). Fraction =
achieved FLOP/s / the higher of the two peak samples around the step; the table shows the best
step and lists all step times and peak samples. Each thread count is run separately (default:
all threads, then 1 thread, which is far less sensitive to other work on a small machine).

    python benchmarks/step_time.py                 # paper MNIST config + a small config
    python benchmarks/step_time.py --steps 3 --configs paper
    python benchmarks/step_time.py --profile       # top operators of one paper step
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import time

import torch
import torch.nn.functional as F

from unlearn_cli_plugins.stylegan2.plugin import PLUGIN

CONFIGS = {
    # the paper's MNIST model: 32 px, z 128, 8 mapping layers, 512 channels everywhere
    "paper": {"resolution": 32, "z_dim": 128, "w_dim": 128, "mapping_layers": 8,
              "channel_base": 32768, "channel_max": 512, "img_channels": 1},
    "small": {"resolution": 32, "z_dim": 64, "w_dim": 64, "mapping_layers": 4,
              "channel_base": 4096, "channel_max": 128, "img_channels": 1},
}
BATCH = 16


def conv_peak(device, repeats: int = 3) -> float:
    """Best FLOP/s of large 3x3 convolutions (forward) on this machine, fp32."""
    best = 0.0
    w = torch.randn(512, 512, 3, 3, device=device)
    for res in (32, 16):
        x = torch.randn(BATCH, 512, res, res, device=device)
        flops = 2 * BATCH * 512 * 512 * 9 * res * res
        for fmt in (torch.contiguous_format, torch.channels_last):
            xf, wf = x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)
            F.conv2d(xf, wf, padding=1)
            for _ in range(repeats):
                t = timed(lambda: F.conv2d(xf, wf, padding=1), device)
                best = max(best, flops / t)
    return best


def timed(fn, device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def make_step(cfg: dict, device, batch: int = BATCH):
    G, D = PLUGIN.build(cfg)
    G, D = G.to(device).train(), D.to(device).train()
    opt_g = torch.optim.Adam(G.parameters(), lr=0.002, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=0.002, betas=(0.0, 0.99))
    real = torch.rand(batch, cfg["img_channels"], cfg["resolution"], cfg["resolution"],
                      device=device) * 2 - 1

    def step():
        # D step
        D.requires_grad_(True)
        with torch.no_grad():
            fake = PLUGIN.generate_for_training(G, torch.randn(batch, G.z_dim, device=device))
        loss_d = F.softplus(D(fake)).mean() + F.softplus(-D(real)).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        # G step
        D.requires_grad_(False)
        fake = PLUGIN.generate_for_training(G, torch.randn(batch, G.z_dim, device=device))
        loss_g = F.softplus(-D(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        return loss_d.detach(), loss_g.detach()

    return step, G, D


def count_flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if "model name" in line)
    except (OSError, StopIteration):
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, "
            f"load average {load:.1f} before the run")


def run_config(name: str, device, steps: int, flops_cache: dict) -> tuple:
    """(flops, step times, peak samples) with a peak sample before and after every step."""
    cfg = CONFIGS[name]
    step, G, D = make_step(cfg, device)
    step()                                        # warm-up (allocations, oneDNN kernels)
    if name not in flops_cache:
        flops_cache[name] = count_flops(step)
    times, peaks = [], [conv_peak(device, repeats=1)]
    for _ in range(steps):                        # interleaved: both see the same contention
        times.append(timed(step, device))
        peaks.append(conv_peak(device, repeats=1))
    n_params = sum(p.numel() for p in G.parameters()) + sum(p.numel() for p in D.parameters())
    return flops_cache[name], times, peaks, n_params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="paper,small")
    ap.add_argument("--steps", type=int, default=2, help="timed steps per config (after 1 warm-up)")
    ap.add_argument("--threads", default="all,1",
                    help="comma list of CPU thread counts to run with ('all' = torch's default)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--no-tune-malloc", action="store_true",
                    help="leave glibc's allocator alone (see plugins/stylegan2/perf.py)")
    ap.add_argument("--profile", action="store_true", help="print the top operators instead")
    args = ap.parse_args()
    device = torch.device(args.device)
    tuned = False
    if device.type == "cpu" and not args.no_tune_malloc:
        from unlearn_cli_plugins.stylegan2.perf import tune_cpu_allocator
        tuned = tune_cpu_allocator()
    torch.manual_seed(0)
    if args.profile:
        step, _, _ = make_step(CONFIGS["paper"], device)
        step()
        from torch.profiler import ProfilerActivity, profile
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            step()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
        return
    default_threads = torch.get_num_threads()
    print(f"# {datetime.datetime.now().isoformat(timespec='minutes')} -- {machine()}, "
          f"allocator tuned: {tuned}, batch {BATCH}, float32, device {device}")
    print("| config | params (M) | threads | GFLOP/step | s/step best (all) | GFLOP/s "
          "| conv peak GFLOP/s around it | % of peak |")
    print("|---|---|---|---|---|---|---|---|")
    flops_cache: dict = {}
    thread_list = ["all"] if device.type != "cpu" else args.threads.split(",")
    for th in thread_list:
        torch.set_num_threads(default_threads if th == "all" else int(th))
        for name in args.configs.split(","):
            flops, times, peaks, n_params = run_config(name, device, args.steps, flops_cache)
            # each step against the higher of the peak samples taken just before and after it
            fracs = [flops / t / max(peaks[i], peaks[i + 1]) for i, t in enumerate(times)]
            i = max(range(len(times)), key=lambda j: fracs[j])
            rate = flops / times[i]
            print(f"| {name} | {n_params / 1e6:.1f} | {torch.get_num_threads()} "
                  f"| {flops / 1e9:.0f} | {times[i]:.2f} ({', '.join(f'{t:.2f}' for t in times)}) "
                  f"| {rate / 1e9:.1f} | {max(peaks[i], peaks[i + 1]) / 1e9:.0f} "
                  f"(all samples {', '.join(f'{p / 1e9:.0f}' for p in peaks)}) "
                  f"| {100 * fracs[i]:.0f}% |", flush=True)
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
