"""The scripted calls `ivr demo` places, so a newcomer sees cases appear in the web UI."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from pathlib import Path

from ivr.db.writer import Database
from ivr.engine.demo import demo_call
from ivr.prompts.convert import AudioError, to_telephone_wav
from ivr.prompts.voices import Espeak
from ivr.settings import Settings

log = logging.getLogger(__name__)

# What the demo callers say (synthesised): plain English, since every demo has English voices.
MESSAGES = {
    "report": "My employer took my passport and has not paid me for three months. I work at the fish factory.",
    "message": "The recruiter says I still owe him money. He keeps my contract and I cannot leave.",
    "emergency": "Please help. The door of our room is locked and we cannot go out.",
}


def _speech(text: str, path: Path) -> Path | None:
    """A spoken message as telephone audio, through the prompt placeholders' espeak-ng and conversion;
    None when espeak-ng (or its English voice) is missing or fails: the demo caller then plays a tone."""
    espeak = Espeak()
    voice = espeak.voice_for("en")
    if voice is None:
        return None
    raw = path.with_suffix(".raw.wav")
    try:
        espeak.synthesize(text, voice, raw)
        to_telephone_wav(raw, path)
    except AudioError:
        return None
    return path


def _plan(languages: tuple[str, ...]) -> list[tuple[str, str]]:
    """(branch, language) pairs that show the main paths in more than one language."""
    first = languages[0]
    second = languages[1] if len(languages) > 1 else first
    english = "en" if "en" in languages else first
    return [("report", english), ("message", first), ("callback", second), ("emergency", english)]


async def place_demo_calls(settings: Settings, url: str, database: Database, *, speed: float = 1.0) -> int:
    """Place the scripted calls; return how many did not finish."""
    failed: list[int] = []
    with tempfile.TemporaryDirectory(prefix="ivr-demo-speech-") as tmp:
        plan = _plan(settings.languages)
        voices = {
            branch: await asyncio.to_thread(_speech, MESSAGES[branch], Path(tmp) / f"{branch}.wav")
            for branch, _ in plan
            if branch in MESSAGES
        }

        async def one(index: int, branch: str, language: str) -> None:
            await asyncio.sleep(index * 2.0 / speed)  # staggered, as real callers are
            print(f"  demo call {index + 1}: {branch} in {language} ...", flush=True)
            try:
                await demo_call(
                    url, settings.ari_user, settings.ari_password, branch=branch, language=language,
                    languages=settings.languages, voice=voices.get(branch),
                    number=f"+6680000000{index}", speed=speed,
                )
            except Exception as exc:  # one failed demo call must not stop the others
                log.warning("demo call %d (%s) did not finish: %s", index + 1, branch, exc)
                print(f"  demo call {index + 1}: did not finish ({exc})", flush=True)
                failed.append(index)
                return
            print(f"  demo call {index + 1}: {branch} in {language} done", flush=True)

        await asyncio.gather(*(one(i, branch, lang) for i, (branch, lang) in enumerate(plan)))
    rows = await database.query("select count(*) as n from cases")
    print(f"  cases in the database: {rows[0]['n']}", flush=True)
    return len(failed)
