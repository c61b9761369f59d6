"""Shared fixtures' builders for engine tests: a random tiny DCGAN file and negative images."""
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from unlearn_cli.io.modelfile import save_model
from unlearn_cli.plugins import get_registry


def tiny_dcgan_file(path: Path, seed: int = 0) -> Path:
    plugin = get_registry().load("gan", "dcgan")
    config = plugin.validate_config({"resolution": 8, "z_dim": 8, "channels": 8})
    torch.manual_seed(seed)
    G, D = plugin.build(config)
    save_model(path, {"G": G.state_dict(), "G_ema": G.state_dict(), "D": D.state_dict()},
               gan="dcgan", config=config, stage="pretrained")
    return path


def negative_folder(path: Path, n: int = 4) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray((rng.random((12, 12)) * 255).astype("uint8")).save(path / f"n{i}.png")
    return path
