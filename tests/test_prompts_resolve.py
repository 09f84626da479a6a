"""PromptResolver: URIs for local and remote Asterisk, the fallback chain, digits and numbers."""

from __future__ import annotations

import dataclasses
import logging
import wave
from pathlib import Path

import pytest

from ivr.db.writer import Database
from ivr.prompts.resolve import MissingPrompt, PromptResolver
from ivr.prompts.standins import set_stand_in
from ivr.settings import Settings


def _built(settings: Settings, lang: str, key: str) -> Path:
    path = (settings.data_dir / "prompts" / lang / f"{key}.wav").resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x01\x00" * 800)
    return path


def test_local_asterisk_plays_by_absolute_path(settings: Settings) -> None:
    path = _built(settings, "my", "greeting")
    assert PromptResolver(settings).media("greeting", "my") == [f"sound:{path.with_suffix('')}"]


def test_remote_asterisk_plays_the_installed_copy(settings: Settings) -> None:
    _built(settings, "th", "greeting")
    remote = dataclasses.replace(settings, asterisk_local=False)
    assert PromptResolver(remote).media("greeting", "th") == ["sound:ivr/th/greeting"]


def test_khmer_plays_thai_only_when_an_admin_chose_it_with_one_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    _built(settings, "en", "goodbye")
    th = _built(settings, "th", "goodbye")
    resolver = PromptResolver(settings)
    with caplog.at_level(logging.WARNING, logger="ivr.prompts.resolve"):
        assert resolver.media("goodbye", "km")[0].endswith("/en/goodbye")   # no silent Thai
        database = Database(settings.db_path)
        database.write_sync(lambda db: set_stand_in(db, settings, "km", "th", user_id=None, username="t"))
        database.close()
        assert resolver.media("goodbye", "km") == [f"sound:{th.with_suffix('')}"]
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["prompt goodbye has no km audio; playing the en prompt instead"]


def test_digits_follow_the_fallback_chain_until_recorded(settings: Settings) -> None:
    _built(settings, "th", "digit_4")
    _built(settings, "en", "digit_4")
    assert PromptResolver(settings).digits("4", "km")[0].endswith("/th/digit_4")


def test_never_names_a_missing_or_empty_file(settings: Settings) -> None:
    empty = settings.data_dir.resolve() / "prompts" / "en" / "apology.wav"
    empty.parent.mkdir(parents=True)
    empty.write_bytes(b"")
    with pytest.raises(MissingPrompt, match="apology is not built for lo or en"):
        PromptResolver(settings).media("apology", "lo")


@pytest.mark.parametrize("key", ["../etc/passwd", "Greeting", ""])
def test_keys_that_are_not_keys_are_refused(settings: Settings, key: str) -> None:
    with pytest.raises(MissingPrompt):
        PromptResolver(settings).media(key, "en")


def test_digits_and_numbers(settings: Settings) -> None:
    for d in range(10):
        _built(settings, "vi", f"digit_{d}")
    _built(settings, "vi", "number_12")
    resolver = PromptResolver(settings)
    assert [uri.rsplit("/", 1)[1] for uri in resolver.digits("4071", "vi")] == [
        "digit_4", "digit_0", "digit_7", "digit_1"]
    assert resolver.number(7, "vi")[0].endswith("/vi/digit_7")
    assert resolver.number(12, "vi")[0].endswith("/vi/number_12")
    assert [uri.rsplit("/", 1)[1] for uri in resolver.number(305, "vi")] == ["digit_3", "digit_0", "digit_5"]
    with pytest.raises(ValueError):
        resolver.digits("12a", "vi")
    with pytest.raises(ValueError):
        resolver.number(-1, "vi")
