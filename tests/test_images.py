"""Image IO: reading folders of any images, writing grids and single PNGs."""
import io
import os

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from unlearn_cli.api import UnlearnError
from unlearn_cli.io.images import (IMAGE_EXTENSIONS, find_images, grid_array, read_image_folder,
                                   save_grid, save_images, to_uint8)


def png_bytes(img):
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def zoo(tmp_path):
    """One image of each kind people have: modes, sizes, formats, upper-case names, subfolders."""
    d = tmp_path / "zoo"
    (d / "sub" / "deeper").mkdir(parents=True)
    Image.new("L", (31, 17), 200).save(d / "a_grey.png")
    Image.new("LA", (10, 10), (255, 0)).save(d / "b_grey_alpha.png")          # transparent white
    Image.new("P", (40, 60), 3).save(d / "c_palette.bmp")
    Image.new("RGB", (300, 200), (0, 0, 255)).save(d / "d_rgb.JPG", quality=95)
    Image.new("RGBA", (7, 9), (255, 0, 0, 255)).save(d / "e_rgba.webp", lossless=True)
    Image.fromarray(np.full((12, 20), 65535, np.uint16)).save(d / "sub" / "f_16bit.png")
    Image.new("CMYK", (16, 16), (0, 255, 0, 0)).save(d / "sub" / "g_cmyk.jpeg")
    Image.new("1", (5, 5), 1).save(d / "sub" / "deeper" / "h_bilevel.png")
    palette = Image.new("P", (8, 8), 0)
    palette.save(d / "sub" / "deeper" / "i_palette_transparent.png", transparency=0)
    return d


def test_mixed_sizes_and_modes_are_read(zoo):
    x = read_image_folder(zoo, 16, 3)
    assert x.shape == (9, 3, 16, 16) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1
    mean = x.mean(dim=(2, 3))
    expected = [
        [200 / 127.5 - 1] * 3,  # grey
        [-1, -1, -1],           # fully transparent: black background
        None,                   # palette entry 3: whatever colour
        [-1, -1, 1],            # blue
        [1, -1, -1],            # red
        [1, 1, 1],              # sub/deeper/: bilevel white
        [-1, -1, -1],           # sub/deeper/: transparent palette
        [1, 1, 1],              # sub/: 16-bit white stays white
        [1, -1, 1],             # sub/: CMYK magenta
    ]
    for i, row in enumerate(expected):
        if row is not None:
            assert mean[i].tolist() == pytest.approx(row, abs=0.03), i
    grey = read_image_folder(zoo, 8, 1)
    assert grey.shape == (9, 1, 8, 8)


def test_order_is_sorted_by_relative_path(zoo):
    names = [p.relative_to(zoo).as_posix() for p in find_images(zoo)]
    assert names == sorted(names) and len(names) == 9


def test_white_background_option(zoo):
    x = read_image_folder(zoo, 4, 1, background="white")
    assert x[1].mean().item() == pytest.approx(1.0)


def test_sixteen_bit_uses_full_range(tmp_path):
    arr = np.zeros((4, 4), np.uint16)
    arr[:, 2:] = 32768
    Image.fromarray(arr).save(tmp_path / "x.png")
    x = read_image_folder(tmp_path, 4, 1)
    assert x[0, 0, 0].tolist() == pytest.approx([-1, -1, 0, 0], abs=0.01)


def test_centre_crop_then_resize(tmp_path):
    arr = np.zeros((10, 30), np.uint8)
    arr[:, 10:20] = 255  # only the centre square is white
    Image.fromarray(arr).save(tmp_path / "wide.png")
    x = read_image_folder(tmp_path, 5, 1)
    assert x.min().item() > 0.95


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((10, 20), np.uint8)
    arr[:, :10] = 255  # left half white
    img = Image.fromarray(arr)
    exif = Image.Exif()
    exif[0x0112] = 3  # rotated 180 degrees: the left half shows on the right
    img.save(tmp_path / "photo.jpg", exif=exif, quality=100)
    x = read_image_folder(tmp_path, 10, 1)[0, 0]
    assert x[:, 7:].mean() > 0.9 and x[:, :3].mean() < -0.9


def test_hidden_files_and_other_files_are_ignored(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "ok.png")
    (tmp_path / "._ok.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "junk.png").write_bytes(b"junk")
    (tmp_path / "readme.txt").write_text("x")
    assert read_image_folder(tmp_path, 4, 1).shape[0] == 1


def test_missing_folder(tmp_path):
    with pytest.raises(UnlearnError, match="does not exist"):
        read_image_folder(tmp_path / "nope", 8, 1)


def test_file_instead_of_folder(tmp_path):
    (tmp_path / "a.png").write_bytes(png_bytes(Image.new("L", (4, 4))))
    with pytest.raises(UnlearnError, match="is a file, not a folder"):
        read_image_folder(tmp_path / "a.png", 8, 1)


def test_empty_folder_names_the_extensions(tmp_path):
    with pytest.raises(UnlearnError) as info:
        read_image_folder(tmp_path, 8, 1)
    assert "no images" in str(info.value) and "every other format Pillow reads" in str(info.value)
    for ext in (".png", ".jpg", ".webp", ".tif", ".gif"):
        assert ext in str(info.value) and ext in IMAGE_EXTENSIONS
    assert ".eps" not in IMAGE_EXTENSIONS  # its decoder runs Ghostscript


def test_folder_of_non_images(tmp_path):
    for name in ("a.txt", "b.csv", "c.npy"):
        (tmp_path / name).write_text("data")
    with pytest.raises(UnlearnError, match="3 other file"):
        read_image_folder(tmp_path, 8, 1)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "text"])
def test_one_bad_file_among_good_ones_is_named(tmp_path, damage):
    good = png_bytes(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), np.uint8)))
    for i in range(3):
        (tmp_path / f"good{i}.png").write_bytes(good)
    bad = {"garbage": os.urandom(200), "truncated": good[: len(good) // 2], "empty": b"",
           "text": b"hello, I am a text file"}[damage]
    (tmp_path / "good1_bad.jpg").write_bytes(bad)
    with pytest.raises(UnlearnError) as info:
        read_image_folder(tmp_path, 8, 1)
    message = str(info.value)
    assert "good1_bad.jpg" in message and "replace or remove" in message and "\n" not in message


def test_too_few_images(tmp_path):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    with pytest.raises(UnlearnError, match="holds 1 image.*at least 2"):
        read_image_folder(tmp_path, 8, 1, min_count=2)


@pytest.mark.parametrize("kwargs, pattern", [
    ({"channels": 4}, "1 or 3 channels"), ({"resolution": 0}, "positive integer"),
    ({"background": "green"}, "background"),
])
def test_bad_targets(tmp_path, kwargs, pattern):
    Image.new("L", (4, 4)).save(tmp_path / "a.png")
    args = {"resolution": 8, "channels": 1, **kwargs}
    with pytest.raises(UnlearnError, match=pattern):
        read_image_folder(tmp_path, **args)


# --------------------------------------------------------------------------- writing
def test_to_uint8_maps_range_and_clamps():
    x = torch.tensor([-1.0, 0.0, 1.0, 5.0, -7.0, float("nan")]).reshape(1, 1, 1, 6)
    assert to_uint8(x).reshape(-1).tolist() == [0, 128, 255, 255, 0, 128]
    assert to_uint8(torch.zeros(2, 3, 4, 5)).shape == (2, 4, 5, 3)


def test_grid_layout():
    images = torch.rand(10, 3, 8, 8) * 2 - 1
    grid = grid_array(images, nrow=4, pad=2)
    assert grid.shape == (2 + 3 * 10, 2 + 4 * 10, 3)
    assert np.array_equal(grid[2:10, 12:20], to_uint8(images[1:2])[0])


def test_numbered_grid_enlarges_small_cells(tmp_path):
    path = save_grid(torch.zeros(9, 1, 16, 16), tmp_path / "g.png", numbers=True)
    img = Image.open(path)
    assert img.mode == "RGB" and img.size == (2 + 3 * 66, 2 + 3 * 66)
    cell = np.asarray(img)[2:66, 2:66]
    assert (cell != 128).any(axis=2).any() and len(np.unique(cell.reshape(-1, 3), axis=0)) > 2  # a label


def test_save_grid_is_atomic_and_grey_stays_grey(tmp_path):
    path = save_grid(torch.zeros(3, 1, 8, 8), tmp_path / "out" / "g.png")
    assert Image.open(path).mode == "L"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["g.png"]


def test_save_grid_refuses_nothing(tmp_path):
    with pytest.raises(UnlearnError):
        save_grid(torch.zeros(0, 3, 8, 8), tmp_path / "g.png")


def test_save_images_round_trip(tmp_path):
    images = torch.rand(3, 3, 8, 8) * 2 - 1
    paths = save_images(images, tmp_path / "imgs", prefix="neg_")
    assert [p.name for p in paths] == ["neg_00000.png", "neg_00001.png", "neg_00002.png"]
    back = read_image_folder(tmp_path / "imgs", 8, 3)
    assert torch.allclose(back, images, atol=1 / 127.5)


# --------------------------------------------------------------------------- hostile bytes
_VALID = png_bytes(Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16)).convert("RGB"))


@st.composite
def mutated(draw):
    data = bytearray(_VALID)
    for _ in range(draw(st.integers(1, 8))):
        position = draw(st.integers(0, len(data) - 1))
        data[position] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=2048), mutated()),
       suffix=st.sampled_from([".png", ".jpg", ".webp", ".bmp"]))
def test_hostile_bytes_raise_only_our_error(tmp_path, data, suffix):
    for old in tmp_path.iterdir():
        old.unlink()
    (tmp_path / f"x{suffix}").write_bytes(data)
    try:
        x = read_image_folder(tmp_path, 8, 3)
    except UnlearnError as exc:
        assert "\n" not in str(exc)
    else:
        assert x.shape == (1, 3, 8, 8) and torch.isfinite(x).all()
