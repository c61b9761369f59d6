"""The torchscript classifier's options (pydantic, no torch)."""
from __future__ import annotations

from typing import Optional

from pydantic import Field

from unlearn_cli.api import ComponentOptions


class TorchScriptOptions(ComponentOptions):
    path: Optional[str] = Field(None, description="the model file saved with torch.jit.save (--classifier-path)")
