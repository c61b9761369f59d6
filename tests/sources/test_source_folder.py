"""The folder source: negatives from disk, positives generated (filtered when a classifier is given)."""
import numpy as np
import pytest
import torch
from PIL import Image

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry

from source_fakes import FakeClassifier, FakeGenerator, target_prob


@pytest.fixture
def collect():
    return get_registry().load("source", "folder")


def write_images(folder, count, value=200, size=(20, 12), mode="L"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new(mode, size, value).save(folder / f"img{i}.png")
    return folder


def digit_eights(folder, count):
    """Images the fake classifier reads as a confident 8."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        arr = np.zeros((8, 8), dtype=np.uint8)
        arr[0, 0] = round((0.08 + 1) * 127.5)  # -> 0.08 after reading: class 8
        arr[0, 1] = 255                          # -> 1.0: confidence
        Image.fromarray(arr, "L").save(folder / f"eight{i}.png")
    return folder


def test_without_classifier_positives_are_unfiltered(collect, make_context, tmp_path):
    neg = write_images(tmp_path / "neg", 5)
    ctx = make_context({"neg": str(neg), "candidates": 300})
    sets = collect(ctx)
    assert sets.negatives.shape == (5, 1, 8, 8)
    assert sets.positives.shape == (300, 1, 8, 8)
    assert "unfiltered" in sets.positives_note and "base rate" in sets.positives_note
    assert not sets.stats.get("warnings")
    assert (ctx.out_dir / "negatives.png").is_file() and (ctx.out_dir / "positives.png").is_file()


def test_with_classifier_positives_are_strict(collect, make_context, tmp_path):
    neg = digit_eights(tmp_path / "neg", 6)
    sets = collect(make_context({"neg": str(neg), "candidates": 300}, classifier=FakeClassifier()))
    assert sets.stats["negatives_flagged"] == 6
    assert 0 < sets.positives.shape[0] < 300
    assert (target_prob(sets.positives) < 0.05).all()
    assert "p('8') < 0.05" in sets.positives_note


def test_classifier_that_does_not_see_the_negatives_is_not_used(collect, make_context, tmp_path, capsys):
    neg = write_images(tmp_path / "neg", 5, value=0)  # read as class 0
    sets = collect(make_context({"neg": str(neg), "candidates": 100}, classifier=FakeClassifier()))
    assert sets.positives.shape[0] == 100 and "unfiltered" in sets.positives_note
    assert sets.stats["negatives_flagged"] == 0
    assert "sees none of the 5 negatives" in capsys.readouterr().err


def test_few_negatives_warn(collect, make_context, tmp_path, capsys):
    neg = write_images(tmp_path / "neg", 2)
    sets = collect(make_context({"neg": str(neg), "candidates": 10}))
    assert sets.negatives.shape[0] == 2
    assert any("only 2 negative" in w for w in sets.stats["warnings"])
    assert "warning: only 2 negative" in capsys.readouterr().err


def test_converts_to_the_gans_format(collect, make_context, tmp_path):
    neg = tmp_path / "neg"
    write_images(neg, 1, value=(255, 0, 0, 255), size=(50, 30), mode="RGBA")
    write_images(neg / "sub", 1, value=7, size=(5, 9), mode="P")
    ctx = make_context({"neg": str(neg), "candidates": 4}, generator=FakeGenerator(resolution=16, channels=3))
    sets = collect(ctx)
    assert sets.negatives.shape == (2, 3, 16, 16)
    assert sets.positives.shape == (4, 3, 16, 16)


def test_missing_neg_option(collect, make_context):
    with pytest.raises(UnlearnError, match="--neg DIR"):
        collect(make_context({"neg": None}))


@pytest.mark.parametrize("setup, pattern", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "no images"),
    (lambda d: (d.mkdir(), (d / "notes.txt").write_text("hi")), r"no images.*\.png.*1 other file"),
])
def test_folder_errors(collect, make_context, tmp_path, setup, pattern):
    folder = tmp_path / "neg"
    setup(folder)
    with pytest.raises(UnlearnError, match=pattern) as info:
        collect(make_context({"neg": str(folder)}))
    assert "--neg folder" in str(info.value)


def test_corrupt_file_is_named(collect, make_context, tmp_path):
    neg = write_images(tmp_path / "neg", 3)
    (neg / "img1.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(UnlearnError, match="img1.png"):
        collect(make_context({"neg": str(neg)}))


def test_no_strict_positives_is_an_error(collect, make_context, tmp_path):
    neg = digit_eights(tmp_path / "neg", 4)
    weights = [0.0] * 10
    weights[8] = 1.0
    ctx = make_context({"neg": str(neg), "candidates": 20}, classifier=FakeClassifier(),
                       generator=FakeGenerator(weights=weights))
    with pytest.raises(UnlearnError, match="none of 20 generated samples.*no positives"):
        collect(ctx)


def test_positives_are_deterministic(collect, make_context, tmp_path):
    neg = write_images(tmp_path / "neg", 4)
    a = collect(make_context({"neg": str(neg), "candidates": 20}))
    b = collect(make_context({"neg": str(neg), "candidates": 20}))
    c = collect(make_context({"neg": str(neg), "candidates": 20, "seed": 1}))
    assert torch.equal(a.positives, b.positives) and not torch.equal(a.positives, c.positives)
