"""Review and release of human recordings: every one is a draft until a second person approves it.

A submitted recording (from the web page, an imported voice-talent kit or the staff phone line)
is converted first, exactly as a build would: a file that cannot be used is refused there and
nothing is stored. A usable one is kept under ``$IVR_DATA_DIR/prompt-drafts/<lang>/`` as a draft;
calls never look there, so a draft cannot reach a caller. A second person who has that language
(not the one who submitted it) approves it, and only then is it installed as the prompt's
recording (prompts/<lang>/<key>.<ext>) and built audio, by the same code as an upload always
used. Rejecting keeps the file for the record. Every step is a row in the audit log, written in
the same transaction as the state change.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import shutil
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from ivr.db import utcnow
from ivr.db.writer import Database
from ivr.languages import LANGUAGES, language_words
from ivr.prompts.build import PromptBuilder
from ivr.prompts.catalog import KEY_RE
from ivr.prompts.convert import PROMPT_MAX_SECONDS, SUPPORTED, AudioError, AudioInfo, to_telephone_wav
from ivr.prompts.provenance import drafts_root, file_sha256
from ivr.prompts.texts import catalog_for
from ivr.protection import audit
from ivr.settings import Settings
from ivr.words import N_, ShownError, Words

log = logging.getLogger(__name__)

DRAFT, APPROVED, REJECTED, SUPERSEDED = "draft", "approved", "rejected", "superseded"
VIAS = ("web", "upload", "import", "phone")
REVIEW_ROLES = ("admin",)   # the prompts page is the administrators'; their account's languages decide which
LISTEN = ".8k.wav"  # beside each kept draft: its telephone audio, for the page and the staff line
# Refused however it arrives: more than this share of samples at full scale (the microphone was
# overdriven; no gain brings that back), or so quiet it needs this much gain (hiss and room noise
# would come up with the voice).
CLIPPED_SHARE = 0.002
QUIET_GAIN_DB = 30.0
# A recording's state, as a refusal names it ("already approved").
STATE_WORDS = {DRAFT: N_("a draft"), APPROVED: N_("approved"), REJECTED: N_("rejected"),
               SUPERSEDED: N_("replaced by a newer recording")}


def screen(name: str, info: AudioInfo) -> None:
    """Raise AudioError for a recording that converted but that no caller should hear."""
    if info.clipped > CLIPPED_SHARE:
        raise AudioError(N_("clipping (the sound is distorted: %(share)s of it at full scale); record again further "
                            "from the microphone or with a lower input level"), name=name, share=f"{info.clipped:.1%}")
    if info.gain_db > QUIET_GAIN_DB:
        raise AudioError(N_("too quiet (it would need %(gain)s dB of gain); record again closer to the microphone"),
                         name=name, gain=f"{info.gain_db:.0f}")


# Approvals install files and then record it: one at a time in this process (the web server's), so a
# draft is never installed twice or installed while another approval of it is being recorded.
_APPROVING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _approving() -> asyncio.Lock:
    """This event loop's approval lock (a lock must not be shared between loops)."""
    return _APPROVING.setdefault(asyncio.get_running_loop(), asyncio.Lock())


class NotFound(LookupError):
    """The account or draft named on the command line does not exist (one English line)."""


class ReviewError(ShownError):
    """A review step is not allowed or not possible: one sentence a person can act on, shown in the reader's
    language on the prompts page (``str()`` is the English, for the command line and the staff line's log)."""


@dataclass(frozen=True)
class Person:
    """Who did something: a web user (id and name), or a staff line / command-line identity (name only)."""

    id: int | None
    name: str
    role: str = "admin"
    languages: tuple[str, ...] = ()  # empty: every language

    def speaks(self, lang: str) -> bool:
        return not self.languages or lang in self.languages


def listen_path(settings: Settings, row: dict[str, Any]) -> Path:
    """The telephone audio of a submitted recording (draft, rejected or approved alike)."""
    return drafts_root(settings) / (str(row["file"]).rsplit(".", 1)[0] + LISTEN)


class PromptReview:
    def __init__(self, settings: Settings, database: Database, builder: PromptBuilder | None = None) -> None:
        self.settings = settings
        self.database = database
        self.builder = builder or PromptBuilder(settings)

    # -- submitting --------------------------------------------------------------------------------------

    async def submit(self, lang: str, key: str, src: Path, who: Person, via: str,
                     max_seconds: float | None = None) -> int:
        """Keep ``src`` as a draft of ``lang``/``key`` and return its id; AudioError when it cannot be used
        (too long for the key, silence, clipping, too quiet, damaged)."""
        if via not in VIAS:
            raise ValueError(f"unknown way in {via!r}")
        suffix = src.suffix.lower()
        if suffix not in SUPPORTED:
            kinds = ", ".join(s.lstrip(".") for s in SUPPORTED)
            raise AudioError(N_("not a recording format the hotline reads (use %(kinds)s)"), name=src.name, kinds=kinds)
        await asyncio.to_thread(self._known, lang, key)
        name = f"{lang}/{key}.{secrets.token_hex(6)}{suffix}"
        kept = drafts_root(self.settings) / name
        info = await asyncio.to_thread(self._keep, src, kept, max_seconds or PROMPT_MAX_SECONDS)
        # Approving installs a byte copy of the kept file: its hash tells an approved recording from a file
        # copied in by hand (ivr/prompts/provenance.py), even if the drafts folder is lost.
        digest = await asyncio.to_thread(file_sha256, kept)

        def insert(db: sqlite_utils.Database) -> int:
            rec_id = int(db.execute(
                "insert into prompt_recordings (lang, key, state, file, seconds, via, submitted_by, "
                "submitted_by_name, submitted_at, sha256) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [lang, key, DRAFT, name, round(info.duration, 2), via, who.id, who.name, utcnow(),
                 digest]).lastrowid or 0)
            audit.append(db, action="prompt.submit", user_id=who.id, username=who.name, object_type="prompt",
                         object_id=f"{lang}/{key}", detail={"recording": rec_id, "via": via,
                                                            "seconds": round(info.duration, 1)})
            return rec_id

        try:
            return await self.database.write(insert)
        except BaseException:
            await asyncio.to_thread(_remove, kept)
            raise

    def _known(self, lang: str, key: str) -> None:
        if not KEY_RE.match(key) or key not in catalog_for(self.settings).prompts:
            raise AudioError(N_("not a prompt key in the catalog"), name=key)
        if lang not in LANGUAGES:   # offered or not yet: a language is recorded before it is offered
            raise AudioError(N_("not a language the hotline knows"), name=lang)

    def _keep(self, src: Path, kept: Path, max_seconds: float) -> AudioInfo:
        """Convert first (the same checks as a build, and :func:`screen`), and keep the file only when that worked."""
        kept.parent.mkdir(parents=True, exist_ok=True)
        listen = kept.with_name(kept.name.rsplit(".", 1)[0] + LISTEN)
        try:
            info = to_telephone_wav(src, listen, max_seconds=max_seconds)
            screen(src.name, info)
            shutil.copyfile(src, kept)
        except OSError as exc:
            _remove(kept)
            raise AudioError(N_("could not be kept (%(why)s)"), name=src.name, why=exc.strerror) from None
        except BaseException:
            _remove(kept)
            raise
        return info

    # -- reviewing -------------------------------------------------------------------------------------------

    async def approve(self, rec_id: int, who: Person) -> dict[str, Any]:
        """Install the draft as the prompt callers hear; the previous approved one is superseded."""
        async with _approving():   # two reviewers pressing at once: one installs, the other is told
            return await self._approve(rec_id, who)

    async def _approve(self, rec_id: int, who: Person) -> dict[str, Any]:
        row = await self._draft(rec_id, who)
        src = drafts_root(self.settings) / str(row["file"])
        lang, key = str(row["lang"]), str(row["key"])
        # The conversion runs again on the kept file: if anything went wrong since, the live prompt stays.
        info = await asyncio.to_thread(self.builder.replace_recording, lang, key, src, src.suffix)

        def release(db: sqlite_utils.Database) -> bool:
            current = db.execute("select state from prompt_recordings where id = ?", [rec_id]).fetchall()
            if not current or current[0][0] != DRAFT:
                raise ReviewError(N_("Recording %(id)s is no longer a draft."), id=rec_id)
            replaced = db.execute("select id from prompt_recordings where lang = ? and key = ? and state = ?",
                                  [lang, key, APPROVED]).fetchall()
            db.execute("update prompt_recordings set state = ? where lang = ? and key = ? and state = ?",
                       [SUPERSEDED, lang, key, APPROVED])
            db.execute("update prompt_recordings set state = ?, reviewed_by = ?, reviewed_by_name = ?, "
                       "reviewed_at = ? where id = ?", [APPROVED, who.id, who.name, utcnow(), rec_id])
            detail: dict[str, Any] = {"recording": rec_id, "seconds": round(info.duration, 1)}
            if replaced:
                detail["replaces"] = int(replaced[0][0])
            audit.append(db, action="prompt.approve", user_id=who.id, username=who.name, object_type="prompt",
                         object_id=f"{lang}/{key}", detail=detail)
            if replaced:
                audit.append(db, action="prompt.replace", user_id=who.id, username=who.name,
                             object_type="prompt", object_id=f"{lang}/{key}", detail=detail)
            return bool(replaced)

        await self.database.write(release)
        log.info("prompt %s/%s: recording %d approved", lang, key, rec_id)
        return row

    async def reject(self, rec_id: int, who: Person, reason: str = "") -> dict[str, Any]:
        row = await self._draft(rec_id, who)
        reason = " ".join(reason.split())[:300]

        def refuse(db: sqlite_utils.Database) -> None:
            changed = db.execute("update prompt_recordings set state = ?, reviewed_by = ?, reviewed_by_name = ?, "
                                 "reviewed_at = ?, reason = ? where id = ? and state = ?",
                                 [REJECTED, who.id, who.name, utcnow(), reason or None, rec_id, DRAFT]).rowcount
            if not changed:
                raise ReviewError(N_("Recording %(id)s is no longer a draft."), id=rec_id)
            audit.append(db, action="prompt.reject", user_id=who.id, username=who.name, object_type="prompt",
                         object_id=f"{row['lang']}/{row['key']}", detail={"recording": rec_id})

        await self.database.write(refuse)
        return row

    async def _draft(self, rec_id: int, who: Person) -> dict[str, Any]:
        row = await self.database.query_one("select * from prompt_recordings where id = ?", [rec_id])
        if row is None:
            raise ReviewError(N_("There is no recording %(id)s."), id=rec_id)
        if row["state"] != DRAFT:
            raise ReviewError(N_("Recording %(id)s of %(key)s is already %(state)s."), id=rec_id, key=row["key"],
                              state=Words(STATE_WORDS.get(str(row["state"]), str(row["state"]))))
        check_reviewer(row, who)
        return row


def check_reviewer(row: dict[str, Any], who: Person) -> None:
    """Four eyes: a reviewer with the language, who did not submit the recording."""
    lang = str(row["lang"])
    if who.role not in REVIEW_ROLES:
        raise ReviewError(N_("Only an administrator may review recordings."))
    if not who.speaks(lang):
        raise ReviewError(N_("Only a reviewer who has %(language)s may approve or reject recordings in it."),
                          language=language_words(lang))
    if (who.id is not None and who.id == row["submitted_by"]) or (
            row["submitted_by"] is None and who.name == row["submitted_by_name"]):
        raise ReviewError(N_("A second person must review a recording: you submitted this one."))


def reviewer(db: sqlite_utils.Database, username: str) -> Person:
    """The account named ``username`` as a reviewer, for reviewing outside the web page (`ivr prompts
    approve --as NAME`): the same four-eyes rules then hold as for the signed-in user on /prompts."""
    rows = list(db.query("select id, username, role, languages, approved from users where username = ? collate nocase "
                         "and active = 1", [username]))
    if not rows:
        raise NotFound(f"there is no active account named {username!r} (`ivr user list` shows them)")
    row = rows[0]
    if not row["approved"]:
        raise NotFound(f"the account {username!r} is waiting for a supervisor's approval")
    languages = tuple(code for code in str(row["languages"] or "").split(",") if code)
    return Person(int(row["id"]), str(row["username"]), str(row["role"]), languages)


def waiting(db: sqlite_utils.Database, lang: str | None = None) -> list[dict[str, Any]]:
    """Drafts waiting for a reviewer (of one language, or all), oldest first."""
    where, args = ("state = ?", [DRAFT]) if lang is None else ("state = ? and lang = ?", [DRAFT, lang])
    return list(db.query(f"select * from prompt_recordings where {where} order by lang, id", args))


def draft_of(db: sqlite_utils.Database, lang: str, key: str, rec_id: int | None = None) -> int:
    """The id of the one draft of ``lang``/``key`` (or check that ``rec_id`` is one); NotFound when there is
    none, or several and no id says which."""
    found = [int(r["id"]) for r in waiting(db, lang) if r["key"] == key]
    if rec_id is not None:
        if rec_id not in found:
            raise NotFound(f"recording {rec_id} is not a draft of {lang}/{key} waiting for approval")
        return rec_id
    if not found:
        raise NotFound(f"no recording of {lang}/{key} is waiting for approval (`ivr prompts drafts` lists them)")
    if len(found) > 1:
        raise NotFound(f"{lang}/{key} has {len(found)} drafts ({', '.join(map(str, found))}): "
                       "name one with --draft ID")
    return found[0]


def drafts(db: sqlite_utils.Database, lang: str) -> list[dict[str, Any]]:
    """Drafts of one language, oldest first."""
    return list(db.query("select * from prompt_recordings where lang = ? and state = ? order by id",
                         [lang, DRAFT]))


def approved_keys(db: sqlite_utils.Database, lang: str) -> set[str]:
    return {str(r["key"]) for r in db.query(
        "select key from prompt_recordings where lang = ? and state = ?", [lang, APPROVED])}


def _remove(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name.rsplit(".", 1)[0] + LISTEN).unlink(missing_ok=True)
