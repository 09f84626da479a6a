"""The scripted calls `ivr demo` places, so a newcomer sees cases appear in the web UI."""

from __future__ import annotations

import asyncio
import logging
import tempfile
from datetime import date
from pathlib import Path

import sqlite_utils

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
