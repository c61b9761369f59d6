"""Peak memory of a real run at realistic scale: full-width StyleGAN2 models built from configs.

For each resolution, a StyleGAN2 with the given widths is built from its config (random
weights: memory does not depend on what the weights are), saved as our .safetensors, and the
README's own command runs on it as a child process:

    gan-unlearn run --gan stylegan2 --ckpt FILE --neg NEGDIR --adapt-iters 2 --unlearn-iters 2
                    --batch 2 --device cpu --out DIR

The child's peak RSS is read from outside (getrusage of the children), and the run's own
metrics.json gives the peak after each stage. No downloads.

    python benchmarks/memory.py --res 64 128 256 [--preset paper256|cm2] [--json out.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRESETS = {
    # NVIDIA stylegan2-ada "paper256": z/w 512, 8 mapping layers, channel_base 16384, max 512
    "paper256": {"z_dim": 512, "w_dim": 512, "mapping_layers": 8, "channel_base": 16384,
                 "channel_max": 512, "conv_clamp": 256},
    # rosinality's default (channel_multiplier 2): channel_base 32768, max 512
    "cm2": {"z_dim": 512, "w_dim": 512, "mapping_layers": 8, "channel_base": 32768, "channel_max": 512},
}


def build_model(path: Path, resolution: int, preset: str) -> int:
    import torch

    from unlearn_cli.engine.models import model_parts
    from unlearn_cli.io.modelfile import save_model
    from unlearn_cli.plugins import get_registry

    plugin = get_registry().load("gan", "stylegan2")
    config = plugin.validate_config({**PRESETS[preset], "resolution": resolution, "img_channels": 3})
    torch.manual_seed(0)
    G, D = plugin.build(config)
    save_model(path, model_parts(G, G, D), gan="stylegan2", config=config, stage="pretrained")
    return sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters())


def write_negatives(folder: Path, resolution: int, count: int = 8) -> None:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        pixels = rng.integers(0, 256, (resolution, resolution, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"neg{i}.png")


def _run_polling_rss(command: list[str]) -> tuple[subprocess.CompletedProcess, int]:
    """Run ``command``, reading its VmRSS from /proc every 20 ms; returns the result and the
    largest RSS seen in kB (the run resets its own VmHWM per stage, so getrusage would not do)."""
    import threading

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        peak = [0]

        def poll() -> None:
            status = Path(f"/proc/{child.pid}/status")
            while child.poll() is None:
                try:
                    for line in status.read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            peak[0] = max(peak[0], int(line.split()[1]))
                except (OSError, ValueError, IndexError):
                    pass
                time.sleep(0.02)

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        child.wait()
        watcher.join()
        out.seek(0), err.seek(0)
        return subprocess.CompletedProcess(command, child.returncode, out.read(), err.read()), peak[0]


def measure(resolution: int, preset: str, work: Path, extra: list[str]) -> dict:
    ckpt, neg, out = work / f"sg2-{resolution}.safetensors", work / f"neg{resolution}", work / f"run{resolution}"
    g_params, d_params = build_model(ckpt, resolution, preset)
    write_negatives(neg, resolution)
    command = [sys.executable, "-m", "unlearn_cli", "run", "--gan", "stylegan2", "--ckpt", str(ckpt),
               "--neg", str(neg), "--adapt-iters", "2", "--unlearn-iters", "2", "--batch", "2",
               "--device", "cpu", "--out", str(out), "--quiet", *extra]
    started = time.perf_counter()
    done, polled_kb = _run_polling_rss(command)
    wall = time.perf_counter() - started
    row = {"resolution": resolution, "preset": preset, "g_params": g_params, "d_params": d_params,
           "rc": done.returncode, "wall_s": round(wall, 1),
           # read from outside: the run resets its own high-water mark between stages
           "peak_rss_mb": round(polled_kb / 1024, 1)}
    metrics = out / "metrics.json"
    if metrics.is_file():
        recorded = json.loads(metrics.read_text())
        row["stage_peaks_mb"] = recorded.get("memory_peak_mb")
        row["estimate_mb"] = recorded.get("memory_estimate_mb")
        row["timings_s"] = recorded.get("timings_s")
    if done.returncode:
        row["error"] = done.stderr.strip().splitlines()[-1:] 
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--res", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="paper256")
    ap.add_argument("--json", help="append the rows to this JSONL file")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("extra", nargs="*", help="more options for gan-unlearn run (after --)")
    args = ap.parse_args()
    if args.child:  # one resolution per process, so that ru_maxrss is this run's alone
        with tempfile.TemporaryDirectory() as tmp:
            print(json.dumps(measure(args.child, args.preset, Path(tmp), args.extra)))
        return
    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"# {time.strftime('%Y-%m-%d')} {cpu}, {os.cpu_count()} cores, preset {args.preset}")
    print(f"{'res':>5} {'G params':>10} {'D params':>10} {'rc':>3} {'peak RSS MB':>12} {'estimate':>9} {'wall s':>7}  per stage")
    for res in args.res:
        out = subprocess.run([sys.executable, __file__, "--child", str(res), "--preset", args.preset,
                              "--", *args.extra], capture_output=True, text=True)
        try:
            row = json.loads(out.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            print(f"{res:>5} failed: {out.stderr.strip()[-300:]}")
            continue
        row.update(date=time.strftime("%Y-%m-%d"), cpu=cpu)
        print(f"{res:>5} {row['g_params']:>10,} {row['d_params']:>10,} {row['rc']:>3} "
              f"{row['peak_rss_mb']!s:>12} {row.get('estimate_mb')!s:>9} {row['wall_s']:>7}  {row.get('stage_peaks_mb') or row.get('error')}")
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
