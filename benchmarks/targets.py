"""Forgetting two classes together vs one at a time, on the digits model (issue 17, part 2).

Runs the bundled default `gan-unlearn run` three times with the same seed: --target 3, --target 8,
and --target 3 --target 8, and prints PUL per target, the FID ratio, the non-target shift and the
wall time of each, one row per run, with the machine and date. Extra arguments go to every run.

    python benchmarks/targets.py [--seed 0] [-- --adapt-iters 100 ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def cpu_name() -> str:
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        return "unknown CPU"


def one_run(targets: list[str], seed: int, extra: list[str], work: Path) -> dict:
    out = work / ("t" + "-".join(targets))
    command = [sys.executable, "-m", "unlearn_cli", "run", "--ckpt", "bundled:digits", "--seed", str(seed), "--quiet",
               "--out", str(out), *[a for t in targets for a in ("--target", t)], *extra]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode:
        return {"targets": targets, "error": done.stderr.strip().splitlines()[-1:]}
    ev = json.loads((out / "metrics.json").read_text())["eval"]
    per = ev.get("per_target") or {ev["target"]: {"pul": ev["pul"]}}
    return {"targets": targets, "seed": seed, "pul": ev["pul"],
            "pul_per_target": {k: v["pul"] for k, v in per.items()},
            "fid_ratio": ev.get("fid_ratio"), "tv": ev["nontarget_tv_distance"], "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="append the rows to this JSONL file")
    ap.add_argument("extra", nargs="*")
    args = ap.parse_args()
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {cpu_name()}, {os.cpu_count()} cores, seed {args.seed}")
    print(f"{'targets':>8} {'PUL total':>9} {'PUL per target':>22} {'FID ratio':>9} {'TV':>6} {'wall s':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for targets in (["3"], ["8"], ["3", "8"]):
            row = one_run(targets, args.seed, args.extra, Path(tmp))
            if "error" in row:
                print(f"{'+'.join(targets):>8} failed: {row['error']}")
                continue
            per = ", ".join(f"{k}: {v}" for k, v in row["pul_per_target"].items())
            print(f"{'+'.join(targets):>8} {row['pul']!s:>9} {per:>22} {row['fid_ratio']!s:>9} "
                  f"{row['tv']:>6.3f} {row['wall_s']:>7}", flush=True)
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps({**row, "date": time.strftime("%Y-%m-%d"), "cpu": cpu_name()}) + "\n")


if __name__ == "__main__":
    main()
