"""balance_positives: the positives are redrawn to the candidates' non-target class shares."""
import torch

from unlearn_cli_plugins.sources.classifier import _balanced


def test_redrawn_positives_follow_the_candidates_class_shares():
    # candidates: classes 0, 1, 2 equally common, 2 is the target; the strict rule left
    # 90 positives of class 0 and only 10 of class 1
    counts = torch.tensor([100, 100, 100])
    top = torch.cat([torch.zeros(90, dtype=torch.long), torch.ones(10, dtype=torch.long)])
    positives = torch.arange(100).view(100, 1, 1, 1).float()
    out = _balanced(positives, top, counts, [2], seed=0)
    classes = top[out.view(-1).long()]
    assert len(out) == 100 and (classes == 0).sum() == 50 and (classes == 1).sum() == 50
    ones = out.view(-1)[classes == 1].long()
    assert set(ones.tolist()) == set(range(90, 100))  # every class-1 positive used, some twice
    assert torch.equal(out, _balanced(positives, top, counts, [2], seed=0))  # deterministic


def test_a_class_without_positives_is_left_out_and_the_rest_renormalised():
    counts = torch.tensor([50, 50, 100, 0])
    top = torch.zeros(20, dtype=torch.long)  # only class 0 has positives
    out = _balanced(torch.randn(20, 1, 2, 2), top, counts, [2], seed=1)
    assert len(out) == 20


def test_for_an_attribute_every_class_counts_none_is_left_out():
    # the classes are digits, the target an attribute: all candidates' digit shares are kept
    counts = torch.tensor([30, 70])
    top = torch.cat([torch.zeros(50, dtype=torch.long), torch.ones(50, dtype=torch.long)])
    out = _balanced(torch.arange(100).view(100, 1, 1, 1).float(), top, counts, [], seed=2)
    classes = top[out.view(-1).long()]
    assert (classes == 0).sum() == 30 and (classes == 1).sum() == 70
