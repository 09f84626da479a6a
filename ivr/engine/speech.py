"""Spoken menu answers, where a Vosk model exists for the caller's language.

A menu with ``speech: {<lang>: {<category>: [words...]}}`` first listens for a few seconds
(a short recording that any key cuts short — then the key answers). The recording is
recognised with :mod:`ivr.asr.menu` (a grammar of just that menu's words), then deleted:
it is an answer, not a message. No model, no words for the language, or no confident
answer: the keypad decides, as in every other menu.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.ari.errors import AriError

if TYPE_CHECKING:
    from ivr.engine.session import Session

LISTEN_S = 5
END_SILENCE_S = 2


class VoskMenus:
    """The engine's SpeechMenu hook, backed by the transcription part's menu recogniser."""

    def __init__(self, models_dir: Path) -> None:
        from ivr.asr.menu import MenuModels

        self.models = MenuModels(models_dir)

    def available(self, lang: str) -> bool:
        return self.models.store.path(lang) is not None

    async def choose(self, session: Session, lang: str, choices: dict[str, str],
                     phrases: dict[str, list[str]]) -> str | None:
        """The category the caller said, or None (then the keypad decides)."""
        from ivr.asr.menu import MenuError

        if not phrases or not self.available(lang):
            return None
        try:
            menu = await asyncio.to_thread(self.models.menu, lang, phrases)
        except MenuError as exc:
            session.log.warning("spoken menu unavailable in %s: %s", lang, exc)
            return None
        if menu is None:
            return None
        name = f"ivr-{session.state.call_id}-answer-{len(session.ch.typeahead)}-{id(menu) % 10000}"
        result = await session.ch.record(name, max_duration=LISTEN_S, max_silence=END_SILENCE_S, beep=False,
                                         wall_limit=session.secs(LISTEN_S), terminate_on="any")
        try:
            if session.ch.typeahead or result.hung_up or result.quick_exit:
                return None
            data = await session.call.client.download_stored_recording(name)
            # Decoding is CPU-heavy: the engine's low-priority threads, so other calls' barge-ins win the CPU.
            category, reason = await session.background.run(_recognise, menu, data)
        except AriError as exc:
            session.log.info("spoken answer not fetched (%s)", exc)
            return None
        finally:
            with contextlib.suppress(AriError):
                await session.call.client.delete_stored_recording(name)
        session.log.info("spoken answer: %s (%s)", category or "none", reason)
        return category if category in set(choices.values()) else None


def _recognise(menu: Any, data: bytes) -> tuple[str | None, str]:
    """(category, reason) of the spoken answer in ``data``."""
    with tempfile.TemporaryDirectory(prefix="ivr-answer-") as tmp:
        path = Path(tmp) / "answer.wav"
        path.write_bytes(data)
        result = menu.recognize_file(path)
    return result.category, result.reason
