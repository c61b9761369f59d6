"""A whole run: validate options, prepare the run folder, collect samples, run the method, evaluate.

Options are validated and every plugin is looked up before any work starts (a typo fails in a
second, not after an hour). Outputs go to one run folder (docs/run-folder.md; engine/run_folder.py).
"""
from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from unlearn_cli.api import SampleSets, SourceContext
from unlearn_cli.config import RunConfig, to_yaml
from unlearn_cli.engine import method as stages
from unlearn_cli.engine import seams
from unlearn_cli.engine.compiling import compile_seconds
from unlearn_cli.engine.devices import pick_device, prepare_training
from unlearn_cli.engine.models import GanBundle, bundled_defaults, generate, load_gan
from unlearn_cli.engine.run_folder import RunFolder, write_manifest
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import sha256_file, write_text
from unlearn_cli.plugins import get_registry


@dataclass
class Job:
    """What a method plugin works with. Method plugins call adapt_models() and unlearn()."""

    config: RunConfig
    bundle: GanBundle
    D: torch.nn.Module
    samples: SampleSets
    device: torch.device
    out_dir: Path
    show_progress: bool = True
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    classifier: Any = None
    #: {kind: {name, distribution, version}} of the components used: in metrics, manifest, files
    plugins: dict[str, dict] = field(default_factory=dict)
    #: peak memory per stage (engine/memory.py), in metrics.json as memory_peak_mb
    memory: Any = None

    def _mark(self, stage: str) -> None:
        if self.memory is not None:
            self.memory.mark(stage)

    @property
    def log_path(self) -> Path:
        return self.out_dir / "train_log.jsonl"

    def repulsion(self) -> Callable:
        c = self.config
        factory = get_registry().load("repulsion", c.repulsion)
        who = get_registry().label("repulsion", c.repulsion)
        with seams.calling(who, "its factory"):
            loss_fn = factory(**repulsion_kwargs(c))
        return seams.checked_repulsion(loss_fn, who)

    def resume_path(self, stage: str) -> Path:
        return self.out_dir / "resume" / f"{stage}.safetensors"

    def adapt_models(self) -> list[torch.nn.Module]:
        """Stage 1 for each of --adapted-models seeds; each adapted model is saved.

        An adapted model already in the run folder (a resumed run) is loaded, never redone.
        """
        started, adapted = time.perf_counter(), []
        negatives = self.samples.negatives.to(self.device)
        for k in range(self.config.adapted_models):
            seed = self.config.seed + 100 * k
            name = "adapted.safetensors" if self.config.adapted_models == 1 else f"adapted-{k + 1}.safetensors"
            path = self.out_dir / name
            if path.is_file():
                done = load_gan(str(path), self.bundle.gan, str(self.device))
                adapted.append(done.G)
                self.outputs.setdefault("adapted", []).append(
                    {"file": name, "sha256": done.sha256, **self._target_share(done.G_ema)})
                continue
            resume = self.resume_path(f"adapt-{k + 1}")
            out = stages.adapt(self.bundle, self.D, negatives, self.config, seed, self.log_path,
                               self.show_progress, resume)
            digest = _save(self, out, path, "adapted", {"seed": seed, "adapt_iters": self.config.adapt_iters,
                                                         "ewc_lambda": self.config.ewc_lambda})
            resume.unlink(missing_ok=True)
            self.outputs.setdefault("adapted", []).append(
                {"file": name, "sha256": digest, **self._target_share(out.G_ema)})
            adapted.append(out.G)
            del out  # its EMA copy, D and optimiser states go before the next model is adapted
        self.timings["adapt"] = time.perf_counter() - started
        self._mark("adapt")
        return adapted

    def _target_share(self, G: torch.nn.Module) -> dict:
        """How strongly a generator produces the target, by the classifier (when there is one)."""
        if self.classifier is None:
            return {}
        from unlearn_cli.engine.models import latents
        from unlearn_cli.metrics.evaluate import score, target_index

        n = max(self.config.eval_samples // 4, 100)
        z = latents(n, G.z_dim, 20_000 + self.config.seed)
        labels = score(G, z, self.classifier, self.device).labels
        targets = torch.as_tensor([target_index(self.classifier, t) for t in self.config.targets])
        share = float(torch.isin(labels, targets).double().mean())  # any of the targets
        return {"target_share": round(share, 4), "target_share_samples": n}

    def unlearn(self, adapted: list[torch.nn.Module], use_repulsion: bool = True) -> stages.StageOutput:
        started = time.perf_counter()
        out = stages.unlearn(self.bundle, self.D, self.samples.positives.to(self.device), adapted,
                             self.repulsion() if use_repulsion else None, self.config,
                             self.log_path, self.show_progress, self.resume_path("unlearn"))
        self.timings["unlearn"] = time.perf_counter() - started
        self._mark("unlearn")
        return out

    def save_unlearned(self, G_ema: torch.nn.Module, G: torch.nn.Module | None = None,
                       D: torch.nn.Module | None = None) -> str:
        out = stages.StageOutput(G if G is not None else G_ema, G_ema, D, None)
        digest = _save(self, out, self.out_dir / "unlearned.safetensors", "unlearned",
                       self.config.model_dump(mode="json", exclude={"out", "overwrite"}),
                       {"adapted_sha256": json.dumps([a["sha256"] for a in self.outputs.get("adapted", [])])})
        self.resume_path("unlearn").unlink(missing_ok=True)
        self.outputs["unlearned"] = {"file": "unlearned.safetensors", "sha256": digest}
        self.outputs["unlearned_G_ema"] = G_ema
        return digest

    def finished_unlearned(self) -> bool:
        """A resumed run whose unlearned model is already written: load it instead of training."""
        path = self.out_dir / "unlearned.safetensors"
        if not path.is_file():
            return False
        done = load_gan(str(path), self.bundle.gan, str(self.device))
        self.outputs["unlearned"] = {"file": path.name, "sha256": done.sha256}
        self.outputs["unlearned_G_ema"] = done.G_ema
        return True


def _save(job: Job, out: stages.StageOutput, path: Path, stage: str, params: dict,
          extra: dict | None = None) -> str:
    from unlearn_cli.engine.models import model_parts
    from unlearn_cli.io.modelfile import save_model

    return save_model(path, model_parts(out.G, out.G_ema, out.D), gan=job.bundle.gan, config=job.bundle.config, stage=stage,
                      parent_sha256=job.bundle.sha256, params=params, extra=extra,
                      plugins=job.plugins)


def load_classifier(config: RunConfig, device: torch.device, required: bool,
                    shape: tuple[int, int] | None = None):
    """The run's classifier, loaded once (the run's evaluation and report use the same one).

    ``shape`` (channels, resolution) of the GAN's images: probe it on a first such batch.
    """
    if not config.classifier:
        if required:
            raise UnlearnError(f"the '{config.source}' source needs a classifier to find the "
                               f"negatives: pass --classifier NAME (list-plugins shows them), or "
                               f"give the negatives yourself with --neg FOLDER")
        return None
    factory = get_registry().load("classifier", config.classifier)
    who = get_registry().label("classifier", config.classifier)
    options = dict(config.classifier_options)  # checked against its options model already
    path = options.pop("path", None)
    with seams.calling(who, "load"):
        classifier = factory(path, str(device), **options)
    if shape is not None:  # a first batch shaped like the GAN's images
        seams.check_classifier(classifier, who, *shape, device)
    return classifier


def repulsion_kwargs(config: RunConfig) -> dict:
    """What the repulsion factory is called with: its options (complete, checked), or for a
    repulsion that declares no options model, the alpha and eps every factory once received."""
    if get_registry().find("repulsion", config.repulsion).options_model is not None:
        return dict(config.repulsion_options)
    from unlearn_cli.component_options import LEGACY

    return {"alpha": LEGACY["alpha"][2], "eps": LEGACY["eps"][2], **config.repulsion_options}


def source_spec(config: RunConfig):
    return get_registry().find("source", config.source)


def components_used(config: RunConfig, bundle: GanBundle, mode: str) -> dict[str, dict]:
    """Which distribution and version provided each component of this run (provenance)."""
    used = get_registry().provenance_of({
        "source": config.source, "classifier": config.classifier,
        "method": config.method if mode == "run" else None,
        "repulsion": config.repulsion if mode != "adapt" else None,
    })
    return {"gan": bundle.made_by or get_registry().provenance("gan", bundle.gan), **used}


def validate_plugins(config: RunConfig) -> None:
    """Look every named component up before any work starts."""
    registry = get_registry()
    if config.gan:
        registry.find("gan", config.gan)
    registry.find("method", config.method)
    who = registry.label("repulsion", config.repulsion)
    factory = registry.load("repulsion", config.repulsion)
    with seams.calling(who, "its factory"):
        loss_fn = factory(**repulsion_kwargs(config))  # checks its options
    seams.check_repulsion(loss_fn, who)  # a repulsion that grows with d is refused now
    registry.find("source", config.source)
    if config.classifier:
        registry.find("classifier", config.classifier)
    elif config.classifier_options:
        raise UnlearnError(f"classifier options are given ({', '.join(config.classifier_options)}) "
                           f"but no classifier: pass --classifier NAME, or drop them")


def ensure_discriminator(bundle: GanBundle, positives: torch.Tensor, config: RunConfig,
                         device: torch.device, show_progress: bool) -> torch.nn.Module:
    """The checkpoint's D, or (generator-only files) a fresh D warmed up on generated samples."""
    if bundle.D is not None:
        return bundle.D
    from unlearn_cli.engine.loop import Stage, make_optimizers, run_stage
    from unlearn_cli.engine.models import clone, fresh_discriminator

    D = fresh_discriminator(bundle, str(device))
    G = clone(bundle.G_ema, trainable=False)
    stage = Stage("warm-up D", G, D, clone(G, False), positives.to(device), 200, config.train,
                  config.seed + 3, show_progress=show_progress)
    g_opt, d_opt = make_optimizers(stage)
    g_opt.param_groups[0]["lr"] = 0.0  # G stays fixed: only D learns
    run_stage(stage, optimizers=(g_opt, d_opt))
    return D


SAMPLES_FILE = "samples.safetensors"


def collect_samples(config: RunConfig, bundle: GanBundle, classifier, device: torch.device,
                    out_dir: Path, ask: Callable[[str], str] | None) -> SampleSets:
    """The source's negatives and positives, saved so a resumed run never asks again."""
    saved = out_dir / SAMPLES_FILE
    if saved.is_file():
        from safetensors import safe_open

        with safe_open(str(saved), framework="pt") as handle:
            meta = handle.metadata()
            return _standard(SampleSets(handle.get_tensor("negatives"), handle.get_tensor("positives"),
                                        meta.get("positives_note", ""), json.loads(meta.get("stats", "{}"))))
    samples = _standard(_collect(config, bundle, classifier, device, out_dir, ask))
    from unlearn_cli.io.atomic import write_with
    from unlearn_cli.io.safetensors_writer import write_safetensors

    tensors = {"negatives": samples.negatives.detach().cpu().contiguous(),
               "positives": samples.positives.detach().cpu().contiguous()}
    meta = {"positives_note": samples.positives_note, "stats": json.dumps(samples.stats, default=str)}
    write_with(saved, lambda tmp: write_safetensors(tmp, tensors, meta))
    return samples


def _standard(samples: SampleSets) -> SampleSets:
    """Fresh tensors with standard strides (float32, or uint8 for large images), however the
    source or file made them.

    A [N, 1, H, W] tensor made by a permute can look channels-last to conv, which then rounds
    differently; a resumed run (reading the saved file) must compute exactly what the first did.
    """
    from unlearn_cli.engine.sample_store import compact

    # large images are kept as uint8 (engine/sample_store.py): memory does not grow with them
    samples.negatives = compact(samples.negatives)
    samples.positives = compact(samples.positives)
    return samples


def _collect(config: RunConfig, bundle: GanBundle, classifier, device: torch.device,
             out_dir: Path, ask: Callable[[str], str] | None) -> SampleSets:
    source = get_registry().load("source", config.source)
    who = get_registry().label("source", config.source)
    G = bundle.G_ema

    def gen(n: int, seed: int) -> torch.Tensor:
        return generate(G, n, seed, str(device))

    def gen_from(z: torch.Tensor) -> torch.Tensor:
        from unlearn_cli.engine.models import generate_from

        return generate_from(G, z, str(device), who=who)

    context = SourceContext(generate=gen, classifier=classifier, resolution=G.img_resolution,
                            channels=G.img_channels, options=source_view(config),
                            out_dir=out_dir, ask=ask, device=str(device),
                            generate_from=gen_from, z_dim=G.z_dim)
    with seams.calling(who, "collect(context)"):
        samples = source(context)
    seams.check_sample_sets(samples, who, G.img_channels, G.img_resolution)
    if len(samples.negatives) == 0:
        raise UnlearnError(f"the '{config.source}' source found no negative samples")
    if len(samples.positives) == 0:
        raise UnlearnError(f"the '{config.source}' source found no positive samples")
    return samples


def source_view(config: RunConfig) -> dict:
    """What a source reads as context.options: the run's settings, and its own options (checked,
    complete) at the top level, as sources have always read them (context.options["candidates"])."""
    return {**config.model_dump(mode="json"), **config.source_options}


def load_adapted(files: list, bundle: GanBundle, device: torch.device) -> list[torch.nn.Module]:
    """Adapted generators from `gan-unlearn adapt` outputs; they must share the model's architecture."""
    adapted = []
    for path in files:
        other = load_gan(str(path), bundle.gan, str(device))
        if other.config != bundle.config:
            raise UnlearnError(f"{path} was adapted from a different architecture than --ckpt")
        adapted.append(other.G)
    return adapted


def run(config: RunConfig, show_progress: bool = True, ask: Callable | None = None,
        echo: Callable[[str], None] = print, mode: str = "run", adapted_files: list = (),
        resume_dir: str | Path | None = None) -> dict:
    """The whole job (mode run), or only stage 1 (adapt) or stage 2 (unlearn); returns metrics."""
    # (--neg without --source chose the folder source when the config was read: its spec's chosen_by)
    config = bundled_defaults(config)
    # the bundled model may have named the classifier: check its options against it now
    config = RunConfig.model_validate(config.model_dump())
    validate_plugins(config)
    from unlearn_cli.engine import distributed

    device = distributed.init_from_env(config.device) or pick_device(config.device)
    prepare_training(device, config.precision, config.compile)
    for path in adapted_files:
        if not Path(path).is_file():
            raise UnlearnError(f"adapted model file not found: {path}")
    spec = source_spec(config)
    if distributed.world_size() > 1 and spec.interactive and not any(
            config.source_options.get(k) for k in spec.answers_from):
        given = " or ".join("--" + k.replace("_", "-") for k in spec.answers_from) or "its answers given"
        raise UnlearnError(f"with several processes the {config.source} source cannot ask: it needs {given}")
    torch.manual_seed(config.seed)
    folder = None  # (engine/run_folder.py: locked while we write; cleaned up on failure)
    adapted_ids = [sha256_file(f) for f in adapted_files]
    if distributed.is_main():
        folder = (RunFolder.resume(Path(resume_dir), mode, adapted_ids) if resume_dir is not None
                  else RunFolder.fresh(config.out, config.overwrite, mode, adapted_ids))
        out_dir = folder.path
    else:  # only rank 0 writes into the run folder; other ranks write to a scratch folder
        import tempfile

        out_dir = Path(tempfile.mkdtemp(prefix=f"gan-unlearn-rank{distributed.rank()}-"))
    try:
        metrics = _run_in(config, out_dir, device, show_progress and distributed.is_main(), ask,
                          echo if distributed.is_main() else (lambda _m: None), mode, adapted_files)
    except BaseException as exc:
        # a run that failed before anything worth keeping leaves nothing of its own behind
        if folder is not None:
            folder.failed(keep=resume_dir is not None or _worth_keeping(out_dir, exc, spec.keeps))
        raise
    finally:
        if not distributed.is_main():
            import shutil

            shutil.rmtree(out_dir, ignore_errors=True)
    if folder is not None:
        folder.finished()
    return metrics


def _worth_keeping(out_dir: Path, exc: BaseException, keeps: tuple[str, ...] = ()) -> bool:
    """Progress to --resume from; after an interruption or a full disk the samples count too."""
    stopped = isinstance(exc, KeyboardInterrupt) or getattr(exc, "keep_run_folder", False)
    return _has_progress(out_dir, keeps) or (stopped and (out_dir / SAMPLES_FILE).is_file())


def _check_memory(config: RunConfig, bundle: GanBundle, device: torch.device, mode: str,
                  adapted_files) -> int | None:
    """Estimate what the run will add to memory and refuse it now if that is not available.

    Returns the estimate plus what is resident now, in bytes (recorded in metrics.json), or
    None when the check is off (GAN_UNLEARN_MEMORY_CHECK=0).
    """
    from unlearn_cli.engine import memory

    if os.environ.get("GAN_UNLEARN_MEMORY_CHECK", "1") == "0":
        return None
    options = config.model_dump(mode="json")
    candidates = options.get("candidates") or (options.get("source_options") or {}).get("candidates") or 2000
    adapted = len(adapted_files) if mode == "unlearn" else config.adapted_models
    estimate = memory.estimate_run(bundle.G_ema, bundle.D, config.train.batch, int(candidates),
                                   adapted, device)
    memory.check_fits(estimate, device)
    resident = (memory.current_rss_bytes() if device.type == "cpu"
                else torch.cuda.memory_allocated(device))
    return resident + estimate.total


def _has_progress(out_dir: Path, keeps: tuple[str, ...] = ()) -> bool:
    """A finished stage's model or an interrupted stage's checkpoint: worth --resume; or a file
    the source declares worth keeping (its spec's ``keeps``: e.g. the grid to pick from)."""
    models = [p for p in out_dir.glob("*.safetensors") if p.name != SAMPLES_FILE]
    return (bool(models) or any(out_dir.glob("resume/*"))
            or any((out_dir / name).exists() for name in keeps))


def load_resume_config(resume_dir: str | Path) -> RunConfig:
    """The saved config of a run folder, for `--resume DIR`."""
    from unlearn_cli.config import resolve

    path = Path(resume_dir) / "config.yaml"
    if not path.is_file():
        raise UnlearnError(f"--resume {resume_dir}: no config.yaml there; is it a run folder?")
    return resolve(RunConfig, path)


def _run_in(config: RunConfig, out_dir: Path, device: torch.device, show_progress: bool,
            ask, echo, mode: str, adapted_files) -> dict:
    from unlearn_cli.engine import distributed

    if not (out_dir / "config.yaml").is_file():
        write_text(out_dir / "config.yaml", to_yaml(config))
    timings: dict[str, float] = {}
    started = time.perf_counter()
    from unlearn_cli.engine import memory

    peaks = memory.StagePeaks(device)
    bundle = load_gan(config.ckpt, config.gan, str(device))
    if bundle.G is not bundle.G_ema:
        bundle.G = bundle.G_ema  # a run trains copies of G_ema only: the raw G need not stay resident
    for warning in bundle.warnings:
        if distributed.is_main():
            sys.stderr.write(f"warning: {warning}\n")
    from unlearn_cli.engine.export import export_run, plan_run_export

    export_plan = plan_run_export(config, bundle, mode, out_dir)  # refused now, not after training
    classifier = load_classifier(config, device, required=source_spec(config).needs_classifier,
                                 shape=(bundle.G_ema.img_channels, bundle.G_ema.img_resolution))
    estimate = _check_memory(config, bundle, device, mode, adapted_files)  # a run that cannot fit stops now
    peaks.mark("load")
    samples = collect_samples(config, bundle, classifier, device, out_dir, ask)
    timings["collect"] = time.perf_counter() - started
    peaks.mark("collect")
    echo(f"negatives: {len(samples.negatives)}, positives: {len(samples.positives)}")
    torch.manual_seed(config.seed + 1)
    D = ensure_discriminator(bundle, samples.positives, config, device, show_progress)
    job = Job(config, bundle, D, samples, device, out_dir, show_progress, timings,
              classifier=classifier, plugins=components_used(config, bundle, mode), memory=peaks)
    if mode == "adapt":
        job.adapt_models()
    elif mode == "unlearn":
        out = job.unlearn(load_adapted(adapted_files, bundle, device))
        job.outputs["adapted"] = [{"file": str(f), "sha256": sha256_file(f)} for f in adapted_files]
        job.save_unlearned(out.G_ema, out.G, out.D)
    elif not job.finished_unlearned():
        get_registry().load("method", config.method)(job)
        import gc

        gc.collect()  # the stages' copies, optimisers and closures form cycles: free them now
        if device.type == "cpu":  # ... and give their pages back before evaluation and report
            from unlearn_cli.engine.cpu_allocator import release_free_memory

            release_free_memory()
        if "unlearned" not in job.outputs:
            raise UnlearnError(f"method '{config.method}' produced no unlearned model")
    if export_plan is not None and distributed.is_main():  # `--export`: docs/formats.md
        job.outputs["export"] = export_run(out_dir, export_plan, echo)
    metrics = {"method": config.method if mode == "run" else mode, "out_dir": str(out_dir),
               "negatives": len(samples.negatives), "positives": len(samples.positives),
               "positives_note": samples.positives_note, "source_stats": samples.stats,
               "outputs": {k: v for k, v in job.outputs.items() if k != "unlearned_G_ema"},
               "pretrained_sha256": bundle.sha256, "plugins": job.plugins}
    if classifier is not None and "unlearned_G_ema" in job.outputs:
        from unlearn_cli.metrics.evaluate import evaluate_pair

        t = time.perf_counter()
        metrics["eval"] = evaluate_pair(bundle.G_ema, job.outputs["unlearned_G_ema"], classifier,
                                        config, device)
        timings["eval"] = time.perf_counter() - t
        peaks.mark("eval")
    elif classifier is None and "unlearned_G_ema" in job.outputs:
        metrics["eval_note"] = ("not measured: no classifier to count the target; pass "
                                "--classifier NAME, or run `gan-unlearn eval` later")
    if distributed.world_size() > 1:
        digest = distributed.parameter_digest(job.outputs.get("unlearned_G_ema", bundle.G_ema))
        metrics["rank_digest"] = digest
        sys.stderr.write(f"rank {distributed.rank()} parameter digest: {digest}\n")  # one write: ranks interleave
        sys.stderr.flush()
    timings["total"] = time.perf_counter() - started
    if compile_seconds():  # part of the stages' times: torch.compile's own (engine/compiling.py)
        timings["compiling"] = compile_seconds()
    metrics["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    if estimate is not None:
        metrics["memory_estimate_mb"] = round(estimate / memory.MB, 1)
    metrics["memory_peak_mb"] = peaks.peaks
    write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=str))
    if distributed.is_main():  # report.md, report.html and their PNGs (docs/evaluation.md)
        from unlearn_cli.metrics.report import write_run_report
        write_run_report(out_dir, metrics, bundle.G_ema, job.outputs.get("unlearned_G_ema"), config,
                         device, classifier=classifier)  # the classifier is loaded once per run
        peaks.mark("report", restart=False)  # the report's own peak, added once it is known
        metrics["memory_peak_mb"] = peaks.peaks
        write_text(out_dir / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True, default=str))
    write_manifest(out_dir, job.plugins)
    return metrics
