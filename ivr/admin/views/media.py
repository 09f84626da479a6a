"""/recordings/{id}/audio: a recording streamed to a signed-in user who may see its case.

aiohttp's FileResponse answers Range requests (206), so the browser's player can seek.
A play is audited once, on the request that starts at the beginning of the file.
"""

from __future__ import annotations

from aiohttp import web

from ivr.admin import audit
from ivr.admin.auth import CASE_ROLES, current_user, require_role
from ivr.admin.keys import DATABASE, SETTINGS
from ivr.admin.params import path_id
from ivr.admin.views.case import visible_case
from ivr.protection.retention import recording_file

MEDIA_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "webm": "audio/webm"}


def _starts_at_zero(range_header: str | None) -> bool:
    return range_header is None or range_header.replace(" ", "").startswith("bytes=0-")


@require_role(*CASE_ROLES)
async def audio(request: web.Request) -> web.StreamResponse:
    user = current_user(request)
    rec_id = path_id(request, "id", "recording")
    database = request.app[DATABASE]
    rec = await database.query_one("select id, case_id, path, format, state from recordings where id = ?", [rec_id])
    if rec is None:
        raise web.HTTPNotFound(text="There is no recording with this number.")
    if rec["case_id"] is None:
        if user.role != "supervisor":
            raise web.HTTPForbidden(text="Only a supervisor can play a recording that is not part of a case.")
    else:
        await visible_case(request, rec["case_id"])
    path = recording_file(request.app[SETTINGS].data_dir, rec)
    if path is None:
        raise web.HTTPNotFound(text="This recording is no longer stored (it may have been deleted under the "
                                    "retention rules).")
    download = request.query.get("download") == "1"
    if download or _starts_at_zero(request.headers.get("Range")):
        action = "recording.download" if download else "recording.play"
        await database.write(lambda db: audit.record(db, user, action, "recording", rec["id"],
                                                     {"case_id": rec["case_id"]}))
    media_type = MEDIA_TYPES.get(rec["format"], "application/octet-stream")
    response = web.FileResponse(path, headers={"Content-Type": media_type})
    if download:
        response.headers["Content-Disposition"] = f'attachment; filename="recording-{rec["id"]}.{rec["format"]}"'
    return response


def setup(app: web.Application) -> None:
    app.router.add_get("/recordings/{id}/audio", audio)
