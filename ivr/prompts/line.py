"""The staff prompt-recording line: a native speaker calls in, records a prompt, and it becomes a draft.

Many speakers are easier to reach by phone than at a computer. The dialplan sends the line's
extension (asterisk_conf/extensions.conf, rendered by ivr/asterisk/render.py) to its own Stasis
application, ``<IVR_ARI_APP>-prompts``, handled here and not by the hotline's flow engine:

- from a staff phone (``Stasis(<app>-prompts,staff)`` in the staff phones' context) it opens at
  once; from anywhere else it asks for IVR_PROMPT_LINE_PIN (three tries per call; wrong PINs are
  counted in the database per calling number, hashed, and too many lock that number, or the PIN,
  out for a while, across engine restarts: ivr/prompts/pins.py), and without a PIN set it hangs up;
- the speaker keys the language number and the prompt number (both printed in the voice-talent
  kit), hears what callers hear now and the newest draft, records after the tone, listens, and
  keeps it (1), hears it again (2), records again (3) or leaves it (*);
- a kept take goes through the same checks as any other recording (ivr/prompts/review.py) and is
  a draft until a second person with the language approves it; ``TAKES_PER_HOUR`` caps the drafts
  the line accepts (counted from the drafts table, so a restart does not reset it either);
- every call, wrong PIN and kept take is in the audit log (never the caller's number).

The line's own words are English, synthesised once into ``$IVR_DATA_DIR/prompts/_line/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.ari.stasis import Call, StasisApp
from ivr.db.writer import Database
from ivr.engine.channel import Channel, HungUp
from ivr.prompts import pins
from ivr.prompts.convert import AudioError, to_telephone_wav
from ivr.prompts.kit import PHONE_LANGUAGES, max_seconds
from ivr.prompts.resolve import INSTALL_PREFIX, MissingPrompt, PromptResolver
from ivr.prompts.review import Person, PromptReview, drafts, listen_path
from ivr.prompts.store import built_root, is_playable
from ivr.prompts.texts import catalog_for
from ivr.prompts.voices import Espeak
from ivr.protection import audit
from ivr.settings import Settings
from ivr.words import N_

log = logging.getLogger(__name__)

APP_SUFFIX = "-prompts"
EXTENSION = "1700"
FOLDER = "_line"   # beside the language folders of the built prompts; never a language code
PIN_TRIES = 3
TAKES_PER_HOUR = 120
TAKES_PER_KEY = 5
ASK_TIMEOUT_S = 10.0
MAX_SILENCE_S = 4

TEXTS = {
    "line_welcome": "Prompt recording line.",
    "line_pin": "Enter the PIN, then press hash.",
    "line_wrong_pin": "That PIN is not right.",
    "line_language": "Enter the language number from your script, then press hash.",
    "line_key": "Enter the prompt number from your script, then press hash. To choose another language, "
                "press hash alone.",
    "line_no_such": "There is no such number.",
    "line_current": "Callers hear this now.",
    "line_nothing": "Callers hear nothing of this language for this prompt yet.",
    "line_draft": "This is the newest draft.",
    "line_record": "After the tone, say the text. Press hash when you are done.",
    "line_review": "Press 1 to keep it. Press 2 to hear it again. Press 3 to record it again. "
                   "Press star to leave it.",
    "line_kept": "Kept as a draft. Someone else who speaks the language will check it before callers hear it.",
    "line_refused": "That recording cannot be used. Please record it again.",
    "line_busy": "Too many tries. Please call again later.",
    "line_goodbye": "Goodbye.",
}


def app_name(settings: Settings) -> str:
    return settings.ari_app + APP_SUFFIX


def line_prompts(settings: Settings, espeak: Espeak | None = None) -> Path:
    """Synthesise the line's own words (only those whose text changed or that are missing)."""
    folder = built_root(settings) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    speaker = espeak or Espeak()
    voice = speaker.voice_for("en")
    for key, text in TEXTS.items():
        wav, said = folder / f"{key}.wav", folder / f".{key}.txt"
        if is_playable(wav) and said.is_file() and said.read_text(encoding="utf-8") == text:
            continue
        if voice is None:
            raise AudioError(N_("espeak-ng has no English voice for the prompt line's words"))
        with tempfile.TemporaryDirectory(prefix="ivr-line-") as tmp:
            raw = Path(tmp) / "speech.wav"
            speaker.synthesize(text, voice, raw)
            to_telephone_wav(raw, wav)
        said.write_text(text, encoding="utf-8")
    return folder


class PromptLine:
    """A Service: the line's Stasis application and one handler task per staff call."""

    def __init__(self, settings: Settings, database: Database, *, client: AriClient | None = None,
                 resolver: PromptResolver | None = None, time_scale: float = 1.0) -> None:
        self.name = "prompt-line"
        self.settings = settings
        self.database = database
        self.client = client or AriClient(settings.ari_url, settings.ari_user, settings.ari_password)
        self.resolver = resolver or PromptResolver(settings)
        self.review = PromptReview(settings, database)
        self.time_scale = time_scale
        self._caller_key = settings.key(pins.KEY_PURPOSE) if settings.prompt_line_pin else b""
        self.app = StasisApp(self.client, app_name(settings), self.handle)
        self._own_client = client is None

    async def start(self) -> None:
        try:
            await asyncio.to_thread(line_prompts, self.settings)
        except AudioError as exc:
            log.error("prompt line: its prompts cannot be made (%s); the line stays closed", exc)
            return
        await self.app.start()

    async def stop(self) -> None:
        await self.app.stop()
        if self._own_client:
            await self.client.close()

    # -- one call ------------------------------------------------------------------------------------------

    async def handle(self, call: Call) -> None:
        ch = Channel(call, call.log, quick_exit=None)
        trusted = bool(call.args) and call.args[0] == "staff"
        who = _staff_name(call.channel) if trusted else "PIN caller"
        try:
            with contextlib.suppress(AriError):
                await call.client.answer(call.channel_id)
            await self._audit("prompt_line.call", who, {"via": "staff phone" if trusted else "pin"})
            if not trusted and not await self._pin(ch, who, call.channel):
                return
            await self._say(ch, "line_welcome")
            while (lang := await self._language(ch)) is not None:
                while (key := await self._key(ch, lang)) is not None:
                    await self._prompt(ch, lang, key, who)
            await self._say(ch, "line_goodbye")
        except HungUp:
            call.log.info("prompt line: the caller hung up")
        finally:
            await ch.hangup()

    async def _pin(self, ch: Channel, who: str, channel: dict[str, Any]) -> bool:
        if not self.settings.prompt_line_pin:
            await self._say(ch, "line_busy")
            return False
        caller = pins.caller_tag(self._caller_key, str((channel.get("caller") or {}).get("number") or "") or None)
        if await self.database.read(lambda db: pins.locked(db, caller)):
            ch.log.info("prompt line: this caller, or the PIN, is locked out after wrong PINs")
            await self._say(ch, "line_busy")
            return False
        for _ in range(PIN_TRIES):
            got = await self._ask(ch, "line_pin", 12)
            if got and hmac.compare_digest(got, self.settings.prompt_line_pin):
                return True
            if await self.database.write(lambda db: pins.failed(db, caller, f"phone:{who}")):
                ch.log.warning("prompt line: too many wrong PINs; locked out (audited as prompt_line.pin_locked)")
                break
            await self._say(ch, "line_wrong_pin")
        await self._say(ch, "line_busy")
        return False

    async def _language(self, ch: Channel) -> str | None:
        for _ in range(3):
            got = await self._ask(ch, "line_language", 2)
            if not got:
                return None
            if got.isdigit() and 1 <= int(got) <= len(PHONE_LANGUAGES):
                lang = PHONE_LANGUAGES[int(got) - 1]
                with contextlib.suppress(MissingPrompt):   # confirm by its own menu line, where there is one
                    await ch.play(self.resolver.media("choose_language", lang), barge_in=True)
                return lang
            await self._say(ch, "line_no_such")
        return None

    async def _key(self, ch: Channel, lang: str) -> str | None:
        keys = (await asyncio.to_thread(catalog_for, self.settings)).keys
        for _ in range(3):
            got = await self._ask(ch, "line_key", 3)
            if not got:
                return None
            if got.isdigit() and 1 <= int(got) <= len(keys):
                return keys[int(got) - 1]
            await self._say(ch, "line_no_such")
        return None

    async def _prompt(self, ch: Channel, lang: str, key: str, who: str) -> None:
        """Hear the prompt (and its newest draft), then record, listen and keep or leave takes of it."""
        try:
            await ch.play([*self._line("line_current"), *self.resolver.media(key, lang)])
        except MissingPrompt:
            await self._say(ch, "line_nothing")
        pending = await self.database.read(lambda db: [r for r in drafts(db, lang) if r["key"] == key])
        if pending and self.settings.asterisk_local:
            take = listen_path(self.settings, pending[-1])
            if is_playable(take):
                await ch.play([*self._line("line_draft"), f"sound:{take.with_suffix('')}"])
        catalog = await asyncio.to_thread(catalog_for, self.settings)
        limit = max_seconds(self.settings, catalog, key)
        for attempt in range(TAKES_PER_KEY):
            if not await self._take_allowed():
                await self._say(ch, "line_busy")
                raise HungUp
            name = f"prompt-line-{ch.call.channel_id}-{key}-{attempt}".replace(".", "-")
            await self._say(ch, "line_record", barge_in=False)
            result = await ch.record(name, max_duration=int(limit), max_silence=MAX_SILENCE_S, beep=True)
            try:
                if result.hung_up:
                    raise HungUp
                choice = await self._review(ch, name)
                if choice == "keep":
                    if await self._keep(ch, name, lang, key, who, limit):
                        return
                elif choice == "leave":
                    return
            finally:
                with contextlib.suppress(AriError):
                    await self.client.delete_stored_recording(name)

    async def _review(self, ch: Channel, name: str) -> str:
        await ch.play([f"recording:{name}"], barge_in=False)
        for _ in range(5):
            got = await self._ask(ch, "line_review", 1, terminator=None)
            if got == "1":
                return "keep"
            if got == "2":
                await ch.play([f"recording:{name}"], barge_in=False)
            elif got == "3":
                return "again"
            elif got == "*":
                return "leave"
        return "leave"

    async def _keep(self, ch: Channel, name: str, lang: str, key: str, who: str, limit: float) -> bool:
        data = await self.client.download_stored_recording(name)
        with tempfile.TemporaryDirectory(prefix="ivr-line-take-") as tmp:
            take = Path(tmp) / f"{key}.wav"
            await asyncio.to_thread(take.write_bytes, data)
            try:
                await self.review.submit(lang, key, take, Person(None, f"phone:{who}"), "phone", limit)
            except AudioError as exc:
                ch.log.info("prompt line: a take of %s/%s was refused (%s)", lang, key, exc)
                await self._say(ch, "line_refused")
                return False
        await self._say(ch, "line_kept")
        return True

    async def _take_allowed(self) -> bool:
        """Fewer than TAKES_PER_HOUR drafts came by phone in the last hour (from the table: a restart keeps it)."""
        since = pins.iso(datetime.now(UTC) - timedelta(hours=1))
        found = await self.database.query_one("select count(*) as n from prompt_recordings where via = 'phone' "
                                              "and submitted_at > ?", [since])
        return not found or int(found["n"]) < TAKES_PER_HOUR

    # -- saying and asking ------------------------------------------------------------------------------------

    def _line(self, key: str) -> list[str]:
        path = built_root(self.settings) / FOLDER / f"{key}.wav"
        if self.settings.asterisk_local:
            return [f"sound:{path.with_suffix('')}"]
        return [f"sound:{INSTALL_PREFIX}/{FOLDER}/{key}"]

    async def _say(self, ch: Channel, key: str, *, barge_in: bool = True) -> None:
        await ch.play(self._line(key), barge_in=barge_in)

    async def _ask(self, ch: Channel, key: str, max_digits: int, *, terminator: str | None = "#") -> str:
        await ch.play(self._line(key), barge_in=True)
        got = await ch.digits(max_digits=max_digits, timeout=ASK_TIMEOUT_S / self.time_scale,
                              interdigit=ASK_TIMEOUT_S / self.time_scale, terminator=terminator)
        return "" if got == terminator else got

    async def _audit(self, action: str, who: str, detail: dict[str, Any]) -> None:
        def write(db: sqlite_utils.Database) -> None:
            audit.append(db, action=action, username=f"phone:{who}", object_type="prompt_line", detail=detail)

        await self.database.write(write)


def _staff_name(channel: dict[str, Any]) -> str:
    """A staff phone's endpoint name (PJSIP/caseworker1-0000002a -> caseworker1); never a number."""
    name = str(channel.get("name", ""))
    tech, _, rest = name.partition("/")
    endpoint = rest.rsplit("-", 1)[0] if rest else ""
    return endpoint if tech == "PJSIP" and endpoint else "staff phone"
