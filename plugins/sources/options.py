"""The built-in sources' options: the one place their defaults live (docs/sources.md).

Imported when a run, `run --help` or `list-plugins --options` needs them (pydantic, no torch).
"""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field

from unlearn_cli.api import ComponentOptions

MAX_SAMPLES = 1_000_000  # each candidate is held in memory


class GeneratedOptions(ComponentOptions):
    candidates: int = Field(2000, ge=1, le=MAX_SAMPLES,
                            description="samples generated: to search for negatives, or as positives")


class Thresholds(ComponentOptions):
    threshold: float = Field(0.9, gt=0, le=1, description="a sample is flagged when p(target) >= this")
    # calibration showed that ambiguous samples kept as positives keep the feature alive
    positive_max_prob: float = Field(0.05, gt=0, le=1,
                                     description="a positive needs p(target) < this (capped at threshold)")


class FolderOptions(GeneratedOptions, Thresholds):
    """--source folder: negatives from --neg DIR; positives generated (filtered when a
    classifier and --target are given)."""


class ClassifierSourceOptions(GeneratedOptions, Thresholds):
    """--source classifier: generate, keep what the classifier flags."""

    # 128 (nearly every flagged sample of 2000 candidates on the bundled default) beat 32 on
    # every seed: the adapted model sees more kinds of the feature (docs/results.md)
    max_negatives: int = Field(128, ge=1, description="keep at most this many flagged samples, the most confident")
    balance_positives: bool = Field(False, description="redraw the positives so their classes have "
                                    "the candidates' non-target class shares (keeps the other classes' proportions)")


class ManualOptions(ComponentOptions):
    """--source manual: the user picks the undesired samples."""

    candidates: int = Field(2000, ge=2, le=MAX_SAMPLES,
                            description="samples shown and generated; the unpicked ones are positives")
    pick: Optional[str] = Field(None, description="grid numbers of the undesired samples, e.g. 3,7,12 or 3-5")
    pick_file: Optional[str] = Field(None, description="a picks file (JSON from the page or `pick`) or a file of numbers")
    ui: Literal["auto", "browser", "terminal"] = Field(
        "auto", description="browser (a page to click on), terminal (grid + question), auto: "
                            "the browser when a person is at the terminal")
    host: str = Field("127.0.0.1", description="address the pick page listens on")
    port: Optional[int] = Field(None, ge=0, le=65535, description="port of the pick page (None: 8765, else any free one)")


def default(model: type[ComponentOptions], key: str):
    """The default of option ``key``: sources read it from their model, never restate it."""
    return model.model_fields[key].default
