"""Calls whose caller hung up while no engine was there to see it.

An engine can die (``kill -9``, a crash, an upgrade) while a caller speaks, and the caller can hang
up before the next engine connects. Asterisk then has no channel to hand back, so nothing resumes
(ivr/engine/resume.py needs the channel), yet the call's row is still open and the caller's take
lies in Asterisk's recording spool: a message in no case.

:func:`sweep` finishes such calls. A call qualifies when its row was opened before this engine
started (so no session of ours opened it), it is still open, Asterisk has no channel with its id,
and the Stasis app is not handling that channel (a call picked up again at reconnection that hung
up since is finished by its own session). Every take named for it on Asterisk (``ivr-<call>-<n>``)
is fetched and verified like any take, and one brought home but never released (the caller was
reviewing it) is released; all are filed to the call's case, a case being opened for them as for a
fallback voicemail if the caller had none yet, and queued for transcription. Only then is
Asterisk's copy deleted and the call closed (outcome ``hangup``); a case whose code's hash the old
engine had not yet stored gets it first, from the code sealed on the call row, which closing the
call wipes (if that hash fails, closing keeps the sealed code for ivr/engine/codehash.py). That hash
is the engine's own (``hash_code``: its hasher on its hashing threads, as the calls' hashes are), so
the sweep takes one of those threads at a time and never crowds out the calls' hashing in a burst. The
engine runs it once its Stasis app has picked up the calls Asterisk held, and then
every minute with the fallback import, so calls cut off by an Asterisk restart are finished too.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError
from ivr.cases import lifecycle
from ivr.db.writer import Database
from ivr.engine import store
from ivr.engine.background import Background
from ivr.engine.recordings import RecordingError, Stored, store_bytes
from ivr.engine.resume import open_code, take_number
from ivr.log import CallLog
from ivr.settings import Settings

log = logging.getLogger(__name__)

OUTCOME = "hangup"


async def sweep(settings: Settings, database: Database, client: AriClient, *, started_before: str,
                held: Callable[[], set[str]], hash_code: Callable[[str], Awaitable[str]],
                background: Background) -> list[str]:
    """Finish every orphaned call; return their ids.

    ``started_before``: this engine's start (UTC, as the rows store it); ``held()``: the channel ids this
    engine is handling now (its Stasis app's calls, complete once it has reconciled after connecting).
    It is asked after Asterisk's channels are listed: a channel gone from that list that no handler of
    ours holds then can never come back to one. ``hash_code``: the engine's slow hash of a case code, on
    its hashing threads. ``background``: the engine's low-priority threads, where takes are checked and filed
    as a live call's are (a sweep after a crash may file dozens while new calls come in).
    """
    rows = await database.read(lambda db: _open_calls(db, started_before))
    if not rows:
        return []
    try:
        live = {str(c.get("id")) for c in await client.list_channels()}
        spool = [str(r.get("name")) for r in await client.list_stored_recordings()]
    except AriError as exc:   # Asterisk away: its channels are unknown, so nothing may be judged orphaned
        log.warning("orphaned calls not checked: Asterisk did not answer (%s)", type(exc).__name__)
        return []
    ours = held()
    done = []
    for row in rows:
        if row["channel_id"] in live or row["channel_id"] in ours:
            continue   # still on Asterisk (the Stasis app resumes it), or being finished by its handler
        try:
            await _finish(settings, database, client, row, spool, hash_code, background)
        except (AriError, RecordingError) as exc:
            CallLog(log, row["id"]).error("orphaned call not finished (%s); next try in a minute", exc)
            continue
        done.append(str(row["id"]))
    return done


def _open_calls(db: Any, started_before: str) -> list[dict[str, Any]]:
    return list(db.query(
        "select id, channel_id, case_id, language, caller_ref, code_sealed,"
        " (select code_hash is null and code_tag is not null from cases where id = calls.case_id) as code_unhashed"
        " from calls where ended_at is null and started_at < ?",
        [started_before]))


async def _finish(settings: Settings, database: Database, client: AriClient, row: dict[str, Any],
                  spool: list[str], hash_code: Callable[[str], Awaitable[str]], background: Background) -> None:
    call_id = str(row["id"])
    clog = CallLog(log, call_id)
    takes = await database.read(lambda db: store.call_takes(db, call_id))
    filed = {str(t["asterisk_name"]) for t in takes if t["asterisk_name"] and t["state"] != "failed"}
    # Under review when the engine died: filed already, only its release is missing.
    unreleased = [int(t["id"]) for t in takes
                  if t["state"] == "stored" and t["released_at"] is None and not t["queued"]]
    mine = sorted((n for n in spool if take_number(n, call_id) and n not in filed),
                  key=lambda n: take_number(n, call_id))
    fetched: list[tuple[str, Stored]] = []
    for name in mine:
        data = await client.download_stored_recording(name)
        fetched.append((name, await background.run(store_bytes, data, settings.data_dir, name)))
    language = row["language"]
    # The old engine opened the case but died before storing its code's hash: hash the sealed code
    # now, before closing the row wipes it, so the code the caller may have heard still works.
    code = open_code(settings, row["code_sealed"]) if row["code_unhashed"] else None
    code_hash = None
    try:
        code_hash = None if code is None else await hash_code(code)
    except Exception:   # closing keeps the sealed code then, and ivr/engine/codehash.py hashes it later
        clog.exception("case=%s: the case code's hash failed; left sealed for the next sweep", row["case_id"])

    def file(db: Any) -> int | None:
        case_id = row["case_id"]
        if code_hash is not None and case_id is not None:
            lifecycle.store_code_hash(db, case_id, code_hash)
        voiced = any(not s.silent for _, s in fetched) or bool(unreleased)
        if case_id is None and voiced:
            case_id = lifecycle.open_case(
                db, call_id=call_id, caller_ref=row["caller_ref"], language=language, category=None,
                workplace_code=None, workplace_id=None, code_hash=None, code_tag=None)
        for name, stored in fetched:
            db.execute("delete from recordings where call_id = ? and asterisk_name = ? and state = 'failed'",
                       [call_id, name])
            rec_id = store.insert_recording(
                db, call_id=call_id, case_id=case_id, kind="voicemail", path=stored.relative,
                duration=stored.duration, size=stored.size, sha256=stored.sha256,
                state="empty" if stored.silent else "stored", asterisk_name=name)
            store.release_recording(db, rec_id)
            if not stored.silent:
                store.queue_transcription(db, rec_id, language)
        for rec_id in unreleased:
            store.release_recording(db, rec_id)
            store.queue_transcription(db, rec_id, language)
        if case_id is not None:
            store.attach_recordings(db, call_id, case_id)
            if fetched or unreleased:
                lifecycle.follow_up(db, case_id)
        store.close_call(db, call_id, outcome=OUTCOME, last_node=None)
        return case_id

    case_id = await database.write(file)
    # Only now, filed and committed, may Asterisk's copies go.
    for name, _ in fetched:
        with contextlib.suppress(AriError):
            await client.delete_stored_recording(name)
    clog.info("orphaned call finished: %d take(s) fetched, %d released, case=%s",
              len(fetched), len(unreleased), case_id)
