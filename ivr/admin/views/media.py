"""/recordings/{id}/audio: a recording streamed to a signed-in user who may see its case.

aiohttp's FileResponse answers Range requests (206), so the browser's player can seek.
Audited by what is served, not by how the Range header is spelled: the first request of a
sign-in session for a recording writes ``recording.play`` (and ``case.view`` for its case),
whatever range it asks for; the player's later seeks in the same session do not. A download
is audited every time.
"""

from __future__ import annotations

import logging
from typing import Any

import sqlite_utils
from aiohttp import web

from ivr.admin import audit, peaks
from ivr.admin.auth import CASE_ROLES, SESSIONS, current_user, require_role
from ivr.admin.keys import DATABASE, SESSION_TOKEN, SETTINGS
from ivr.admin.params import path_id
from ivr.admin.views.case import visible_case
from ivr.protection.retention import recording_file
from ivr.words import N_

log = logging.getLogger(__name__)

MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "webm": "audio/webm"}


async def _recording(request: web.Request) -> dict[str, Any]:
    """The recording named in the address, if the signed-in user may hear it (the same rule as its case)."""
    user = current_user(request)
    rec_id = path_id(request, "id", "recording")
    database = request.app[DATABASE]
    rec = await database.query_one("select id, case_id, path, format, state from recordings where id = ?", [rec_id])
    if rec is None:
        raise web.HTTPNotFound(text=N_("There is no recording with this number."))
    if rec["case_id"] is None:
        if user.role != "supervisor":
            raise web.HTTPForbidden(text=N_("Only a supervisor can play a recording that is not part of a case."))
    else:
        await visible_case(request, rec["case_id"])
    return rec


@require_role(*CASE_ROLES)
async def waveform(request: web.Request) -> web.StreamResponse:
    """The waveform's peaks for the case page's player (no audio is served, so nothing to audit)."""
    rec = await _recording(request)
    path = recording_file(request.app[SETTINGS].data_dir, rec)
    if path is None:
        raise web.HTTPNotFound(text=N_("This recording is no longer stored."))
    try:
        values, duration = await peaks.peaks(path)
    except peaks.PeaksError as exc:
        log.warning("waveform failed recording=%s: %s", rec["id"], exc)
        raise web.HTTPUnprocessableEntity(text=N_("The waveform could not be drawn for this recording.")) from None
    return web.json_response({"peaks": values, "duration": duration})


@require_role(*CASE_ROLES)
async def audio(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    database = request.app[DATABASE]
    rec = await _recording(request)
    path = recording_file(request.app[SETTINGS].data_dir, rec)
    if path is None:
        raise web.HTTPNotFound(text=N_("This recording is no longer stored (it may have been deleted under the "
                                       "retention rules)."))
    download = request.query.get("download") == "1"
    session_hash = request.app[SESSIONS].token_hash(request.get(SESSION_TOKEN, ""))

    def served(db: sqlite_utils.Database) -> None:
        first = db.execute("insert or ignore into audio_served (session_hash, recording_id) values (?, ?)",
                           [session_hash, rec["id"]]).rowcount == 1
        if download or first:
            action = "recording.download" if download else "recording.play"
            audit.record(db, user, action, "recording", rec["id"], {"case_id": rec["case_id"]})
        if first and rec["case_id"] is not None:
            audit.record(db, user, "case.view", "case", rec["case_id"], {"via": "recording"})

    if request.method != "HEAD":
        await database.write(served)
    media_type = MEDIA_TYPES.get(rec["format"], "application/octet-stream")
    response = web.FileResponse(path, headers={"Content-Type": media_type})
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="recording-{rec["id"]}.{rec["format"]}"'
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/recordings/{id}/audio", audio)
    app.router.add_get("/recordings/{id}/peaks.json", waveform)
