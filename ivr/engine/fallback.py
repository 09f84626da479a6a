"""Importing the voicemails the dialplan took while the engine was away.

When no engine is connected, ``Stasis(hotline)`` fails with STASISSTATUS=FAILED and the
dialplan (asterisk_conf/extensions.conf) records a message into ``tmp/`` of the fallback
folder, moving it up into the folder once the call ends. At start-up, and every minute while
it runs, the engine files each finished ``*.wav`` there as a case with its recording —
verified, then the source removed — so an outage loses no message. A file already imported
(same sha256) is only removed.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.engine import store
from ivr.engine.recordings import RecordingError, store_bytes
from ivr.files import WRITABLE_DIR, make_dir
from ivr.settings import Settings

log = logging.getLogger(__name__)


async def import_fallback(settings: Settings, database: Database) -> list[int]:
    """Import every finished fallback voicemail; return the new case ids."""
    folder = settings.fallback_path
    # The dialplan (user asterisk) records here: shared with its group, nobody else.
    make_dir(folder, WRITABLE_DIR)
    make_dir(folder / "tmp", WRITABLE_DIR)
    cases: list[int] = []
    for path in sorted(folder.glob("*.wav")):
        try:
            case_id = await _import_one(settings, database, path)
        except RecordingError as exc:
            # Left where it is for a person to look at; never deleted unread.
            log.error("fallback %s not imported: %s", path.name, exc)
            continue
        if case_id is not None:
            cases.append(case_id)
    if cases:
        log.info("imported %d fallback voicemail(s): cases %s", len(cases), ",".join(map(str, cases)))
    return cases


async def _import_one(settings: Settings, database: Database, path: Path) -> int | None:
    data = await asyncio.to_thread(path.read_bytes)
    stored = await asyncio.to_thread(store_bytes, data, settings.data_dir, f"fallback-{path.stem}")
    lang = _language(path, settings)

    def file_case(db: Any) -> int | None:
        if db.execute(
            "select 1 from recordings where kind = 'fallback' and sha256 = ? and state != 'deleted'",
            [stored.sha256],
        ).fetchone():
            return None
        case_id = lifecycle.open_fallback_case(db, language=lang)
        rec_id = store.insert_recording(
            db, call_id=None, case_id=case_id, kind="fallback", path=stored.relative, duration=stored.duration,
            size=stored.size, sha256=stored.sha256, state="empty" if stored.silent else "stored", asterisk_name=None,
        )
        if not stored.silent:
            store.queue_transcription(db, rec_id, lang)
        return case_id

    case_id = await database.write(file_case)
    # Only now, with the copy verified and the case committed, may the source go.
    await asyncio.to_thread(path.unlink)
    await asyncio.to_thread(lambda: path.with_suffix(".lang").unlink(missing_ok=True))
    return case_id


def _language(path: Path, settings: Settings) -> str | None:
    """The dialplan may leave ``<name>.lang`` with the channel's language."""
    side = path.with_suffix(".lang")
    if side.exists():
        code = side.read_text(encoding="utf-8").strip()
        if code in settings.languages:
            return code
    return None
