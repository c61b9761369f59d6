"""Image folders in, PNG grids out.

Reading (``read_image_folder``): every regular file with the extension of a format Pillow reads
(PNG, JPEG, WebP, BMP, TIFF, GIF, PPM, TGA, ...; not EPS, whose decoder runs Ghostscript) under a
folder, recursively,
in sorted order of its relative path; hidden files and folders (name starting with ".", e.g. the
``._x.png`` files macOS leaves on copied drives) are skipped. Each image is

1. turned upright by its EXIF orientation tag (photos from phones),
2. converted to the GAN's channels: 1 = grey (ITU-R 601 luma), 3 = RGB. Transparent pixels are
   composited over a black background (``background="white"`` to change it). 16-bit images are
   scaled from their full 0..65535 range; palette, CMYK and other modes go through RGB,
3. centre-cropped to a square (the shorter side) and resized to the GAN's resolution with a
   Lanczos filter (JPEG files are first decoded at a reduced scale when much larger).

FIFOs, devices, sockets and files with other extensions are skipped and named in one warning.

The result is one float32 tensor [N, C, H, W] in [-1, 1]. A file that cannot be decoded stops the
whole read with a one-line error naming it: a silently skipped negative is a wrong experiment.
"""
from __future__ import annotations

import math
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from unlearn_cli.errors import UnlearnError
from unlearn_cli.io.atomic import write_with
from unlearn_cli.io.readable import check_readable

_BACKGROUNDS = {"black": 0, "white": 255}
# Every format Pillow can open is read (TIFF, GIF, PPM, TGA, ...; a multi-frame file gives its
# first frame), except those whose decoder runs another program (EPS: Ghostscript) or that
# Pillow only recognises without decoding (stubs that need an outside handler, MPEG, WMF).
# Decoders are tried whatever the extension says (a ".jpg" that is really a PNG still reads).
_NOT_READ = {"EPS", "BUFR", "GRIB", "HDF5", "MPEG", "WMF", "IPTC"}
Image.init()
_FORMATS = tuple(sorted(f for f in Image.OPEN if f not in _NOT_READ))
IMAGE_EXTENSIONS = tuple(sorted(ext for ext, fmt in Image.registered_extensions().items()
                                if fmt in _FORMATS))
_COMMON = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
_MAX_NAMED = 5  # skipped entries named in a warning; the rest are counted


# --------------------------------------------------------------------------- reading
def find_images(folder: str | os.PathLike, what: str = "image folder") -> list[Path]:
    """Image files under ``folder`` (recursive, hidden entries skipped), in a sorted order.

    Only regular files are read: a FIFO would block the read forever and a device never ends.
    Entries that are skipped for that reason, or because their extension is not an image
    format's, are named in one warning line on stderr (a silently dropped negative is a wrong
    experiment)."""
    root = Path(folder)
    if not root.exists():
        raise UnlearnError(f"{what} '{root}' does not exist; check the path")
    if not root.is_dir():
        raise UnlearnError(f"{what} '{root}' is a file, not a folder; pass the folder that holds the images")
    found, skipped = [], []
    try:
        for dirpath, dirnames, filenames in os.walk(root, onerror=_raise):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):
                    continue
                path = Path(dirpath, name)
                reason = _skip_reason(path)
                if reason:
                    skipped.append((path.relative_to(root).as_posix(), reason))
                else:
                    found.append(path)
    except OSError as exc:
        raise UnlearnError(f"cannot list {what} '{root}': {exc.strerror or exc}; check its permissions") from exc
    if not found:
        ignored = f"; {len(skipped)} other file(s) were ignored" if skipped else ""
        raise UnlearnError(
            f"no images in {what} '{root}' (read recursively: {', '.join(_COMMON)} and every "
            f"other format Pillow reads){ignored}; put the images there or pass another folder"
        )
    if skipped:
        _warn_skipped(what, root, skipped)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def _skip_reason(path: Path) -> str:
    """Why an entry is not read as an image ("" to read it)."""
    import stat

    from unlearn_cli.io.readable import kind_of

    try:
        mode = path.stat().st_mode
    except OSError as exc:  # a dangling link, or no permission to look
        return f"cannot be examined: {exc.strerror or exc}"
    if not stat.S_ISREG(mode):
        return kind_of(mode)
    if not path.name.lower().endswith(IMAGE_EXTENSIONS):
        return "not an image file extension"
    return ""


def _warn_skipped(what: str, root: Path, skipped: list[tuple[str, str]]) -> None:
    import sys

    from unlearn_cli.safe_text import visible

    named = ", ".join(f"{name} ({reason})" for name, reason in skipped[:_MAX_NAMED])
    more = f" and {len(skipped) - _MAX_NAMED} more" if len(skipped) > _MAX_NAMED else ""
    sys.stderr.write(visible(f"warning: {what} '{root}': skipped {len(skipped)} entr"
                             f"{'y' if len(skipped) == 1 else 'ies'} that are not image files: "
                             f"{named}{more}") + "\n")


def _raise(exc: OSError) -> None:
    raise exc


def read_image(path: str | os.PathLike, resolution: int, channels: int,
               background: str = "black") -> np.ndarray:
    """One image file as uint8 [resolution, resolution, channels]; UnlearnError naming a bad file."""
    _check_target(resolution, channels, background)
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's EXIF/palette chatter; real failures raise
            # past Pillow's bomb *warning* size it would decode (gigabytes) before failing
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path, formats=_FORMATS) as img:
                _draft(img, resolution)
                img.load()
                img = _upright(img)
                return _fit(_to_channels(img, channels, _BACKGROUNDS[background]), resolution)
    except UnlearnError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UnlearnError(f"image '{path}' is too large to read safely ({exc}); shrink or remove it") from exc
    except PermissionError:
        from unlearn_cli.io.readable import permission_denied
        raise permission_denied(path, "image") from None
    except Image.UnidentifiedImageError as exc:
        reason = "the file is empty" if _size(path) == 0 else "not an image format Pillow reads, or damaged"
        raise UnlearnError(f"cannot read image '{path}': {reason}; replace or remove the file") from exc
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError, ...)
        reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror
                  else " ".join(str(exc).split()) or type(exc).__name__)
        raise UnlearnError(f"cannot read image '{path}': {reason}; replace or remove the file") from exc


def read_image_folder(path: str | os.PathLike, resolution: int, channels: int, min_count: int = 1,
                      background: str = "black", what: str = "image folder"):
    """All images under ``path`` as a float32 tensor [N, channels, resolution, resolution] in [-1, 1].

    See the module docstring for the conversion. Raises UnlearnError (one line, naming the
    problem) for a missing folder, a folder without images, an unreadable file, or fewer than
    ``min_count`` images.
    """
    _check_target(resolution, channels, background)
    files = find_images(path, what)
    if len(files) < min_count:
        raise UnlearnError(
            f"{what} '{path}' holds {len(files)} image(s), at least {min_count} are needed; add more images"
        )
    return read_image_files(files, resolution, channels, background, what)


def read_image_files(files: Sequence[str | os.PathLike], resolution: int, channels: int,
                     background: str = "black", what: str = "image list"):
    """The given image files, in the given order, converted as a folder's are (see the module
    docstring): a float32 tensor [N, channels, resolution, resolution] in [-1, 1]. A missing or
    unreadable file is a one-line UnlearnError naming it."""
    import torch

    _check_target(resolution, channels, background)
    files = [Path(f) for f in files]
    if not files:
        raise UnlearnError(f"{what}: no image files given; name at least one")
    for file in files:
        if not file.exists():
            raise UnlearnError(f"{what}: image file '{file}' does not exist (or is not a file); "
                               f"check the path")
        check_readable(file, f"{what}: image file")  # a FIFO would block the read forever
    batch = np.empty((len(files), resolution, resolution, channels), dtype=np.uint8)
    for i, file in enumerate(files):
        batch[i] = read_image(file, resolution, channels, background)
    x = torch.from_numpy(batch).permute(0, 3, 1, 2).float()
    return (x / 127.5 - 1.0).contiguous()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _check_target(resolution: int, channels: int, background: str) -> None:
    if channels not in (1, 3):
        raise UnlearnError(f"images can be converted to 1 or 3 channels, not {channels}")
    if not isinstance(resolution, int) or resolution < 1:
        raise UnlearnError(f"image resolution must be a positive integer, got {resolution!r}")
    if background not in _BACKGROUNDS:
        raise UnlearnError(f"background must be one of {', '.join(_BACKGROUNDS)}, got '{background}'")


def _draft(img: Image.Image, resolution: int) -> None:
    """Let the JPEG decoder scale down by 2/4/8 while both sides stay >= the target."""
    if img.format == "JPEG":
        img.draft(None, (resolution, resolution))


def _upright(img: Image.Image) -> Image.Image:
    try:
        if img.getexif().get(0x0112, 1) == 1:  # no EXIF orientation: nothing to do
            return img
        return ImageOps.exif_transpose(img)
    except Exception:  # a broken EXIF block is no reason to refuse the pixels
        return img


def _to_channels(img: Image.Image, channels: int, background: int) -> Image.Image:
    """An "L" or "RGB" image: alpha composited over ``background``, 16-bit scaled down."""
    mode = img.mode
    if mode.startswith("I") or mode == "F":
        arr = np.nan_to_num(np.asarray(img).astype(np.float32))
        scale = 65535.0 if mode.startswith("I") else (1.0 if arr.max(initial=0) <= 1.0 else 255.0)
        grey = Image.fromarray(np.clip(np.rint(arr * (255.0 / scale)), 0, 255).astype(np.uint8), "L")
        return grey if channels == 1 else grey.convert("RGB")
    has_alpha = mode in ("RGBA", "LA", "La", "RGBa", "PA") or (mode == "P" and "transparency" in img.info)
    if has_alpha:
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32)
        alpha = rgba[..., 3:] / 255.0
        rgb = rgba[..., :3] * alpha + background * (1.0 - alpha)
        img = Image.fromarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8), "RGB")
    target = "L" if channels == 1 else "RGB"
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return img if img.mode == target else img.convert(target)


def _fit(img: Image.Image, resolution: int) -> np.ndarray:
    """Centre-crop to a square and Lanczos-resize to ``resolution``; uint8 [res, res, C]."""
    w, h = img.size
    if h < 1 or w < 1:
        raise ValueError("image has no pixels")
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    if side != resolution or h != w:
        if h != w:
            img = img.crop((left, top, left + side, top + side))
        img = img.resize((resolution, resolution), Image.Resampling.LANCZOS, reducing_gap=3.0)
    out = np.asarray(img)
    return out[..., None] if out.ndim == 2 else out


# --------------------------------------------------------------------------- writing
def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] (torch or numpy, NCHW; NaN shown as grey) -> numpy uint8 NHWC."""
    import torch

    x = torch.as_tensor(images).detach().to("cpu", torch.float32)
    if x.dim() == 3:
        x = x[None]
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise UnlearnError(f"expected images shaped [N, 1 or 3, H, W], got {list(x.shape)}")
    x = torch.nan_to_num(x, nan=0.0).clamp(-1.0, 1.0)
    return ((x + 1.0) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def grid_array(images, nrow: int | None = None, numbers: bool = False, pad: int = 2,
               pad_value: int = 128, min_cell: int = 64) -> np.ndarray:
    """The grid as a uint8 array [H, W, C]; see :func:`save_grid`."""
    cells = to_uint8(images)
    n, h, w, c = cells.shape
    if n == 0:
        raise UnlearnError("no images to put in a grid")
    if numbers:
        factor = max(1, math.ceil(min_cell / min(h, w)))
        cells = cells.repeat(factor, axis=1).repeat(factor, axis=2)  # nearest neighbour
        if c == 1:
            cells = np.repeat(cells, 3, axis=3)  # coloured labels
        n, h, w, c = cells.shape
    nrow = max(1, min(n, nrow or math.ceil(math.sqrt(n))))
    rows = math.ceil(n / nrow)
    grid = np.full((pad + rows * (h + pad), pad + nrow * (w + pad), c), pad_value, dtype=np.uint8)
    for i in range(n):
        top, left = pad + (i // nrow) * (h + pad), pad + (i % nrow) * (w + pad)
        grid[top:top + h, left:left + w] = cells[i]
    if numbers:
        grid = _draw_numbers(grid, n, nrow, h, w, pad)
    return grid


def _draw_numbers(grid: np.ndarray, n: int, nrow: int, h: int, w: int, pad: int) -> np.ndarray:
    img = Image.fromarray(grid, "RGB")
    draw = ImageDraw.Draw(img)
    size = max(12, min(h, w) // 4)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        font = ImageFont.load_default()
    for i in range(n):
        x, y = pad + (i % nrow) * (w + pad) + 1, pad + (i // nrow) * (h + pad) + 1
        label = str(i + 1)
        box = draw.textbbox((x, y), label, font=font)
        draw.rectangle((box[0] - 1, box[1] - 1, box[2] + 1, box[3] + 1), fill=(0, 0, 0))
        draw.text((x, y), label, fill=(255, 230, 0), font=font)
    return np.asarray(img)


def save_grid(images, path: str | os.PathLike, nrow: int | None = None, numbers: bool = False,
              pad: int = 2) -> Path:
    """Write images in [-1, 1] (clamped) as one PNG grid, atomically; returns the path.

    ``nrow`` images per row (default: a square-ish grid). ``numbers=True`` labels each cell with
    its 1-based number, the numbers users type for ``--pick``; cells smaller than 64 px are then
    enlarged (nearest neighbour) so the labels stay readable.
    """
    grid = grid_array(images, nrow=nrow, numbers=numbers, pad=pad)
    _write_png(grid, path)
    return Path(path)


def save_images(images, folder: str | os.PathLike, prefix: str = "") -> list[Path]:
    """Write each image as ``{prefix}{index:05d}.png`` in ``folder`` (atomically); returns the paths."""
    arrays = to_uint8(images)
    paths = []
    for i, arr in enumerate(arrays):
        path = Path(folder) / f"{prefix}{i:05d}.png"
        _write_png(arr, path)
        paths.append(path)
    return paths


def _write_png(arr: np.ndarray, path: str | os.PathLike) -> None:
    img = Image.fromarray(arr[..., 0], "L") if arr.shape[-1] == 1 else Image.fromarray(arr, "RGB")
    save_png(img, path)


def save_png(img: Image.Image, path: str | os.PathLike) -> None:
    """A PIL image written as PNG atomically (a killed process leaves no half-written file)."""
    write_with(path, lambda tmp: img.save(tmp, format="PNG"))


__all__: Sequence[str] = (
    "IMAGE_EXTENSIONS", "find_images", "read_image", "read_image_folder",
    "to_uint8", "grid_array", "save_grid", "save_images",
)
