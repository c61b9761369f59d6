"""`gan-unlearn convert` and `gan-unlearn sample`: model files in, model files or images out."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from unlearn_cli.cli.common import visible, warn


def convert(
    src: str = typer.Argument(..., help="Checkpoint to import: rosinality .pt, NVIDIA .pkl, or ours."),
    dst: Path = typer.Argument(..., help="Output .safetensors file."),
    gan: Optional[str] = typer.Option(None, help="GAN plugin that reads SRC (default: stylegan2)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace DST if it exists."),
) -> None:
    """Import a checkpoint into a self-describing gan-unlearn .safetensors file (no code is run)."""
    from unlearn_cli.engine.models import load_gan
    from unlearn_cli.errors import UnlearnError
    from unlearn_cli.io.atomic import check_outputs

    if dst.suffix != ".safetensors":
        raise UnlearnError(f"{dst}: the output must end in .safetensors")
    check_outputs([dst], overwrite, inputs=[src])
    bundle = load_gan(src, gan)
    for warning in bundle.warnings:
        warn(warning)  # (escaped: an importer may quote the file's own names)
    digest = bundle.save(dst, "pretrained", parent_sha256=bundle.sha256,
                         params={"converted_from": Path(src).name})
    parts = ", ".join(p for p in ("G", "G_ema", "D") if p != "D" or bundle.D is not None)
    typer.echo(visible(f"{dst}: {bundle.gan} ({parts}), sha256 {digest}"))


def sample(
    model: str = typer.Argument(..., help="A model file (ours, or a foreign checkpoint with --gan)."),
    n: int = typer.Option(16, "--n", min=1, help="Number of samples."),
    seed: int = typer.Option(0, help="Seed of the latents."),
    truncation: float = typer.Option(1.0, help="Truncation psi toward the mean w (1 = none)."),
    noise_mode: str = typer.Option("const", help="const, random or none."),
    latents: Optional[Path] = typer.Option(None, help="safetensors file whose tensor 'z' is [N, z_dim]."),
    out: Optional[Path] = typer.Option(None, help="Folder for grid.png and one PNG per sample."),
    tensors: Optional[Path] = typer.Option(None, help="Write raw float32 images (key 'images') here."),
    gan: Optional[str] = typer.Option(None, help="GAN plugin for foreign checkpoints."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace --tensors, or the grid and images in --out, if they exist."),
) -> None:
    """Generate images from a model's EMA generator: a PNG grid and files, or raw tensors."""
    import torch

    from unlearn_cli.engine.models import latents as make_latents
    from unlearn_cli.engine.models import load_gan
    from unlearn_cli.engine.devices import pick_device
    from unlearn_cli.errors import UnlearnError

    if noise_mode not in ("const", "random", "none"):
        raise UnlearnError(f"--noise-mode must be const, random or none, not {noise_mode!r}")
    if out is None and tensors is None:
        raise UnlearnError("say where the samples go: --out FOLDER and/or --tensors FILE.safetensors")
    from unlearn_cli.io.atomic import check_outputs

    if out is not None and out.exists() and not out.is_dir():
        raise UnlearnError(f"--out {out} is a file; give a folder (grid.png and one PNG per sample go there)")
    count = n if latents is None else None  # (with --latents: known after reading them)
    check_outputs(_sample_files(out, count) + ([tensors] if tensors else []), overwrite,
                  inputs=[model, latents])
    dev = pick_device(device)
    G = load_gan(model, gan, str(dev)).G_ema
    z = _read_latents(latents, G.z_dim) if latents else make_latents(n, G.z_dim, seed)
    if latents is not None:
        check_outputs(_sample_files(out, len(z)), overwrite, inputs=[model, latents])
    torch.manual_seed(seed)  # for noise_mode random
    from unlearn_cli.engine.memory import generation_batch

    batch = generation_batch(G, dev, cap=64)
    with torch.no_grad():
        images = torch.cat([G(z[i:i + batch].to(dev), truncation_psi=truncation, noise_mode=noise_mode).cpu()
                            for i in range(0, len(z), batch)])
    if tensors is not None:
        from unlearn_cli.io.atomic import write_with
        from unlearn_cli.io.safetensors_writer import write_safetensors

        write_with(tensors, lambda tmp: write_safetensors(tmp, {"images": images.float()},
                                                          {"model": str(model)}))
        typer.echo(visible(f"{tensors}: images {list(images.shape)}"))
    if out is not None:
        from unlearn_cli.io.images import save_grid, save_images

        save_grid(images, out / "grid.png")
        save_images(images, out, prefix="sample-")
        _remove_stale_samples(out, len(images))
        typer.echo(visible(f"{out}: grid.png and {len(images)} images"))


def _sample_files(out: Optional[Path], n: Optional[int]) -> list[Path]:
    """What `sample --out` writes (io/images.py's names): grid.png and sample-NNNNN.png, and
    any older sample-*.png there (a smaller --n must not leave another model's samples beside
    the new ones: they are outputs to replace, so --overwrite is needed and removes them)."""
    if out is None:
        return []
    new = [out / "grid.png"] + [out / f"sample-{i:05d}.png" for i in range(n or 0)]
    older = sorted(out.glob("sample-*.png")) if out.is_dir() else []
    return new + [p for p in older if p not in set(new)]


def _remove_stale_samples(out: Path, n: int) -> None:
    """After --overwrite: the sample-*.png of an earlier, larger --n go (ours only, by name)."""
    keep = {f"sample-{i:05d}.png" for i in range(n)}
    for path in out.glob("sample-*.png"):
        if path.name not in keep and path.is_file():
            path.unlink()


def _read_latents(path: Path, z_dim: int):
    from unlearn_cli.errors import UnlearnError

    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            if "z" not in handle.keys():
                raise UnlearnError(f"{path} has no tensor 'z'; it holds: {', '.join(handle.keys())}")
            z = handle.get_tensor("z")
    except UnlearnError:
        raise
    except Exception as exc:
        raise UnlearnError(f"cannot read latents from {path} ({type(exc).__name__}: {exc})") from None
    if z.ndim != 2 or z.shape[1] != z_dim:
        raise UnlearnError(f"{path}: 'z' must be [N, {z_dim}] for this model, got {list(z.shape)}")
    return z.float()
