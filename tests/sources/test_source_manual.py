"""The manual source: a numbered grid, picks from --pick, --pick-file or the terminal."""
import pytest
import torch
from PIL import Image

from unlearn_cli.api import UnlearnError
from unlearn_cli.plugins import get_registry
from unlearn_cli_plugins.sources.manual import parse_picks

from source_fakes import FakeGenerator


@pytest.fixture
def collect():
    return get_registry().load("source", "manual")


def test_pick_option(collect, make_context, capsys):
    gen = FakeGenerator()
    ctx = make_context({"pick": "3,7, 10-12", "candidates": 100}, generator=gen)
    sets = collect(ctx)
    grid = ctx.out_dir / "manual_grid.png"
    assert grid.is_file() and str(grid) in capsys.readouterr().err
    assert Image.open(grid).size[0] >= 8 * 64  # cells enlarged so the numbers are readable
    assert sets.stats["picked"] == [3, 7, 10, 11, 12]
    assert sets.negatives.shape == (5, 1, 8, 8)
    assert sets.positives.shape == (95, 1, 8, 8)  # 59 unpicked + 36 more
    shown = gen(64, gen.calls[0][1])  # the grid's samples, regenerated with the grid's seed
    assert torch.equal(sets.negatives, shown[[2, 6, 9, 10, 11]])
    assert torch.equal(sets.positives[:59], shown[[i for i in range(64) if i not in (2, 6, 9, 10, 11)]])
    assert "unfiltered" in sets.positives_note
    for name in ("negatives.png", "positives.png"):
        assert (ctx.out_dir / name).is_file()


def test_small_candidates_shrink_the_grid(collect, make_context):
    sets = collect(make_context({"pick": "1", "candidates": 5}))
    assert sets.stats["shown"] == 5 and sets.positives.shape[0] == 4


def test_pick_file(collect, make_context, tmp_path):
    picks = tmp_path / "picks.txt"
    picks.write_text("# undesired\n1\n2 5\n9,")
    sets = collect(make_context({"pick_file": str(picks)}))
    assert sets.stats["picked"] == [1, 2, 5, 9]


def test_missing_pick_file(collect, make_context, tmp_path):
    with pytest.raises(UnlearnError, match="cannot read --pick-file"):
        collect(make_context({"pick_file": str(tmp_path / "nope.txt")}))


def test_asks_and_asks_again_after_a_bad_answer(collect, make_context, capsys):
    answers = iter(["70", "4 6"])
    prompts = []

    def ask(prompt):
        prompts.append(prompt)
        return next(answers)

    sets = collect(make_context(ask=ask))
    assert sets.stats["picked"] == [4, 6] and len(prompts) == 2
    assert "70 is not on the grid" in capsys.readouterr().err


def test_gives_up_after_three_bad_answers(collect, make_context):
    with pytest.raises(UnlearnError, match="no number given"):
        collect(make_context(ask=lambda prompt: ""))


def test_end_of_input(collect, make_context):
    def ask(prompt):
        raise EOFError

    with pytest.raises(UnlearnError, match="--pick"):
        collect(make_context(ask=ask))


def test_no_way_to_pick(collect, make_context):
    with pytest.raises(UnlearnError, match=r"manual_grid\.png.*--pick 3,7,12"):
        collect(make_context())


def test_too_few_candidates(collect, make_context):
    with pytest.raises(UnlearnError, match="--candidates"):
        collect(make_context({"candidates": 1, "pick": "1"}))


@pytest.mark.parametrize("text, expected", [
    ("3,7,12", [3, 7, 12]), ("3-5", [3, 4, 5]), ("5 3 3", [3, 5]), ("1 - 2;9", [1, 2, 9]),
    ("  4\n\n8\t", [4, 8]),
])
def test_parse_picks(text, expected):
    assert parse_picks(text, 64) == expected


@pytest.mark.parametrize("text, pattern", [
    ("", "no number given"), (" , ", "no number given"), ("0", "0 is not on the grid"),
    ("65", "65 is not on the grid, whose numbers run 1-64"), ("3,x", "'x' is not a number"),
    ("-3", "'-3' is not a number"), ("5-3", "runs backwards"), ("1-64", "all 64 samples"),
    ("2.5", "'2.5' is not a number"), ("99999999999999", "is not a number"),
])
def test_bad_picks(text, pattern):
    with pytest.raises(UnlearnError, match=pattern) as info:
        parse_picks(text, 64)
    assert "\n" not in str(info.value)


def test_large_samples_are_shrunk_in_grids(collect, make_context):
    ctx = make_context({"pick": "1", "candidates": 4}, generator=FakeGenerator(resolution=512, channels=3))
    collect(ctx)
    assert Image.open(ctx.out_dir / "manual_grid.png").size == (2 + 2 * 258,) * 2
    assert Image.open(ctx.out_dir / "negatives.png").size == (2 + 258,) * 2
