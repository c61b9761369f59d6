"""`gan-unlearn eval --before A --after B`: the measurements `run` makes, on two model files.

Same code path, latents and defaults as the end of `run` (unlearn_cli.engine.evaluation, then
unlearn_cli.metrics.evaluate), so the
same models, seed and sample count give the same PUL. See docs/evaluation.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

_F = "FID"
# what --report writes that a run folder also has (metrics/report.py); checked before any work
REPORT_FILES = ("report.md", "report.html", "eval.json", "samples_before.png", "samples_after.png",
                "before_after.png", "class_shares.png")


def evaluate(
    before: str = typer.Option(..., "--before", help="Model before unlearning: a file load_gan reads, or bundled:NAME."),
    after: str = typer.Option(..., "--after", help="Model after unlearning (e.g. a run's unlearned.safetensors)."),
    gan: Optional[str] = typer.Option(None, help="GAN plugin for foreign checkpoints (default stylegan2)."),
    classifier: Optional[str] = typer.Option(None, help="Classifier plugin that decides what is the target (default: the one --after's run used)."),
    classifier_path: Optional[str] = typer.Option(None, help="File for the classifier (e.g. TorchScript)."),
    target: Optional[str] = typer.Option(None, help="Class or attribute that was forgotten (default: --after's run's)."),
    samples: Optional[int] = typer.Option(None, help="Samples per model, same latents for both (default: --after's run's, else 2000)."),
    seed: Optional[int] = typer.Option(None, help="The run's seed: the latents are drawn from 10000 + seed (default: --after's run's, else 0)."),
    reference: Optional[str] = typer.Option(None, help="Real images for FID: a dataset plugin name or a folder (default: --after's run's).", rich_help_panel=_F),
    inception_weights: Optional[Path] = typer.Option(None, help="Inception-v3 weights file (torch-fidelity format): adds an Inception FID.", rich_help_panel=_F),
    retrained: Optional[str] = typer.Option(None, help="Model retrained without the feature: adds Ret-FID.", rich_help_panel=_F),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    report: Optional[Path] = typer.Option(None, help="Also write report.md/report.html (and PNGs) into this folder."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a report already in --report (e.g. a run folder's own)."),
    json_output: bool = typer.Option(False, "--json", help="Print JSON only."),
) -> None:
    """Measure what unlearning changed: PUL, class shares, non-target shift, FID (labelled by kind)."""
    from unlearn_cli.config import RunConfig
    from unlearn_cli.engine.devices import pick_device
    from unlearn_cli.errors import UnlearnError
    from unlearn_cli.engine.evaluation import evaluate_files, recorded_settings

    if report is not None and report.exists() and not report.is_dir():
        raise UnlearnError(f"--report {report} is a file; give a folder")
    if report is not None:  # a run folder's own report is not replaced by accident
        from unlearn_cli.io.atomic import check_outputs

        check_outputs([report / name for name in REPORT_FILES], overwrite,
                      inputs=[before, after, retrained, inception_weights])
    given = {"classifier": classifier, "classifier_path": classifier_path, "target": target,
             "eval_samples": samples, "seed": seed, "reference": reference}
    settings = recorded_settings(before, after, given)
    classifier, classifier_path, target = settings["classifier"], settings["classifier_path"], settings["target"]
    samples, seed, reference = settings["eval_samples"], settings["seed"], settings["reference"]
    if device not in ("auto", "cpu", "cuda"):
        raise UnlearnError(f"--device must be auto, cpu or cuda, not '{device}'")
    if samples < 2:
        raise UnlearnError("--samples must be at least 2")
    if seed < 0:
        raise UnlearnError("--seed must not be negative")
    config = RunConfig(ckpt=before, gan=gan, classifier=classifier, classifier_path=classifier_path,
                       target=target, eval_samples=samples, seed=seed, reference=reference,
                       device=device)
    torch_device = pick_device(device)
    data, models = evaluate_files(before, after, config, torch_device, gan=gan, retrained=retrained,
                                  inception_weights=str(inception_weights) if inception_weights else None)
    if report is not None:
        import json

        from unlearn_cli.io.atomic import write_text
        from unlearn_cli.metrics.report import write_report

        try:
            report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UnlearnError(f"cannot create report folder {report}: {exc.strerror or exc}") from None
        write_text(report / "eval.json", json.dumps(data, indent=2, sort_keys=True, default=str))
        settings = {"before": before, "after": after, "gan": gan, "classifier": classifier,
                    "classifier_path": classifier_path, "target": target, "samples": samples,
                    "seed": seed, "reference": reference, "device": str(torch_device),
                    "inception_weights": str(inception_weights) if inception_weights else None,
                    "retrained": retrained}
        data["report"] = str(write_report(report, data, models.before.G_ema, models.after.G_ema,
                                          config, torch_device, classifier=models.classifier,
                                          settings=settings))
    if json_output:
        from unlearn_cli.cli.common import print_json

        print_json(data)
        return
    _print_table(data)


def _print_table(data: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from unlearn_cli.metrics.report import headline
    from unlearn_cli.safe_text import for_rich as esc  # file and class names are the user's

    table = Table(title="gan-unlearn eval", show_header=False)
    table.add_column("", style="bold")
    table.add_column("", overflow="fold")
    for role, info in data["models"].items():
        table.add_row(f"{role} model", esc(info["file"]))
    for label, value in headline(data):
        table.add_row(esc(label), esc(value))
    ev = data["eval"]
    table.add_row("latents", esc(ev["latents"]))
    if "report" in data:
        table.add_row("report", esc(data["report"]))
    Console().print(table)


eval = evaluate  # the name main.BUILTIN_COMMANDS imports
