"""`ivr check` for speech: keyword files that do not load, model folders that are incomplete.

A language without a model is not a problem: its voicemails go to people.
"""

from __future__ import annotations

from ivr.asr.flagging import check_all
from ivr.asr.models import ModelStore
from ivr.checks import check
from ivr.settings import Settings


@check("speech")
def check_speech(settings: Settings) -> list[str]:
    problems = check_all()
    for info in ModelStore(settings.models_dir).list():
        if info.problem:
            problems.append(f"{info.path}: the Vosk model for {info.lang!r} is not usable ({info.problem})")
    return problems
