"""train.augment: translate: what D sees is shifted, differentiably and reproducibly."""
import torch

from engine_helpers import negative_folder
from unlearn_cli.config import TrainConfig, TrainOptions
from unlearn_cli.engine.loop import translate
from unlearn_cli.engine.train import train
from unlearn_cli.io.modelfile import sha256_file


def test_translate_shifts_each_image_by_whole_pixels_and_keeps_gradients():
    x = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 1, 16, 16).requires_grad_(True)
    y = translate(x, torch.Generator().manual_seed(3))
    assert y.shape == x.shape
    for i in range(2):  # an interior window of each output is an exact shifted window of its input
        inner = y[i, 0, 4:12, 4:12].detach()
        found = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                 if torch.equal(inner, x[i, 0, 4 + dy:12 + dy, 4 + dx:12 + dx].detach())]
        assert len(found) == 1
    y.sum().backward()
    assert x.grad.sum().item() == y.numel()  # every output pixel came from one input pixel
    again = translate(x.detach(), torch.Generator().manual_seed(3))
    assert torch.equal(again, y.detach())


def _train(tmp_path, name, augment):
    data = negative_folder(tmp_path / "data", n=6)
    config = TrainConfig(gan="dcgan", data=str(data), arch={"resolution": 8, "z_dim": 8, "channels": 8},
                         iters=4, train=TrainOptions(batch=4, augment=augment), device="cpu",
                         out=str(tmp_path / name))
    train(config, show_progress=False)
    return sha256_file(tmp_path / name / "model.safetensors")


def test_training_with_augmentation_is_reproducible_and_differs_from_without(tmp_path):
    first, second = _train(tmp_path, "a", "translate"), _train(tmp_path, "b", "translate")
    assert first == second
    assert _train(tmp_path, "c", "none") != first
