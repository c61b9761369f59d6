"""Plain adversarial training with the same loop: for small image sets, and how we make the
bundled model. Writes a `pretrained` model file that `run` can start from."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch

from unlearn_cli.config import TrainConfig, to_yaml
from unlearn_cli.engine import compiling
from unlearn_cli.engine.loop import Stage, run_stage
from unlearn_cli.engine.models import clone, model_parts
from unlearn_cli.engine.devices import pick_device, prepare_training
from unlearn_cli.engine.run_folder import RunFolder
from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import write_text
from unlearn_cli.io.modelfile import save_model
from unlearn_cli.plugins import get_registry


def load_real_images(data: str, resolution: int, channels: int) -> torch.Tensor:
    if Path(data).is_dir():
        from unlearn_cli.io.images import read_image_folder

        return read_image_folder(data, resolution, channels, min_count=2)
    if "/" in data or Path(data).suffix:
        raise UnlearnError(f"--data {data}: no such folder (or pass a dataset plugin name)")
    images, _ = get_registry().load("dataset", data)(resolution=resolution, channels=channels)
    return images


def train(config: TrainConfig, show_progress: bool = True, resume_dir: Path | None = None) -> dict:
    """Train into a fresh folder (``--overwrite`` replaces an old one as a whole: never continues
    it), or continue an interrupted training in ``resume_dir`` from its checkpoint."""
    registry = get_registry()
    plugin = registry.load("gan", config.gan)
    arch = plugin.validate_config(dict(config.arch))
    from unlearn_cli.engine.model_checks import check_model_size

    check_model_size(plugin, config.gan, arch, "train --arch",  # before the folder or a network
                     hint="choose smaller widths or resolution")
    device = pick_device(config.device)
    prepare_training(device, config.precision, config.compile)
    folder = (RunFolder.resume(resume_dir, "train") if resume_dir is not None
              else RunFolder.fresh(config.out, config.overwrite, "train"))
    try:
        result = _train_in(config, plugin, arch, device, folder.path, show_progress)
    except BaseException:
        # a run that failed before a model or a checkpoint was written leaves nothing behind
        folder.failed(keep=resume_dir is not None or any(
            (folder.path / name).exists() for name in ("model.safetensors", RESUME)))
        raise
    folder.finished()
    return result


RESUME = "resume-train.safetensors"


def _train_in(config: TrainConfig, plugin, arch: dict, device, out_dir: Path, show_progress: bool) -> dict:
    if not (out_dir / "config.yaml").is_file():  # (a resumed training keeps its own)
        write_text(out_dir / "config.yaml", to_yaml(config.model_copy(update={"arch": arch})))
    torch.manual_seed(config.seed)
    G, D = plugin.build(arch)
    G, D = G.to(device), D.to(device)
    G_ema = clone(G, trainable=False)
    real = load_real_images(config.data, G.img_resolution, G.img_channels).to(device)
    started = time.perf_counter()

    def save(path: Path, stage: str) -> str:
        made_by = get_registry().provided("gan", config.gan)  # (--gan may be DIST:NAME)
        return save_model(path, model_parts(G, G_ema, D), gan=made_by.spec.name, config=arch,
                          stage=stage, plugins={"gan": made_by.provenance()},
                          params={"data": config.data, "iters": config.iters, "seed": config.seed,
                                  **config.train.model_dump()})

    stage = Stage("train", G, D, G_ema, real, config.iters, config.train, config.seed,
                  extras=plugin, log_path=out_dir / "train_log.jsonl",
                  resume_path=out_dir / RESUME, resume_hint=f"gan-unlearn train --resume {out_dir}",
                  show_progress=show_progress, precision=config.precision)
    compiling.attach(stage, config.compile)
    state = run_stage(stage)
    digest = save(out_dir / "model.safetensors", "pretrained")
    stage.resume_path.unlink(missing_ok=True)
    summary = {"model": str(out_dir / "model.safetensors"), "sha256": digest,
               "real_images": len(real), "iters": config.iters,
               "seconds": round(time.perf_counter() - started, 1), "last": state.history[-1:]}
    write_text(out_dir / "metrics.json", json.dumps(summary, indent=2))
    return summary
