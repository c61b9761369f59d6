"""Unlearning quality on the digits model: every method and repulsion over several seeds.

    python benchmarks/quality.py [--seeds 0 1 2] [--methods ...] [--repulsions ...] [--set KEY=VALUE]
                                 [--out runs/quality] [--markdown docs/results-table.md]
    python benchmarks/quality.py --from docs/results-runs.jsonl   # the table again, from saved rows

For each (method, repulsion, seed) it runs the whole job in-process exactly as
`gan-unlearn run --method M --repulsion R --seed S` would, then re-counts the target with an
independent judge classifier (`digits-judge`, a different architecture trained separately) on
the same latents. Prints one JSON line per run and a table of mean and spread.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import yaml

from unlearn_cli.config import RunConfig, resolve
from unlearn_cli.engine.models import load_gan
from unlearn_cli.engine.pipeline import run
from unlearn_cli.metrics.evaluate import evaluate_pair
from unlearn_cli.plugins import get_registry


def one_run(method: str, repulsion: str, seed: int, out: Path, overrides: dict) -> dict:
    # the digits model: what these rows were measured on (the MNIST default is benchmarks/suite.py's)
    config = resolve(RunConfig, None, {"ckpt": "bundled:digits", **overrides, "method": method, "repulsion": repulsion,
                                       "seed": seed, "out": str(out), "overwrite": True})
    started = time.perf_counter()
    metrics = run(config, show_progress=False, echo=lambda _m: None)
    seconds = time.perf_counter() - started
    judge = get_registry().load("classifier", "digits-judge")(None, "cpu")
    before = load_gan(config.ckpt).G_ema
    after = load_gan(str(out / "unlearned.safetensors")).G_ema
    judged = evaluate_pair(before, after, judge, config.model_copy(update={"reference": None}), "cpu")
    ev = metrics["eval"]
    return {"method": method, "repulsion": repulsion, "seed": seed,
            "set": {k: v for k, v in overrides.items()}, "pul": ev["pul"],
            "fid_before": ev.get("fid_before"), "fid_after": ev.get("fid_after"),
            "fid_ratio": ev.get("fid_ratio"), "tv": ev["nontarget_tv_distance"],
            "judge_pul": judged["pul"], "judge_target_before": judged["target_count_before"],
            "judge_target_after": judged["target_count_after"],
            "target_share_before": ev["class_share_before"][ev["target"]],
            "target_share_after": ev["class_share_after"][ev["target"]],
            "adapted_target_share": [a.get("target_share") for a in metrics["outputs"].get("adapted", [])],
            "seconds": round(seconds, 1)}


def _default(key: str, defaults: RunConfig):
    """The current default of a config key (``train.lr`` style), so a row run with a value that
    has since become the default is labelled "defaults"."""
    value = defaults
    for part in key.split("."):
        value = getattr(value, part, None)
    if value is None and "." not in key:  # an option that moved into its component's options
        for kind in ("source", "repulsion", "method", "classifier"):
            options = getattr(defaults, f"{kind}_options", None) or {}
            if key in options:
                return options[key]
    return value


def summarise(rows: list[dict]) -> list[str]:
    def stat(values):
        values = [v for v in values if v is not None]
        if not values:
            return "-"
        mean = statistics.fmean(values)
        spread = statistics.pstdev(values) if len(values) > 1 else 0.0
        return f"{mean:.2f} ± {spread:.2f}"

    lines = ["| method | repulsion | options | seeds | PUL % | judge PUL % | FID before | FID after | FID ratio | class shift (TV) | time s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    groups: dict[tuple, list[dict]] = {}
    defaults = RunConfig()
    for r in rows:
        options = ", ".join(f"{k} {v}" for k, v in sorted((r.get("set") or {}).items())
                            if v != _default(k, defaults)) or "defaults"
        repulsion = r["repulsion"] if r["method"] == "adapt-then-unlearn" else "-"
        groups.setdefault((r["method"], repulsion, options), []).append(r)
    for (method, repulsion, options), rs in groups.items():
        lines.append(f"| {method} | {repulsion} | {options} | {len(rs)} | {stat([r['pul'] for r in rs])} | "
                     f"{stat([r['judge_pul'] for r in rs])} | {stat([r['fid_before'] for r in rs])} | "
                     f"{stat([r['fid_after'] for r in rs])} | {stat([r['fid_ratio'] for r in rs])} | "
                     f"{stat([r['tv'] for r in rs])} | {stat([r['seconds'] for r in rs])} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["adapt-then-unlearn", "finetune", "extrapolation"])
    parser.add_argument("--repulsions", nargs="+", default=["exp", "l2", "inverse"])
    parser.add_argument("--set", action="append", default=[], help="config override KEY=VALUE")
    parser.add_argument("--out", default="runs/quality")
    parser.add_argument("--markdown", default=None, help="also write the table to this file")
    parser.add_argument("--from", dest="saved", nargs="+", default=None, metavar="JSONL",
                        help="print the table of rows saved earlier (one JSON object per line)")
    args = parser.parse_args()
    if args.saved:
        rows = [json.loads(line) for path in args.saved for line in Path(path).read_text().splitlines()
                if line.startswith("{")]
        print("\n".join(summarise(rows)))
        return
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = yaml.safe_load(value)
    rows = []
    for method in args.methods:
        repulsions = args.repulsions if method == "adapt-then-unlearn" else [args.repulsions[0]]
        for repulsion in repulsions:
            for seed in args.seeds:
                out = Path(args.out) / f"{method}-{repulsion}-{seed}"
                row = one_run(method, repulsion, seed, out, overrides)
                rows.append(row)
                print(json.dumps(row), flush=True)
    table = summarise(rows)
    print("\n".join(table))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(table) + "\n")


if __name__ == "__main__":
    main()
