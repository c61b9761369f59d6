"""Speed of the unlearning step against this machine's compute floor (issue 9).

    python benchmarks/speed.py                       # paper + bundled configs, fp32 (+ bf16 if native)
    python benchmarks/speed.py --configs bundled --steps 5 --precisions fp32,bf16
    python benchmarks/speed.py --device cuda         # what benchmarks/gpu_check.sh runs
    python benchmarks/speed.py --profile bundled     # torch.profiler top operators of one step
    python benchmarks/speed.py --profile mnist --profile-precision bf16 --profile-shapes

What one "step" is: one iteration of the core's own loop (unlearn_cli/engine/loop.py, called
through run_stage exactly as `gan-unlearn unlearn` does): a D step on positives, G's fakes and the
adapted model's fakes (adapted_fakes 1.0), then a G step with the EL2 repulsion from one adapted
model, batch 16, Adam, EMA. The loop's lazy regularisers make steps differ: R1 runs every 16th
step, path length every 4th; the table gives the plain step (the FLOP count and the fraction of
peak are for it) and the average over 16 steps (plain + the measured extra of one path-length
step / 4 + the measured extra of one R1 step / 16).

Peak: the best rate of a large 3x3 convolution (batch 16, 512 -> 512 channels, 32x32 and 16x16,
forward), sampled before and after every timed step, so a step is compared with the machine as it
was at that moment (on a shared machine other work slows both). bf16's peak is the same
convolution in bfloat16; where it is far below fp32's (no AVX512-BF16/AMX), bf16 steps are not
timed (the tool refuses `--precision bf16` there) unless named in --precisions.

Each (config, precision) runs in its own process, so peak memory (max RSS, or the CUDA allocator's
peak) belongs to it alone. `--json FILE` keeps every number.
"""
from __future__ import annotations

import argparse
import datetime
import itertools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time

CONFIGS = {
    # the paper's MNIST model: 32 px, z = w = 128, 8 mapping layers, 512 channels everywhere, grey
    "paper": {"resolution": 32, "z_dim": 128, "w_dim": 128, "mapping_layers": 8,
              "channel_base": 32768, "channel_max": 512, "img_channels": 1},
    "bundled": "bundled:digits",  # the small, fast bundled model (the default until issue 15)
    "mnist": "bundled:mnist",     # the model `gan-unlearn run` uses by default
}
BATCH = 16


# ----------------------------------------------------------------------------- measuring
def timed(fn, device) -> float:
    import torch
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def conv_peak(device, dtype, repeats: int = 1) -> float:
    """Best FLOP/s of large 3x3 convolutions; a tiny probe first, so emulated bf16 stays quick."""
    import torch
    import torch.nn.functional as F
    w = torch.randn(512, 512, 3, 3, device=device, dtype=dtype)
    probe = torch.randn(1, 512, 8, 8, device=device, dtype=dtype)
    F.conv2d(probe, w, padding=1)
    rate = 2 * 512 * 512 * 9 * 64 / timed(lambda: F.conv2d(probe, w, padding=1), device)
    if rate < 5e9 and device.type == "cpu":  # emulated: the probe is the answer
        return rate
    best = 0.0
    for res in (32, 16):
        x = torch.randn(BATCH, 512, res, res, device=device, dtype=dtype)
        flops = 2 * BATCH * 512 * 512 * 9 * res * res
        for fmt in (torch.contiguous_format, torch.channels_last):
            xf, wf = x.contiguous(memory_format=fmt), w.contiguous(memory_format=fmt)
            F.conv2d(xf, wf, padding=1)
            for _ in range(repeats):
                best = max(best, flops / timed(lambda: F.conv2d(xf, wf, padding=1), device))
    return best


def build_stage(config_name: str, device, precision: str, channels_last: bool = False,
                compile_mode: str = "off"):
    """The unlearning stage exactly as engine/method.unlearn builds it, on random positives."""
    import torch
    from unlearn_cli.config import TrainOptions
    from unlearn_cli.engine.loop import Stage, make_optimizers
    from unlearn_cli.engine.method import adapted_fakes, repulsion_penalty
    from unlearn_cli.engine.models import clone, load_gan
    from unlearn_cli.plugins import get_registry

    torch.manual_seed(0)
    plugin = get_registry().load("gan", "stylegan2")
    spec = CONFIGS[config_name]
    if isinstance(spec, str):
        bundle = load_gan(spec, device=str(device))
        G0, D0 = bundle.G_ema, bundle.D
    else:
        G0, D0 = plugin.build(plugin.validate_config(spec))
        G0, D0 = G0.to(device), D0.to(device)
    G, G_ema, D, A = clone(G0), clone(G0, False), clone(D0), clone(G0, False)
    with torch.no_grad():  # a stand-in adapted model: a little away from G (d_0 > 0)
        for p in A.parameters():
            p.add_(torch.randn_like(p), alpha=1e-3)
    repulsion = get_registry().load("repulsion", "exp")(alpha=1.0)
    penalty, _ = repulsion_penalty(G, [A], repulsion, gamma=1.0)
    positives = torch.rand(256, G.img_channels, G.img_resolution, G.img_resolution, device=device) * 2 - 1
    if channels_last:  # a measurement for GPUs: the core does not convert (yet)
        for module in (G, G_ema, D, A):
            module.to(memory_format=torch.channels_last)
        positives = positives.contiguous(memory_format=torch.channels_last)
    stage = Stage("speed", G, D, G_ema, positives, 0, TrainOptions(batch=BATCH, log_every=10**9),
                  seed=0, g_penalty=penalty, extras=plugin, show_progress=False,
                  precision=precision, extra_fakes=adapted_fakes([A], 1.0))
    from unlearn_cli.engine.compiling import attach
    attach(stage, compile_mode)
    return stage, make_optimizers(stage), penalty


def step_at(stage, optimizers, state, index: int) -> None:
    """One loop iteration with step number ``index`` (which decides R1 / path length)."""
    from unlearn_cli.engine.loop import run_stage
    state.step, stage.steps = index, index + 1
    run_stage(stage, state, optimizers)


# operators that only make or reshape tensor metadata (or allocate): no kernel runs for them
METADATA_OPS = {"aten::" + n for n in (
    "empty", "empty_strided", "empty_like", "as_strided", "as_strided_", "view", "_reshape_alias",
    "reshape", "resize_", "resolve_conj", "resolve_neg", "result_type", "t", "transpose",
    "expand", "unsqueeze", "squeeze", "select", "slice", "alias", "_unsafe_view", "permute",
    "detach", "detach_", "lift_fresh", "set_", "is_nonzero", "item", "_local_scalar_dense")} | {"detach"}


def launches_per_step(stage, optimizers, state, index: int) -> int:
    """Kernels run in one plain step: profiler events that do work (not metadata, see above) and
    call no other such event (an aten op's innermost call, or one kernel generated by inductor)."""
    from torch.profiler import ProfilerActivity, profile as torch_profile
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step_at(stage, optimizers, state, index)
    events = [e for e in prof.events() if e.name not in METADATA_OPS]
    parents = {id(e.cpu_parent) for e in events if e.cpu_parent is not None}
    return sum(1 for e in events if id(e) not in parents)


def measure_one(config_name: str, precision: str, device_name: str, steps: int,
                channels_last: bool = False, compile_mode: str = "off") -> dict:
    import torch
    from unlearn_cli.engine.loop import LoopState
    from torch.utils.flop_counter import FlopCounterMode

    device = torch.device(device_name)
    if device.type == "cpu":
        from unlearn_cli.engine.cpu_allocator import tune_cpu_allocator  # as `run` does on CPU
        tune_cpu_allocator()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    if compile_mode == "on":  # each generated kernel shows in the profiler (launch counts)
        import torch._inductor.config as inductor_config
        inductor_config.cpp.enable_kernel_profile = True
    from unlearn_cli.engine.compiling import compile_seconds
    stage, optimizers, penalty = build_stage(config_name, device, precision, channels_last, compile_mode)
    state = LoopState()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for index in (0, 1, 4):                                # warm-up: R1, plain and path-length
        step_at(stage, optimizers, state, index)           # steps (kernels, compiling, allocations)
    warm_up_s, compile_s = time.perf_counter() - started, compile_seconds()
    launches = launches_per_step(stage, optimizers, state, 5)
    compiled = stage.G_compiled, stage.D_compiled
    stage.G_compiled = stage.D_compiled = None             # FLOPs are counted on the eager ops
    with FlopCounterMode(display=False) as counter:
        step_at(stage, optimizers, state, 1)
    flops = counter.get_total_flops()
    stage.G_compiled, stage.D_compiled = compiled
    peaks, plain = [conv_peak(device, dtype)], []
    for i in range(steps):                                  # interleaved with peak samples
        plain.append(timed(lambda: step_at(stage, optimizers, state, 1 + 4 * i + 1), device))
        peaks.append(conv_peak(device, dtype))
    pl_step = timed(lambda: step_at(stage, optimizers, state, 4 * steps + 4), device)   # path length
    r1_step = timed(lambda: step_at(stage, optimizers, state, 16 * steps + 16), device)  # R1 + PL
    best = min(plain)
    average = best + max(pl_step - best, 0) / 4 + max(r1_step - pl_step, 0) / 16
    i = plain.index(best)
    peak_near = max(peaks[i], peaks[i + 1])

    def repulsion_only():  # forward + backward of the penalty alone, as inside the G step
        penalty()["repulsion"].backward()
    repulsion_only()
    repulsion_s = min(timed(repulsion_only, device) for _ in range(5))
    G = stage.G_ema
    sample_batch = 64 if config_name == "paper" else 256
    z = torch.randn(sample_batch, G.z_dim, device=device)
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        G(z, noise_mode="const")
        sample_s = min(timed(lambda: G(z, noise_mode="const"), device) for _ in range(3))
    if device.type == "cuda":
        peak_memory = torch.cuda.max_memory_allocated()
    else:
        peak_memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    n_params = sum(p.numel() for p in stage.G.parameters()) + sum(p.numel() for p in stage.D.parameters())
    return {"config": config_name + (" channels-last" if channels_last else ""),
            "precision": precision, "device": device_name, "compile": compile_mode,
            "warm_up_s": round(warm_up_s, 2), "compile_s": compile_s, "launches_per_step": launches,
            "threads": torch.get_num_threads(), "params_m": round(n_params / 1e6, 2),
            "gflop_per_step": round(flops / 1e9, 2), "plain_steps_s": [round(t, 4) for t in plain],
            "plain_step_s": round(best, 4), "path_length_step_s": round(pl_step, 4),
            "r1_step_s": round(r1_step, 4), "average_step_s": round(average, 4),
            "gflops_achieved": round(flops / best / 1e9, 2),
            "conv_peak_samples_gflops": [round(p / 1e9, 1) for p in peaks],
            "fraction_of_peak": round(flops / best / peak_near, 3),
            "repulsion_s": round(repulsion_s, 5), "repulsion_share": round(repulsion_s / best, 4),
            "sampling_images_per_s": round(sample_batch / sample_s, 1),
            "peak_memory_mb": round(peak_memory / 2**20)}


# ----------------------------------------------------------------------------- the report
def help_startup(repeats: int = 7) -> dict:
    exe = shutil.which("gan-unlearn")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "unlearn_cli", "--help"]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return {"command": " ".join(["gan-unlearn" if exe else "python -m unlearn_cli", "--help"]),
            "best_s": round(min(times), 3), "median_s": round(statistics.median(times), 3)}


def machine(device_name: str) -> dict:
    import torch
    cpu = platform.processor() or platform.machine()
    flags = set()
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
        cpu = next(line.split(":", 1)[1].strip() for line in text.splitlines() if "model name" in line)
        flags = set(next(line for line in text.splitlines() if line.startswith("flags")).split())
    except (OSError, StopIteration):
        pass
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
            "cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__,
            "cpu_bf16_flags": sorted(flags & {"avx512_bf16", "amx_bf16", "amx_tile"}),
            "load_average": round(os.getloadavg()[0], 2)}
    if device_name == "cuda" and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def peaks_now(device_name: str) -> dict:
    import torch
    device = torch.device(device_name)
    return {p: round(conv_peak(device, dt, repeats=2) / 1e9, 1)
            for p, dt in (("fp32", torch.float32), ("bf16", torch.bfloat16))}


def table(rows: list[dict]) -> list[str]:
    lines = ["| config | precision | compile | threads | params (M) | GFLOP/step | plain step s (all) "
             "| avg step s (R1, PL amortised) | GFLOP/s | % of conv peak | repulsion % of step "
             "| sampling img/s | peak memory MB | kernel launches/step | warm-up s (compiling s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['config']} | {r['precision']} | - | - | - | - | skipped: {r['skipped']} "
                         f"| - | - | - | - | - | - | - | - |")
            continue
        lines.append(
            f"| {r['config']} | {r['precision']} | {r.get('compile', 'off')} | {r['threads']} | {r['params_m']} "
            f"| {r['gflop_per_step']} | {r['plain_step_s']} ({', '.join(map(str, r['plain_steps_s']))}) "
            f"| {r['average_step_s']} | {r['gflops_achieved']} "
            f"| {100 * r['fraction_of_peak']:.0f}% (peak samples {', '.join(map(str, r['conv_peak_samples_gflops']))}) "
            f"| {100 * r['repulsion_share']:.2f}% | {r['sampling_images_per_s']} | {r['peak_memory_mb']} "
            f"| {r.get('launches_per_step', '-')} | {r.get('warm_up_s', '-')} ({r.get('compile_s', '-')}) |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", default="paper,bundled")
    ap.add_argument("--precisions", default=None,
                    help="comma list; default fp32, plus bf16 where its conv peak beats fp32's")
    ap.add_argument("--steps", type=int, default=2, help="timed plain steps per run")
    ap.add_argument("--device", default=None, help="cpu or cuda (default: cuda if present)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's)")
    ap.add_argument("--channels-last", action="store_true",
                    help="also time every run with G, D and the data in channels-last format")
    ap.add_argument("--compare", action="store_true",
                    help="time every run eager and compiled (torch.compile, as --compile on does)")
    ap.add_argument("--compare-run", nargs=argparse.REMAINDER, default=None, metavar="RUN_FLAGS",
                    help="time the default `gan-unlearn run` (plus RUN_FLAGS) eager and compiled")
    ap.add_argument("--json", default=None, help="also write every number to this file")
    ap.add_argument("--profile", default=None, metavar="CONFIG",
                    help="print torch.profiler's top operators of one plain step instead")
    ap.add_argument("--profile-precision", default="fp32", choices=["fp32", "bf16"],
                    help="the precision --profile runs the step in")
    ap.add_argument("--profile-shapes", action="store_true",
                    help="--profile groups operators by input shapes (which convolution is slow)")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # CONFIG:PRECISION, in a child
    args = ap.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if args.one:
        name, precision, layout, compile_mode = args.one.split(":")
        print(json.dumps(measure_one(name, precision, device, args.steps, layout == "channels_last",
                                     compile_mode)))
        return
    if args.profile:
        return profile(args.profile, device, args.profile_precision, args.profile_shapes)
    if args.compare_run is not None:
        return compare_run(args.compare_run)
    info = machine(device)
    peaks = peaks_now(device)
    precisions = (args.precisions.split(",") if args.precisions
                  else ["fp32"] + (["bf16"] if peaks["bf16"] > peaks["fp32"] else []))
    print(f"# {info['date']} -- {info.get('gpu', info['cpu'])}, {info['cores']} cores, torch "
          f"{info['torch']}, device {device}, batch {BATCH}, load average {info['load_average']}")
    print(f"# conv peak GFLOP/s: fp32 {peaks['fp32']}, bf16 {peaks['bf16']} "
          f"(CPU bf16 flags: {', '.join(info['cpu_bf16_flags']) or 'none'})", flush=True)
    rows = []
    layouts = ["contiguous"] + (["channels_last"] if args.channels_last else [])
    compile_modes = ["off", "on"] if args.compare else ["off"]
    for name, precision, layout, compile_mode in itertools.product(
            args.configs.split(","), precisions, layouts, compile_modes):
        cmd = [sys.executable, __file__, "--one", f"{name}:{precision}:{layout}:{compile_mode}",
               "--device", device, "--steps", str(args.steps)]
        cmd += ["--threads", str(args.threads)] if args.threads else []
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"{name} {precision} {layout} failed (compile {compile_mode}):\n{done.stderr[-3000:]}")
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(table(rows[-1:])[-1], flush=True)
    if "bf16" not in precisions:
        rows.append({"config": "all", "precision": "bf16",
                     "skipped": f"bf16 conv peak {peaks['bf16']} GFLOP/s vs fp32 {peaks['fp32']}"})
    startup = help_startup()
    lines = table(rows)
    lines.append(f"\n`{startup['command']}`: best {startup['best_s']} s, median {startup['median_s']} s "
                 f"(7 runs); load average after the run: {os.getloadavg()[0]:.2f}")
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "conv_peak_gflops": peaks, "rows": rows, "help": startup}, f, indent=2)


def compare_run(extra: list[str]) -> None:
    """The default job (`gan-unlearn run`, plus ``extra`` flags) eager and compiled, one after
    the other in this invocation: wall time, the run's own stage times, PUL."""
    import tempfile
    exe = shutil.which("gan-unlearn")
    base = [exe] if exe else [sys.executable, "-m", "unlearn_cli"]
    info = machine("cpu")
    print(f"# {info['date']} -- {info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
          f"CPU bf16 flags: {', '.join(info['cpu_bf16_flags']) or 'none'}; gan-unlearn run {' '.join(extra)}")
    print("| --compile | wall s | adapt s | unlearn s | compiling s | PUL % | FID ratio |\n|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("off", "on"):
            out = os.path.join(tmp, mode)
            started = time.perf_counter()
            subprocess.run([*base, "run", "--compile", mode, "--out", out, "--quiet", *extra],
                           check=True, capture_output=True)
            wall = time.perf_counter() - started
            with open(os.path.join(out, "metrics.json")) as f:
                m = json.load(f)
            t = m["timings_s"]
            print(f"| {mode} | {wall:.1f} | {t.get('adapt', 0):.1f} | {t.get('unlearn', 0):.1f} "
                  f"| {t.get('compiling', 0):.1f} | {m['eval']['pul']} | {m['eval'].get('fid_ratio')} |",
                  flush=True)


def profile(name: str, device_name: str, precision: str = "fp32", shapes: bool = False) -> None:
    import torch
    from torch.profiler import ProfilerActivity, profile as torch_profile
    from unlearn_cli.engine.loop import LoopState

    device = torch.device(device_name)
    stage, optimizers, _ = build_stage(name, device, precision)
    state = LoopState()
    step_at(stage, optimizers, state, 0)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch_profile(activities=activities, record_shapes=shapes) as prof:
        step_at(stage, optimizers, state, 1)
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages(group_by_input_shape=shapes).table(
        sort_by=sort, row_limit=25, max_shapes_column_width=100))


if __name__ == "__main__":
    main()
