"""Morpho-MNIST measurements on shapes whose thickness, slant and size are known exactly."""
import math

import pytest
import torch

from unlearn_cli_plugins.morpho.measure import measure, thin


def bar(width: float, height: int = 16, shear: float = 0.0, size: int = 32) -> torch.Tensor:
    """A [1, 1, size, size] image in [-1, 1]: a bar of `width` px, centred, leaning by `shear`
    (x = centre - shear * (y - centre): positive shear leans right, like italics)."""
    ys, xs = torch.meshgrid(torch.arange(size) + 0.5, torch.arange(size) + 0.5, indexing="ij")
    centre = size / 2
    across = xs - centre + shear * (ys - centre)
    inside = (across >= -width / 2) & (across < width / 2) & (ys - centre >= -height / 2) & (ys - centre < height / 2)
    return inside.float().mul(2).sub(1)[None, None]


@pytest.mark.parametrize("width", [2, 3, 4, 6])
def test_thickness_of_a_bar_is_its_width(width):
    assert measure(bar(width))["thickness"].item() == pytest.approx(width, abs=0.3)


def test_slant_of_a_leaning_bar():
    m = measure(torch.cat([bar(3, shear=0.3), bar(3), bar(3, shear=-0.3)]))
    assert m["slant"].tolist() == pytest.approx([math.atan(0.3), 0.0, -math.atan(0.3)], abs=0.03)


def test_width_and_height_hold_98_percent_of_the_ink():
    # of the bicubic-upsampled grey image, whose soft edges spread the ink a little
    m = measure(bar(6, height=20))
    assert m["height"].item() == pytest.approx(20, abs=0.6)
    assert m["width"].item() == pytest.approx(6, abs=0.6)
    assert m["area"].item() == pytest.approx(6 * 20, rel=0.05)


def test_ink_up_to_the_border_stops_at_the_image_edge():
    full = torch.ones(1, 1, 32, 32)
    full[..., :, :4] = -1
    m = measure(full)
    assert 30 <= m["height"].item() <= 32


def test_thinning_leaves_a_one_pixel_line_inside_the_shape():
    shape = torch.zeros(1, 20, 20, dtype=torch.bool)
    shape[0, 4:16, 7:12] = True
    skeleton = thin(shape)
    assert skeleton.any() and (skeleton <= shape).all()
    assert skeleton[0].sum(1).max() <= 2  # at most two pixels wide in any row


def test_measurements_are_per_image_in_a_batch():
    one, two = bar(2), bar(5, shear=0.2)
    batch = measure(torch.cat([one, two]))
    alone = [measure(one), measure(two)]
    for name, values in batch.items():
        assert values.tolist() == pytest.approx([alone[0][name].item(), alone[1][name].item()], abs=1e-5)


def test_the_classifier_never_reuses_measurements_of_other_images():
    """Each batch is measured as itself: a cache keyed by the tensor's address once gave a batch
    that reused freed memory the previous batch's measurements."""
    from unlearn_cli_plugins.morpho.classifier import MorphoClassifier

    class Classes(torch.nn.Module):
        classes = ["a"]

        def features(self, x):
            return x.flatten(1)[:, :2]

        def probs(self, x):
            return torch.ones(len(x), 1)

    clf = MorphoClassifier("thickness", 2.5, 4.0, 0.1, Classes())
    thin_bar, thick_bar = bar(2), bar(5)
    assert clf.measure(thin_bar)["thickness"].item() == pytest.approx(2, abs=0.3)
    assert clf.measure(thick_bar)["thickness"].item() == pytest.approx(5, abs=0.3)
    reused = thin_bar.clone()
    reused.copy_(thick_bar)  # the same object changed in place: measured again
    clf.measure(reused)
    reused.copy_(thin_bar)
    assert clf.measure(reused)["thickness"].item() == pytest.approx(2, abs=0.3)
    assert clf.probs(thick_bar).argmax(1).item() == 2 and clf.probs(thin_bar).argmax(1).item() == 0
