"""The caseworker's message for the caller: an upload or a browser recording, stored as telephone audio.

The caller hears the latest stored reply when they call back with their case code.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import tempfile
from pathlib import Path

import sqlite_utils

from ivr.admin.keys import User
from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.files import SHARED_DIR, SHARED_FILE, make_dir
from ivr.prompts.convert import SUPPORTED, AudioError, AudioInfo, to_telephone_wav
from ivr.settings import Settings
from ivr.words import N_

log = logging.getLogger(__name__)

REPLY_MAX_SECONDS = 180.0


class ReplyRefused(AudioError):
    """The upload cannot be a reply; the words say why (the converter's reason, without the temporary file's name)."""


def _plain(exc: AudioError) -> ReplyRefused:
    return ReplyRefused(N_("This file cannot be used as a message: %(why)s."), why=exc.reason)


def _store(settings: Settings, case_id: int, filename: str, data: bytes) -> tuple[Path, AudioInfo, str, int]:
    """The file work of a reply, all in one worker thread: write the upload, convert it, hash the result."""
    suffix = Path(filename or "").suffix.lower()
    if suffix not in SUPPORTED:
        suffix = suffix if suffix.isascii() and suffix[1:].isalnum() and len(suffix) <= 6 else ".unknown"
    folder = settings.data_dir / "recordings" / "replies"
    make_dir(folder, SHARED_DIR)  # Asterisk plays replies by path: shared with its group only
    relative = Path("recordings") / "replies" / f"case-{case_id}-{secrets.token_hex(6)}.wav"
    with tempfile.TemporaryDirectory(dir=settings.data_dir) as tmp:
        src = Path(tmp) / f"upload{suffix}"
        src.write_bytes(data)
        try:
            info = to_telephone_wav(src, settings.data_dir / relative, max_seconds=REPLY_MAX_SECONDS,
                                    mode=SHARED_FILE)
        except AudioError as exc:
            log.info("reply upload refused case=%s: %s", case_id, type(exc).__name__)
            raise _plain(exc) from None
    stored = settings.data_dir / relative
    wav = stored.read_bytes()
    return relative, info, hashlib.sha256(wav).hexdigest(), len(wav)


async def save_reply(settings: Settings, database: Database, user: User, case_id: int,
                     filename: str, data: bytes) -> int:
    """Convert the upload and store it as a ``recordings`` row kind='reply'; raises ReplyRefused (plain words)."""
    relative, info, digest, size = await asyncio.to_thread(_store, settings, case_id, filename, data)
    stored = settings.data_dir / relative

    def write(db: sqlite_utils.Database) -> int:
        return lifecycle.attach_reply(db, case_id, path=str(relative), duration_s=round(info.duration, 2),
                                      size=size, sha256=digest, by=user)

    try:
        recording_id = await database.write(write)
    except BaseException:
        stored.unlink(missing_ok=True)
        raise
    log.info("reply stored case=%s recording=%s", case_id, recording_id)
    return recording_id
