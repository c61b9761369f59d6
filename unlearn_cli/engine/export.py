"""Export a model to the formats other tools load, through its gan plugin's optional exporter.

The plugin knows the names (``export_formats``: each of its formats is a ``torch.save`` dict
written under one naming; ``export(parts, config, naming) -> ExportedModel``). The core adds
``safetensors`` (the same tensors, flat, under any of the plugin's namings) and does the writing:
atomically, never over an input, never over an existing file without --overwrite.
docs/formats.md ("Export") describes what is written; docs/plugins/hooks.md the plugin side.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from unlearn_cli import __version__
from unlearn_cli.errors import UnlearnError

SAFETENSORS = "safetensors"
AUTO = "auto"


@dataclass(frozen=True)
class ExportPlan:
    """What to write: a format the user named, the plugin's naming, and the container."""

    format: str
    naming: str

    @property
    def container(self) -> str:
        return SAFETENSORS if self.format == SAFETENSORS else "torch"

    def filename(self, stem: str = "unlearned") -> str:
        """The file name a run gives its export (beside its own unlearned.safetensors)."""
        return f"{stem}.pt" if self.container == "torch" else f"{stem}-{self.naming}.safetensors"


@dataclass
class ExportResult:
    path: Path
    plan: ExportPlan
    parts: list[str]
    sha256: str
    settings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _formats(plugin, gan: str) -> dict[str, str]:
    formats = getattr(plugin, "export_formats", None)
    if not formats or not callable(getattr(plugin, "export", None)):
        raise UnlearnError(f"the '{gan}' gan plugin has no exporter, so its models exist only as "
                           f"gan-unlearn .safetensors files; export works for gan plugins that "
                           f"declare export formats (docs/plugins/hooks.md)")
    return dict(formats)


def plan_export(bundle, fmt: str, naming: str | None = None) -> ExportPlan:
    """Check a --format / --names pair against what the bundle's plugin writes."""
    formats = _formats(bundle.plugin, bundle.gan)
    namings = list(dict.fromkeys(formats.values()))
    own = (getattr(bundle.plugin, "export_for_import", None) or {}).get(bundle.source_format)
    if fmt == AUTO:
        choices = ", ".join([*formats, SAFETENSORS])
        if not bundle.source_format:
            raise UnlearnError(f"export format 'auto' means a foreign input's own format, but "
                               f"{bundle.path} is a gan-unlearn model file; name the format: "
                               f"{choices}")
        if own not in formats:
            raise UnlearnError(f"export format 'auto': the '{bundle.gan}' plugin cannot write the "
                               f"input's format ({bundle.source_format}); name one: {choices}")
        fmt = own
    if fmt == SAFETENSORS:
        naming = naming or (formats[own] if own in formats else namings[0])
        if naming not in namings:
            raise UnlearnError(f"--names {naming}: the '{bundle.gan}' plugin writes "
                               f"{', '.join(namings)} names; pass one of them")
        return ExportPlan(fmt, naming)
    if fmt not in formats:
        raise UnlearnError(f"unknown export format '{fmt}'; the '{bundle.gan}' plugin writes: "
                           f"{', '.join([*formats, SAFETENSORS])}")
    if naming is not None and naming != formats[fmt]:
        raise UnlearnError(f"--names is for --format safetensors; --format {fmt} always uses "
                           f"{formats[fmt]} names")
    return ExportPlan(fmt, formats[fmt])


def check_output(out: Path, fmt: str, inputs: list[Path], overwrite: bool) -> None:
    """Refuse, before any work, an output that is an input, a folder, taken, or misnamed."""
    for source in inputs:
        if out.resolve() == source.resolve() or (out.exists() and out.samefile(source)):
            raise UnlearnError(f"{out} is the input model itself; choose another output file")
    if out.is_dir():
        raise UnlearnError(f"{out} is a folder; pass the name of the file to write")
    if out.exists() and not overwrite:
        raise UnlearnError(f"{out} exists; pass --overwrite to replace it")
    if fmt == SAFETENSORS and out.suffix != ".safetensors":
        raise UnlearnError(f"{out}: --format safetensors writes a .safetensors file; name it so")
    if fmt != SAFETENSORS and out.suffix == ".safetensors":
        raise UnlearnError(f"{out}: --format {fmt} writes a torch.save file, not safetensors; name "
                           f"it .pt, or pass --format safetensors")
    if fmt != SAFETENSORS and out.suffix == ".pkl":
        raise UnlearnError(f"{out}: --format {fmt} writes a torch.save dict of tensors, not a "
                           f"network pickle; name it .pt (docs/formats.md: how your own code "
                           f"makes a .pkl from it)")


def exported(bundle, plan: ExportPlan):
    """The plugin's ExportedModel for the bundle's three networks (raises what it refuses)."""
    from unlearn_cli.api import ExportedModel

    parts = {name: {k: v.detach().cpu() for k, v in state.items()}
             for name, state in bundle.parts().items()}
    try:
        result = bundle.plugin.export(parts, bundle.config, plan.naming)
    except UnlearnError as exc:
        raise UnlearnError(f"cannot export to {plan.format}: {exc}") from None
    except Exception as exc:  # a plugin's bug is still one line, named as the plugin's
        detail = " ".join(str(exc).split())[:200]
        raise UnlearnError(f"the '{bundle.gan}' plugin failed to export {plan.format} "
                           f"({type(exc).__name__}: {detail})") from exc
    if not isinstance(result, ExportedModel) or not result.entries:
        raise UnlearnError(f"the '{bundle.gan}' plugin's export returned no ExportedModel; "
                           f"report this to the plugin's authors")
    return result


def flat_tensors(entries: dict) -> dict:
    """{"g_ema": {"style.1.weight": t}, "latent_avg": t} -> {"g_ema.style.1.weight": t, ...}."""
    out = {}
    for key, value in entries.items():
        if isinstance(value, dict):
            out.update({f"{key}.{name}": t for name, t in value.items()})
        else:
            out[key] = value
    return out


def write_export(result, plan: ExportPlan, out: Path, gan: str, source_sha256: str) -> str:
    """Write atomically; returns the file's sha256."""
    from unlearn_cli.io.atomic import sha256_file, write_with

    if plan.container == "torch":
        import torch

        payload = {**result.entries, **result.settings}
        write_with(out, lambda tmp: torch.save(payload, tmp))
    else:
        from unlearn_cli.io.safetensors_writer import write_safetensors

        # not "format": gan-unlearn, so our loader never mistakes it for one of its model files
        metadata = {"exported_by": f"gan-unlearn {__version__}", "gan": gan,
                    "names": plan.naming, "source_sha256": source_sha256,
                    **{k: json.dumps(v, sort_keys=True) for k, v in result.settings.items()}}
        write_with(out, lambda tmp: write_safetensors(tmp, flat_tensors(result.entries), metadata))
    return sha256_file(out)


def export_bundle(bundle, plan: ExportPlan, out: Path) -> ExportResult:
    result = exported(bundle, plan)
    digest = write_export(result, plan, out, bundle.gan, bundle.sha256)
    parts = [k for k, v in result.entries.items() if isinstance(v, dict)]
    return ExportResult(out, plan, parts, digest, result.settings, result.notes)


def export_model(model: str, out: Path, fmt: str, naming: str | None = None,
                 overwrite: bool = False) -> ExportResult:
    """`gan-unlearn export`: checks first (cheap ones before loading), then one atomic write."""
    from unlearn_cli.engine.models import existing_checkpoint, load_gan

    check_output(out, fmt, [existing_checkpoint(model)], overwrite)
    bundle = load_gan(model)
    return export_bundle(bundle, plan_export(bundle, fmt, naming), out)


# ---- `run --export`: planned before any training, written after the unlearned model ----------
def plan_run_export(config, bundle, mode: str, out_dir: Path) -> ExportPlan | None:
    """Everything that can refuse an export, checked right after the model is loaded: the format,
    the plugin's own refusal of this model (a dry run on the pre-trained weights: the unlearned
    model has the same architecture), and the output's name."""
    fmt = getattr(config, "export", None)
    if not fmt:
        return None
    if mode == "adapt":
        raise UnlearnError("--export is for run and unlearn: adapt writes no unlearned model to "
                           "export; export an unlearned file later with `gan-unlearn export`")
    plan = plan_export(bundle, fmt)
    exported(bundle, plan)
    check_output(out_dir / plan.filename(), plan.format, [Path(bundle.path)], overwrite=True)
    return plan


def export_run(out_dir: Path, plan: ExportPlan, echo) -> dict:
    """Export the run folder's unlearned.safetensors beside it; returns its metrics entry."""
    from unlearn_cli.engine.models import load_gan

    bundle = load_gan(str(out_dir / "unlearned.safetensors"))
    done = export_bundle(bundle, plan, out_dir / plan.filename())
    for note in done.notes:
        echo(f"note: {note}")
    echo(f"exported {done.path.name}: {plan.format} ({plan.naming} names)")
    return {"file": done.path.name, "format": plan.format, "names": plan.naming,
            "sha256": done.sha256, **({"settings": done.settings} if done.settings else {})}
