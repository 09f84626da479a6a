"""`ivr check` reports unusable speech models and keyword files; a missing model is fine."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ivr.asr.check import check_speech
from ivr.settings import Settings


def test_missing_models_are_fine_incomplete_ones_are_reported(settings: Settings, tmp_path: Path) -> None:
    models = tmp_path / "models"
    s = dataclasses.replace(settings, models_dir=models)
    assert check_speech(s) == []  # no models at all: every voicemail goes to people
    (models / "vi" / "am").mkdir(parents=True)  # a half-unpacked archive
    problems = check_speech(s)
    assert len(problems) == 1
    assert problems[0].startswith(f"{models / 'vi'}: the Vosk model for 'vi' is not usable (")
