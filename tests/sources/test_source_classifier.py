"""The classifier source: negatives flagged over the threshold, strict positives, clear errors."""
import pytest
import torch

from unlearn_cli.api import SampleSets, UnlearnError
from unlearn_cli.plugins import get_registry

from source_fakes import FakeClassifier, FakeGenerator, labels_of, target_prob


@pytest.fixture
def collect():
    return get_registry().load("source", "classifier")


def test_negatives_are_confident_targets_and_positives_strict(collect, make_context):
    ctx = make_context({"candidates": 600, "max_negatives": 10}, classifier=FakeClassifier())
    sets = collect(ctx)
    assert isinstance(sets, SampleSets)
    assert sets.negatives.shape == (10, 1, 8, 8) and sets.negatives.dtype == torch.float32
    assert (labels_of(sets.negatives) == 8).all()
    p_neg = target_prob(sets.negatives)
    assert (p_neg >= 0.9).all()
    assert p_neg.tolist() == sorted(p_neg.tolist(), reverse=True)  # most confident kept
    assert (target_prob(sets.positives) < 0.05).all()
    stats = sets.stats
    assert stats["tried"] == 600
    assert stats["flagged"] > 10  # more than max_negatives were flagged; capped
    assert stats["negatives"] == 10 and stats["positives"] == sets.positives.shape[0]
    assert stats["ambiguous"] > 0  # conf-0.5 samples of other classes: p(8) = 0.056, dropped
    assert sum(stats["class_counts"].values()) == 600
    assert 0.99 < stats["max_target_prob"] <= 1.0
    assert "p('8') < 0.05" in sets.positives_note
    assert (ctx.out_dir / "negatives.png").is_file() and (ctx.out_dir / "positives.png").is_file()


def test_generates_in_chunks_and_is_deterministic(collect, make_context):
    gen = FakeGenerator()
    ctx = make_context({"candidates": 600}, classifier=FakeClassifier(), generator=gen)
    first = collect(ctx)
    assert [n for n, _ in gen.calls] == [256, 256, 88]
    assert len({seed for _, seed in gen.calls}) == 3
    second = collect(make_context({"candidates": 600}, classifier=FakeClassifier()))
    assert torch.equal(first.negatives, second.negatives)
    assert torch.equal(first.positives, second.positives)


def test_target_by_name_or_index(collect, make_context):
    classes = [f"c{i}" for i in range(10)]
    by_name = collect(make_context({"target": "c8"}, classifier=FakeClassifier(classes)))
    by_index = collect(make_context({"target": "8"}, classifier=FakeClassifier(classes)))
    assert torch.equal(by_name.negatives, by_index.negatives)
    assert by_name.stats["target"] == "c8"


def test_unknown_target_lists_classes(collect, make_context):
    with pytest.raises(UnlearnError, match=r"--target 'cat'.*0, 1, 2"):
        collect(make_context({"target": "cat"}, classifier=FakeClassifier()))


def test_needs_a_classifier(collect, make_context):
    with pytest.raises(UnlearnError, match="--classifier"):
        collect(make_context())


def test_nothing_flagged_says_what_was_seen(collect, make_context):
    weights = [1.0] * 10
    weights[8] = 0.0
    ctx = make_context({"candidates": 300}, classifier=FakeClassifier(), generator=FakeGenerator(weights=weights))
    with pytest.raises(UnlearnError) as info:
        collect(ctx)
    message = str(info.value)
    assert "none of 300" in message and "'8'" in message
    assert "0: " in message  # class histogram
    assert "highest p('8') was 0.056" in message
    assert "--threshold" in message and "--candidates" in message
    assert "\n" not in message


def test_no_positives_is_an_error(collect, make_context):
    weights = [0.0] * 10
    weights[8] = 1.0
    ctx = make_context({"candidates": 50}, classifier=FakeClassifier(), generator=FakeGenerator(weights=weights))
    with pytest.raises(UnlearnError, match="no positives"):
        collect(ctx)


def test_few_negatives_warns(collect, make_context, capsys):
    sets = collect(make_context({"max_negatives": 2}, classifier=FakeClassifier()))
    assert sets.negatives.shape[0] == 2
    assert sets.stats["warnings"] and "warning: only" in capsys.readouterr().err


@pytest.mark.parametrize("options, flag", [
    ({"threshold": 0}, "--threshold"), ({"threshold": 1.5}, "--threshold"),
    ({"threshold": float("nan")}, "--threshold"), ({"candidates": 0}, "--candidates"),
    ({"candidates": "many"}, "--candidates"), ({"max_negatives": -1}, "--max-negatives"),
    ({"positive_max_prob": 0}, "--positive-max-prob"),
])
def test_bad_numbers(collect, make_context, options, flag):
    with pytest.raises(UnlearnError, match=flag):
        collect(make_context(options, classifier=FakeClassifier()))


def test_registered_with_the_other_sources():
    registry = get_registry()
    assert {"folder", "classifier", "manual"} <= set(registry.names("source"))
    for name in ("folder", "classifier", "manual"):
        assert callable(registry.load("source", name))


def test_large_images_come_in_smaller_chunks(make_context):
    from unlearn_cli_plugins.sources.common import chunk_size

    assert chunk_size(make_context(generator=FakeGenerator(resolution=16))) == 256
    assert chunk_size(make_context(generator=FakeGenerator(resolution=1024, channels=3))) == 21
