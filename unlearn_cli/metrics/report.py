"""The report a person reads: report.md and a self-contained report.html, plus the PNGs they show.

Written into the run folder at the end of `run`, and by `gan-unlearn eval --report DIR`. Top to
bottom: the headline (PUL, target share, FID with its kind, non-target shift), before/after
samples on the same latents, the negatives and positives used, class shares, training curves
(losses; normalised distance to the adapted models), every metric, the resolved config.
The report only reads what exists: a folder without train_log.jsonl has no training section.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from unlearn_cli.io.atomic import write_text
from unlearn_cli.io.images import save_png
from unlearn_cli.metrics.render import Block, render_html, render_markdown

GRID_SAMPLES = 64
LOG_SKIP = {"stage", "step", "sec_per_step", "distance"}
ADVERSARIAL = ("d_loss", "g_loss")


# --------------------------------------------------------------------------- headline and tables
def _pct(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.1f} %"


def _num(value) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def headline(metrics: dict) -> list[tuple[str, str]]:
    """The few lines that say what changed, as (label, value); every FID named by its kind."""
    ev = metrics.get("eval")
    if not ev:
        return [("evaluation", "not measured: no classifier and no unlearned model to compare "
                               "(give --classifier, or run `gan-unlearn eval`)")]
    t, n = ev["target"], ev["samples"]
    rows = []
    if ev.get("pul") is None:
        rows.append(("PUL", f"not defined: no sample was '{t}' before (of {n})"))
    else:
        rows.append(("PUL", f"{ev['pul']:.1f} % (samples classified '{t}': "
                            f"{ev['target_count_before']} -> {ev['target_count_after']} of {n})"))
    for name, one in (ev.get("per_target") or {}).items():  # several targets: each one's own PUL
        pul = "not defined (none before)" if one["pul"] is None else f"{one['pul']:.1f} %"
        rows.append((f"PUL of '{name}'", f"{pul} ({one['target_count_before']} -> "
                                         f"{one['target_count_after']} of {n})"))
    share = {role: sum(ev[f"class_share_{role}"].get(c, 0.0) for c in _targets(ev))
             for role in ("before", "after")}
    rows.append((f"share of '{t}'", f"{_pct(share['before'])} -> {_pct(share['after'])}"))
    levels = ev.get("target_count_at_confidence") or {}
    if levels:  # ambiguous samples are visible, not hidden in one number
        rows.append((f"'{t}' by confidence", "; ".join(f"{level}: {c['before']} -> {c['after']}"
                                                       for level, c in levels.items())))
    for prefix, kind in (("", "classifier-feature FID"), ("inception_", "Inception FID")):
        if f"{prefix}fid_before" in ev:
            rows.append((kind, f"{_num(ev[f'{prefix}fid_before'])} -> {_num(ev[f'{prefix}fid_after'])} "
                               f"(x{_num(ev.get(f'{prefix}fid_ratio'))}) vs {ev.get('fid_reference', 'real images')}"))
    if "fid_before" not in ev:
        rows.append(("FID", "not measured: no reference images (pass --reference)"))
    for prefix, kind in (("", "Ret-FID (classifier-feature)"), ("inception_", "Ret-FID (Inception)")):
        if f"{prefix}ret_fid" in ev:
            rows.append((kind, f"{_num(ev[f'{prefix}ret_fid_before'])} -> {_num(ev[f'{prefix}ret_fid'])} "
                               f"(vs the retrained model)"))
    if "kept_class_share_before" in ev:  # an attribute target: every class must keep its share
        rows.append((f"class shift (TV, classes by {ev.get('kept_classes_by')})",
                     f"{ev['nontarget_tv_distance']:.3f} (0 = the classes keep their proportions)"))
    else:
        rows.append(("non-target class shift (TV)", f"{ev['nontarget_tv_distance']:.3f} "
                                                    f"(0 = the other classes keep their proportions)"))
    for name, m in (ev.get("measures") or {}).items():
        rows.append((f"mean {name}", f"{m['before']['mean']:.3f} -> {m['after']['mean']:.3f}"))
    return rows


def metric_rows(metrics: dict) -> list[tuple[str, str]]:
    rows = [(k, str(metrics[k])) for k in ("method", "negatives", "positives", "positives_note")
            if metrics.get(k) is not None]
    for role, info in (metrics.get("models") or {}).items():
        rows.append((f"{role} model", f"{info['file']} (sha256 {info['sha256'][:12]}...)"))
    for name, info in (metrics.get("outputs") or {}).items():
        for item in info if isinstance(info, list) else [info]:
            rows.append((f"output ({name})", f"{item.get('file')} (sha256 {str(item.get('sha256'))[:12]}...)"))
    for key, value in (metrics.get("eval") or {}).items():
        if not key.startswith(("class_share_", "kept_class_share_")) and not isinstance(value, dict):
            rows.append((_fid_label(key), _num(value)))
    for stage, seconds in (metrics.get("timings_s") or {}).items():
        rows.append((f"time {stage}", f"{seconds:.1f} s"))
    return rows


def _fid_label(key: str) -> str:
    """Metric keys of FID values carry their kind in the table too."""
    if "fid" not in key or key.endswith("_kind") or "reference" in key:
        return key
    return f"{key} ({'Inception' if key.startswith('inception_') else 'classifier-feature'} FID)"


def _targets(ev: dict) -> list[str]:
    """The evaluation's target class names (metrics from before several targets: one)."""
    return list(ev.get("targets") or [ev["target"]])


def class_rows(ev: dict, prefix: str = "") -> list[tuple[str, str, str, str]]:
    before, after = ev[f"{prefix}class_share_before"], ev[f"{prefix}class_share_after"]
    rows = []
    for name in before:
        label = f"{name} (target)" if name in _targets(ev) else name
        change = 100 * (after.get(name, 0.0) - before[name])
        rows.append((label, _pct(before[name]), _pct(after.get(name)), f"{change:+.1f} pts"))
    return rows


# --------------------------------------------------------------------------- figures
def _sample_grids(out_dir: Path, G_before, G_after, config, device, classifier) -> str:
    """before_after.png: both models on the first latents of the evaluation, side by side."""
    import torch

    from unlearn_cli.io.images import save_grid, to_uint8
    from unlearn_cli.metrics.evaluate import eval_latents, eval_seed, generate_on, target_index
    from unlearn_cli.metrics.plots import framed_grid, side_by_side

    z = eval_latents(G_before, max(config.eval_samples, GRID_SAMPLES), eval_seed(config))[:GRID_SAMPLES]
    targets = [target_index(classifier, t) for t in config.targets] if classifier is not None else None
    panels = []
    for role, G in (("before", G_before), ("after", G_after)):
        images = torch.cat(list(generate_on(G, z, device)))
        save_grid(images, out_dir / f"samples_{role}.png", nrow=8)
        flags, note = None, ""
        if targets is not None:
            with torch.no_grad():
                top = classifier.probs(images).argmax(1).cpu()
            flags = torch.isin(top, torch.as_tensor(targets, dtype=top.dtype)).tolist()
            shown = "' or '".join(str(classifier.classes[t]) for t in targets)
            note = f": {sum(flags)} of {len(flags)} are '{shown}'"
        panels.append((f"{role}{note}", framed_grid(to_uint8(images), flags)))
    save_png(side_by_side(panels), out_dir / "before_after.png")
    return "before_after.png"


def _read_log(path: Path) -> list[dict]:
    records = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
            if isinstance(record, dict) and "stage" in record and "step" in record:
                records.append(record)
    return records


def _training_figures(out_dir: Path, records: list[dict]) -> dict[str, str]:
    from unlearn_cli.metrics.plots import line_chart, stack

    stages: dict[str, list[dict]] = {}
    for record in records:
        stages.setdefault(record["stage"], []).append(record)
    figures, panels, columns = {}, [], 1
    for stage, rows in stages.items():
        keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k not in LOG_SKIP
                and all(isinstance(r.get(k, 0.0), (int, float)) for r in rows)]
        groups = [[k for k in ADVERSARIAL if k in keys]] + [[k] for k in keys if k not in ADVERSARIAL]
        groups = [g for g in groups if g]
        columns = max(columns, len(groups))
        for group in groups:
            series = {k: ([r["step"] for r in rows if k in r], [r[k] for r in rows if k in r]) for k in group}
            name = "adversarial losses" if group[0] in ADVERSARIAL else group[0]
            panels.append(line_chart(series, f"{stage}: {name}", size=(380, 240)))
    if panels:
        save_png(stack(panels, columns=min(columns, 3)), out_dir / "loss_curves.png")
        figures["losses"] = "loss_curves.png"
    distance = [r for r in records if isinstance(r.get("distance"), (int, float))]
    if distance:
        # d/d0 = 1 at step 0 by definition; the log starts after the first log_every steps
        series = {s: ([0] + [r["step"] for r in distance if r["stage"] == s],
                      [1.0] + [r["distance"] for r in distance if r["stage"] == s])
                  for s in dict.fromkeys(r["stage"] for r in distance)}
        save_png(line_chart(series, "normalised distance d/d0 to the adapted model(s)", ylabel="d / d0",
                            size=(560, 280)), out_dir / "distance.png")
        figures["distance"] = "distance.png"
    return figures


def _measure_charts(out_dir: Path, ev: dict) -> str | None:
    """measures.png: each measurement's histogram before and after (attribute classifiers)."""
    from unlearn_cli.metrics.plots import line_chart, stack

    charts = []
    for name, m in (ev.get("measures") or {}).items():
        edges = m["edges"]
        centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
        series = {role: (centres, [100 * c / max(sum(m[role]["histogram"]), 1) for c in m[role]["histogram"]])
                  for role in ("before", "after")}
        charts.append(line_chart(series, f"{name}: % of samples per bin", xlabel=name, size=(420, 240)))
    if not charts:
        return None
    save_png(stack(charts, columns=2), out_dir / "measures.png")
    return "measures.png"


def _class_chart(out_dir: Path, ev: dict) -> str:
    from unlearn_cli.metrics.plots import bar_chart

    names = list(ev["class_share_before"])
    chart = bar_chart(names, {"before": [100 * ev["class_share_before"][c] for c in names],
                              "after": [100 * ev["class_share_after"].get(c, 0.0) for c in names]},
                      f"% of {ev['samples']} samples per class (target '{ev['target']}' in red)",
                      highlight=_targets(ev))
    save_png(chart, out_dir / "class_shares.png")
    return "class_shares.png"


# --------------------------------------------------------------------------- the report
def _config_blocks(out_dir: Path, config, settings: dict | None) -> list[tuple[str, list[Block]]]:
    """The run's resolved config (config.yaml, when the folder has one) and any eval settings."""
    import yaml

    from unlearn_cli.config import to_yaml

    path = out_dir / "config.yaml"
    sections = []
    if path.is_file():
        sections.append(("Resolved config", [Block("code", path.read_text(encoding="utf-8"))]))
    elif settings is None:
        sections.append(("Resolved config", [Block("code", to_yaml(config))]))
    if settings is not None:
        text = yaml.safe_dump(settings, sort_keys=False)
        sections.append(("Evaluation settings", [Block("code", text)]))
    return sections


def build_sections(out_dir: Path, metrics: dict, figures: dict[str, str], classifier_note: str) -> list[tuple[str, list[Block]]]:
    ev = metrics.get("eval") or {}
    sections = [("What changed", [Block("table", headline(metrics), header=("", ""))])]
    warnings = (metrics.get("source_stats") or {}).get("warnings") or []
    if warnings:
        sections.append(("Warnings", [Block("list", warnings)]))
    if "samples" in figures:
        sections.append(("Samples before and after (same latents)", [
            Block("image", figures["samples"], caption=f"The first {GRID_SAMPLES} evaluation latents "
                  f"through both generators. {classifier_note}")]))
    used = [Block("image", name, caption=caption) for name, caption in
            (("negatives.png", "Negatives: the samples the model was adapted to (what is to be forgotten)."),
             ("positives.png", "A sample of the positives: what unlearning trained on."))
            if (out_dir / name).is_file()]
    if used:
        note = metrics.get("positives_note")
        sections.append(("Negatives and positives used", used + ([Block("text", note)] if note else [])))
    if ev:
        blocks = [Block("table", class_rows(ev), header=("class", "before", "after", "change"))]
        if "classes" in figures:
            blocks.insert(0, Block("image", figures["classes"], caption="Share of each class among "
                                   "the evaluation samples, by the classifier's top class."))
        if "kept_class_share_before" in ev:
            blocks.append(Block("text", f"Classes by {ev.get('kept_classes_by')} (these must keep their shares):"))
            blocks.append(Block("table", class_rows(ev, "kept_"), header=("class", "before", "after", "change")))
        sections.append(("Class shares", blocks))
    if "measures" in figures:
        sections.append(("Measured attributes", [Block("image", figures["measures"], caption=(
            "Distribution of each measurement (Morpho-MNIST) among the evaluation samples, before "
            "and after, on the same latents."))]))
    training = [Block("image", figures[k], caption=c) for k, c in
                (("losses", "Losses per stage, from train_log.jsonl."),
                 ("distance", "Unlearning: mean squared parameter distance to the adapted model(s), "
                              "divided by its value at the start (1 = where unlearning began)."))
                if k in figures]
    if training:
        sections.append(("Training", training))
    sections.append(("Metrics", [Block("table", metric_rows(metrics), header=("metric", "value"))]))
    return sections


def write_report(out_dir, metrics: dict, G_before, G_after, config, device, classifier=None,
                 settings: dict | None = None) -> Path:
    """Write the PNGs, report.md and report.html into out_dir; returns the HTML's path.

    ``settings``: the options of `gan-unlearn eval`, shown instead of a run config the folder lacks.
    ``classifier``: the one the run or eval loaded (loaded once, passed in; None: no framing).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    figures = {}
    if G_after is not None:
        figures["samples"] = _sample_grids(out_dir, G_before, G_after, config, device, classifier)
    if metrics.get("eval"):
        figures["classes"] = _class_chart(out_dir, metrics["eval"])
        measures = _measure_charts(out_dir, metrics["eval"])
        if measures:
            figures["measures"] = measures
    figures.update(_training_figures(out_dir, _read_log(out_dir / "train_log.jsonl")))
    shown = "' or '".join(_targets(metrics["eval"])) if metrics.get("eval") else ""
    note = (f"Framed red: samples the classifier calls '{shown}'."
            if metrics.get("eval") and classifier is not None else "")
    title = (f"gan-unlearn {metrics.get('command', 'run')}: {metrics.get('method', 'before vs after')}")
    sections = build_sections(out_dir, metrics, figures, note) + _config_blocks(out_dir, config, settings)
    write_text(out_dir / "report.md", render_markdown(title, sections))
    html_path = out_dir / "report.html"
    write_text(html_path, render_html(title, sections, out_dir))
    return html_path


def write_run_report(out_dir, metrics: dict, G_before, G_after, config, device,
                     classifier=None) -> None:
    """For the end of `run`: the models and metrics.json are saved already, so a failing report
    is a warning, not a failed run."""
    try:
        write_report(out_dir, metrics, G_before, G_after, config, device, classifier=classifier)
    except Exception as exc:  # noqa: BLE001 - reported, never hidden
        if os.environ.get("GAN_UNLEARN_DEBUG", "") not in ("", "0"):
            raise
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        sys.stderr.write(f"warning: the report could not be written ({message}); "
                         f"`gan-unlearn eval --report DIR` can write it later\n")
