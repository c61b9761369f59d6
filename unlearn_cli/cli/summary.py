"""The table printed at the end of a run."""
from __future__ import annotations


def print_summary(metrics: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from unlearn_cli.safe_text import for_rich as esc  # folder, file and class names are the user's

    table = Table(title=esc(f"gan-unlearn: {metrics.get('method', '')} -> {metrics.get('out_dir', '')}"),
                  show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value")
    table.add_row("negatives used", str(metrics.get("negatives")))
    table.add_row("positives used", str(metrics.get("positives")))
    for item in (metrics.get("outputs") or {}).get("adapted", []):
        if "target_share" in item:
            table.add_row(esc(f"target share of {item['file']}"), f"{100 * item['target_share']:.1f}%")
    ev = metrics.get("eval") or {}
    if ev:
        table.add_row("target", esc(ev.get("target")))
        table.add_row(f"target samples before / after (of {ev['samples']})",
                      f"{ev['target_count_before']} / {ev['target_count_after']}")
        table.add_row("PUL %", "-" if ev.get("pul") is None else f"{ev['pul']:.1f}")
        for name, one in (ev.get("per_target") or {}).items():  # several targets
            table.add_row(esc(f"PUL % of '{name}'"), "-" if one["pul"] is None else f"{one['pul']:.1f}")
        if "fid_before" in ev:
            table.add_row("classifier-feature FID before / after",
                          f"{ev['fid_before']:.2f} / {ev['fid_after']:.2f} (x{ev['fid_ratio']:.2f})")
        for level, counts in (ev.get("target_count_at_confidence") or {}).items():
            table.add_row(f"target samples at {level}", f"{counts['before']} / {counts['after']}")
        if "kept_class_share_before" in ev:  # an attribute target: all classes must keep their shares
            table.add_row(esc(f"class shift (TV, classes by {ev.get('kept_classes_by')})"),
                          f"{ev['nontarget_tv_distance']:.3f}")
        else:
            table.add_row("non-target class shift (TV)", f"{ev['nontarget_tv_distance']:.3f}")
    if not ev and metrics.get("eval_note"):
        table.add_row("evaluation", esc(metrics["eval_note"]))
    for stage, seconds in (metrics.get("timings_s") or {}).items():
        table.add_row(f"time {stage}", f"{seconds:.1f} s")
    Console().print(table)
