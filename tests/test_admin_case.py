# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The case page over real HTTP: permissions, audio with Range, transcript versions, status, notes, replies."""

from __future__ import annotations

import wave
from typing import Any

import pytest
from admin_helpers import (  # noqa: F401
    Client,
    admin_template,
    client,
    insert_reported_case,
    server,
    users,
    web_db,
    web_settings,
    write_wav,
)

from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.settings import Settings


@pytest.fixture
def case(web_db: Database, web_settings: Settings, users: dict[str, int]) -> dict[str, Any]:
    return web_db.write_sync(lambda db: insert_reported_case(db, web_settings.data_dir))


def audit_actions(web_db: Database) -> list[str]:
    return [r["action"] for r in web_db.query_sync("select action from audit_log order by id")]


async def test_caseworker_sees_timeline_transcript_and_shading(client: Client, case: dict[str, Any],
                                                               web_db: Database) -> None:
    await client.login("cw_my")
    status, text = await client.get(f"/cases/{case['case_id']}")
    assert status == 200
    assert "pressed <strong>2</strong>" in text  # the menu path with the caller's input
    assert '<span class="low" title="The machine was not sure of this word">passport</span>' in text
    assert f'src="/recordings/{case["recording_id"]}/audio"' in text
    assert "Documents held by the employer (suggested)" in text
    assert audit_actions(web_db)[-1] == "case.view"


async def test_permissions(client: Client, case: dict[str, Any], web_db: Database) -> None:
    await client.login("cw_km")
    status, text = await client.get(f"/cases/{case['case_id']}")
    assert status == 403 and "not in your languages" in text
    assert audit_actions(web_db)[-1] == "case.view.refused"
    status, _ = await client.get(f"/recordings/{case['recording_id']}/audio")
    assert status == 403
    status, text = await client.get("/cases")
    assert f"#{case['case_id']}<" not in text  # not in their queue either
    for page in ("/users", "/settings", "/prompts", "/dashboard"):
        status, text = await client.get(page)
        # The 403 page says why, and whom to ask.
        assert status == 403 and "and yours is a caseworker account" in text, page
        assert "ask\n    your supervisor" in text or "ask your supervisor" in " ".join(text.split()), page
    status, text = await client.get("/cases/999999")
    assert status == 404 and "There is no case number 999999" in text
    status, text = await client.get("/cases/12345678901234567890")
    assert status == 404 and "Traceback" not in text


async def test_admin_cannot_read_cases(client: Client, case: dict[str, Any]) -> None:
    await client.login("admin")
    status, _ = await client.get(f"/cases/{case['case_id']}")
    assert status == 403
    status, text = await client.get("/prompts")
    assert status == 200 and "Prompts" in text


async def test_audio_streams_with_range_and_is_audited(client: Client, case: dict[str, Any], web_db: Database,
                                                       server: AdminServer) -> None:
    await client.login("super")
    url = f"{server.url}/recordings/{case['recording_id']}/audio"
    async with client.session.get(url) as r:
        body = await r.read()
        assert r.status == 200 and r.headers["Content-Type"] == "audio/wav" and len(body) == case["size"]
        assert r.headers.get("Accept-Ranges") == "bytes"
    async with client.session.get(url, headers={"Range": "bytes=1000-1099"}) as r:
        part = await r.read()
        assert r.status == 206 and part == body[1000:1100]
        assert r.headers["Content-Range"] == f"bytes 1000-1099/{case['size']}"
    async with client.session.get(url + "?download=1") as r:
        assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
    actions = audit_actions(web_db)
    assert actions.count("recording.play") == 1 and actions.count("recording.download") == 1


async def test_audio_outside_the_data_dir_or_missing_is_not_served(client: Client, case: dict[str, Any],
                                                                   web_db: Database) -> None:
    await client.login("super")
    url = f"/recordings/{case['recording_id']}/audio"
    for path in ("../../../../etc/passwd", ".", "recordings/gone.wav"):
        web_db.write_sync(lambda db: db.execute(
            "update recordings set path = ? where id = ?", [path, case["recording_id"]]))  # noqa: B023 (runs now)
        status, text = await client.get(url)
        assert status == 404 and "no longer stored" in text, path


async def test_transcript_versions_and_concurrent_edit(client: Client, server: AdminServer, case: dict[str, Any],
                                                       web_db: Database) -> None:
    other = Client(server.url)
    try:
        await client.login("cw_my")
        await other.login("super")
        url = f"/cases/{case['case_id']}"
        await client.get(url)
        await other.get(url)
        form = {"recording_id": case["recording_id"], "kind": "transcript", "base_version": 1}
        status, text = await client.post(url + "/transcripts", {**form, "text": "my boss keeps my passport and pay"})
        assert status == 200 and "Saved." in text and "version 2, by cw_my" in text
        status, text = await other.post(url + "/transcripts", {**form, "text": "supervisor's words"})
        assert status == 409 and "cw_my saved a newer transcript while you were editing" in text
        assert "supervisor&#39;s words" in text  # their text comes back to them, not lost
        rows = web_db.query_sync("select version, engine, author_id, text from transcripts order by version")
        assert [(r["version"], r["engine"]) for r in rows] == [(1, "vosk"), (2, "human")]
        assert rows[1]["text"] == "my boss keeps my passport and pay"
        # Saving again on top of the newest version works, and all versions are kept.
        status, _ = await other.post(url + "/transcripts", {**form, "base_version": 2, "text": "merged"})
        assert status == 200
        assert web_db.query_sync("select count(*) n from transcripts")[0]["n"] == 3
        status, _ = await client.post(url + "/transcripts", {**form, "kind": "translation", "base_version": 0,
                                                              "text": "English words"})
        assert status == 200
        kinds = web_db.query_sync("select kind, version from transcripts where kind = 'translation'")
        assert kinds == [{"kind": "translation", "version": 1}]
        assert audit_actions(web_db).count("transcript.edit") == 3
    finally:
        await other.close()


async def test_script_in_transcript_is_shown_as_text(client: Client, case: dict[str, Any], web_db: Database) -> None:
    web_db.write_sync(lambda db: db.execute(
        "update transcripts set text = '<script>alert(1)</script>', words = '[]'"))
    await client.login("cw_my")
    _, text = await client.get(f"/cases/{case['case_id']}")
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


async def test_status_workflow(client: Client, case: dict[str, Any], web_db: Database) -> None:
    await client.login("cw_my")
    url = f"/cases/{case['case_id']}"
    status, text = await client.post(url + "/status", {"status": "closed", "version": 1})
    assert status == 400 and "A case that is “New” cannot move to “Closed”." in text
    status, text = await client.post(url + "/status", {"status": "acknowledged", "version": 1})
    assert status == 200 and "The status was changed." in text
    row = web_db.query_sync("select status, acknowledged_at, version from cases")[0]
    assert row["status"] == "acknowledged" and row["acknowledged_at"] and row["version"] == 2
    status, text = await client.post(url + "/status", {"status": "in_progress", "version": 1})  # stale page
    assert status == 409 and "Someone else changed this case" in text
    assert web_db.query_sync("select status from cases")[0]["status"] == "acknowledged"
    status, _ = await client.post(url + "/status", {"status": "in_progress", "version": "x"})
    assert status == 400


async def test_notes_assignment_and_category(client: Client, case: dict[str, Any], web_db: Database,
                                             users: dict[str, int]) -> None:
    await client.login("cw_my")
    url = f"/cases/{case['case_id']}"
    status, text = await client.post(url + "/notes", {"body": "Called the <b>NGO</b>"})
    assert status == 200 and "Called the &lt;b&gt;NGO&lt;/b&gt;" in text
    status, text = await client.post(url + "/assign", {"assignee": str(users["cw_km"]), "version": 2})
    assert status == 400 and "Only a supervisor" in text
    status, text = await client.post(url + "/assign", {"assignee": "me", "version": 2})
    assert status == 200 and "The case was assigned." in text
    assert web_db.query_sync("select assignee_id from cases")[0]["assignee_id"] == users["cw_my"]
    status, _ = await client.post(url + "/category", {"category": "violence"})
    assert status == 200 and web_db.query_sync("select category from cases")[0]["category"] == "violence"
    status, text = await client.post(url + "/category", {"category": "nonsense"})
    assert status == 400 and "Choose a problem from the list" in text
    assert {"case.note", "case.assign", "case.category"} <= set(audit_actions(web_db))


async def test_reply_upload(client: Client, case: dict[str, Any], web_db: Database, web_settings: Settings,
                            tmp_path: Any) -> None:
    await client.login("cw_my")
    url = f"/cases/{case['case_id']}/reply"
    import aiohttp

    def upload(name: str, data: bytes) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field("csrf", client.token)
        form.add_field("audio", data, filename=name, content_type="application/octet-stream")
        return form

    await client.get(f"/cases/{case['case_id']}")
    async with client.session.post(client.base + url, data=upload("notes.wav", b"this is not audio at all")) as r:
        text = await r.text()
        assert r.status == 400 and "This file cannot be used as a message" in text and "Traceback" not in text
    async with client.session.post(client.base + url, data=upload("notes.txt", b"hello")) as r:
        assert r.status == 400 and "unsupported format" in await r.text()
    assert web_db.query_sync("select count(*) n from recordings where kind = 'reply'")[0]["n"] == 0

    write_wav(tmp_path / "reply.wav", seconds=1.5, freq=300)
    wav = (tmp_path / "reply.wav").read_bytes()
    async with client.session.post(client.base + url, data=upload("reply.wav", wav)) as r:
        assert r.status == 200 and "They will hear it when they call back" in await r.text()
    row = web_db.query_sync("select * from recordings where kind = 'reply'")[0]
    assert row["state"] == "stored" and row["case_id"] == case["case_id"]
    with wave.open(str(web_settings.data_dir / row["path"])) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)


async def test_every_form_rejects_missing_or_wrong_csrf(client: Client, case: dict[str, Any],
                                                        web_db: Database) -> None:
    await client.login("super")
    cid = case["case_id"]
    posts = [f"/cases/{cid}/transcripts", f"/cases/{cid}/status", f"/cases/{cid}/assign", f"/cases/{cid}/notes",
             f"/cases/{cid}/category", f"/cases/{cid}/reply", "/users", "/users/cw_km/password",
             "/users/cw_km/deactivate", "/logout"]
    before = web_db.query_sync("select count(*) n from audit_log")[0]["n"]
    for path in posts:
        for token in ("", "f" * 64):
            status, text = await client.post(path, {"status": "acknowledged", "version": 1, "body": "x"}, csrf=token)
            assert status == 403 and "did not come from this site" in text, path
    assert web_db.query_sync("select count(*) n from audit_log")[0]["n"] == before
    assert web_db.query_sync("select status from cases")[0]["status"] == "new"


async def test_browser_recording_is_saved_through_the_script_route(client: Client, case: dict[str, Any],
                                                                   web_db: Database, tmp_path: Any) -> None:
    """What case.js sends: a webm/opus blob from MediaRecorder, with the CSRF token in a header."""
    import asyncio
    import subprocess

    import aiohttp

    webm = tmp_path / "message.webm"
    await asyncio.to_thread(subprocess.run, ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                            "sine=frequency=300:duration=1.5", "-c:a", "libopus", "-y", str(webm)], check=True)
    await client.login("cw_my")
    await client.get(f"/cases/{case['case_id']}")
    url = f"{client.base}/cases/{case['case_id']}/reply"
    headers = {"X-CSRF-Token": client.token}
    for name, data in (("message.webm", b"\x1aE\xdf\xa3 broken"), ("message.webm", webm.read_bytes())):
        form = aiohttp.FormData()
        form.add_field("audio", data, filename=name, content_type="audio/webm")
        async with client.session.post(url, data=form, headers=headers) as r:
            result = await r.json()
        if data.endswith(b"broken"):
            assert r.status == 400 and result["ok"] is False and "cannot be used as a message" in result["error"]
        else:
            assert r.status == 200 and result == {"ok": True, "redirect": f"/cases/{case['case_id']}?done=reply"}
    rows = web_db.query_sync("select kind, duration_s from recordings where kind = 'reply'")
    assert len(rows) == 1 and 1.0 < rows[0]["duration_s"] < 2.0
