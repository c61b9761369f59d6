"""The unlearning step with and without each of issue 18's step-level changes, in one process.

    python benchmarks/step_variants.py                    # bundled:mnist, fp32 (+ bf16), 3 rounds
    python benchmarks/step_variants.py --config bundled --rounds 5 --json runs/variants.json

Variants (each switches one change off; "all" is the code as it is):
  all            the loop as shipped
  separate-d     D called once per batch (the plugin's ``discriminate_chunks`` hidden)
  strided-blur   the bf16 CPU down-sampling filter as a strided depthwise convolution again
                 (only differs under bf16)

A round times every variant once, in turn, so a slower moment of a shared machine hits all of
them; the table gives each variant's best and median seconds per step over the rounds (the
average over 64 steps after 16 warm-up steps, i.e. with R1 and path length amortised) and the
ratio of its median to "all"'s. Steps come from the core's own loop (speed.build_stage).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import speed  # noqa: E402  (the same stage the speed table times)

VARIANTS = ("all", "separate-d", "strided-blur")


class _WithoutChunks:
    """The gan plugin with ``discriminate_chunks`` hidden: the loop falls back to one D call each."""

    def __init__(self, plugin):
        self._plugin = plugin

    def __getattr__(self, name):
        if name == "discriminate_chunks":
            raise AttributeError(name)
        return getattr(self._plugin, name)


@contextlib.contextmanager
def _variant(name: str, stage):
    from unlearn_cli_plugins.stylegan2 import layers
    saved = layers._bf16_on_cpu
    if name == "separate-d":
        stage.extras = _WithoutChunks(stage.extras)
    if name == "strided-blur":
        layers._bf16_on_cpu = lambda x: False
    try:
        yield
    finally:
        layers._bf16_on_cpu = saved


def time_variant(config: str, precision: str, name: str, warmup: int, steps: int) -> float:
    import torch
    from unlearn_cli.engine.loop import LoopState, run_stage
    stage, optimizers, _ = speed.build_stage(config, torch.device("cpu"), precision)
    with _variant(name, stage):
        state = LoopState()
        stage.steps = warmup
        run_stage(stage, state, optimizers)
        stage.steps = warmup + steps
        start = time.perf_counter()
        run_stage(stage, state, optimizers)
        return (time.perf_counter() - start) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default="mnist", choices=sorted(speed.CONFIGS))
    ap.add_argument("--precisions", default=None,
                    help="default: fp32, plus bf16 where the CPU has bf16 instructions")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=16)
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--json", help="write every timing here")
    args = ap.parse_args(argv)
    import torch
    info = speed.machine("cpu")
    precisions = (args.precisions or ("fp32,bf16" if info["cpu_bf16_flags"] else "fp32")).split(",")
    print(f"# {info['date']} -- {info['cpu']}, {info['cores']} cores, torch {info['torch']}, "
          f"{torch.get_num_threads()} threads, config {args.config}, CPU bf16 flags: "
          f"{', '.join(info['cpu_bf16_flags']) or 'none'}, load average {info['load_average']}")
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.rounds):
        for precision in precisions:
            for name in VARIANTS:
                if name == "strided-blur" and precision != "bf16":
                    continue
                t = time_variant(args.config, precision, name, args.warmup, args.steps)
                times.setdefault((precision, name), []).append(t)
    print("| precision | variant | best s/step | median s/step | median / all's |")
    print("|---|---|---|---|---|")
    for (precision, name), ts in times.items():
        ratio = statistics.median(ts) / statistics.median(times[(precision, "all")])
        print(f"| {precision} | {name} | {min(ts):.4f} | {statistics.median(ts):.4f} | "
              f"{ratio:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({**info, "config": args.config,
                       "times": {f"{p}/{n}": ts for (p, n), ts in times.items()}}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
