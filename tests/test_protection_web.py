# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The call-back panel and its forms, over real HTTP against the web UI with this extension loaded."""

from __future__ import annotations

import logging
import wave
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils
from admin_helpers import (  # noqa: F401
    Client,
    Served,
    admin_template,
    client,
    insert_case,
    served_app,
    users,
    web_db,
    web_settings,
)

from ivr.db.writer import Database
from ivr.protection import audit, callbacks
from ivr.protection.caller import NumberVault
from ivr.protection.retention import Retention
from ivr.settings import Settings

NUMBER = "+959791234567"


@pytest.fixture
async def server(web_settings: Settings, web_db: Database, users: dict[str, int]) -> AsyncIterator[Served]:
    async with served_app(web_settings, web_db, "ivr.protection.web") as served:
        yield served


@pytest.fixture
async def case_with_callback(web_db: Database, web_settings: Settings, users: dict[str, int]) -> tuple[int, int]:
    vault = NumberVault(web_settings.key("callback-number"))

    def seed(db: sqlite_utils.Database) -> tuple[int, int]:
        case_id = insert_case(db, language="my", assignee_id=users["cw_my"])
        cb = callbacks.request(db, vault, case_id=case_id, call_id=None, number=NUMBER,
                               window="after 8 pm", keep_days=30)
        return case_id, cb

    return await web_db.write(seed)


async def _audit(web_db: Database, action: str) -> list[dict[str, object]]:
    return await web_db.query("select * from audit_log where action = ? order by id", [action])


async def test_assignee_reveals_with_a_reason_then_closes(
    client: Client, web_db: Database, case_with_callback: tuple[int, int], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    case_id, cb = case_with_callback
    base = f"/cases/{case_id}/callbacks/{cb}"
    await client.login("cw_my")
    status, page = await client.get(f"/cases/{case_id}")
    assert status == 200 and "Call-back requested" in page and "after 8 pm" in page
    assert f'action="{base}/reveal"' in page and NUMBER not in page

    status, text = await client.post(f"{base}/reveal", {"reason": "calling back now"}, csrf="0" * 64)
    assert status == 403 and NUMBER not in text
    status, text = await client.post(f"{base}/reveal", {"reason": "  "})
    assert status == 400 and "Say why you need the number" in text and NUMBER not in text
    assert await _audit(web_db, "callback.reveal") == []

    status, text = await client.post(f"{base}/reveal", {"reason": "calling back in the chosen window"})
    assert status == 200 and NUMBER in text
    rows = await _audit(web_db, "callback.reveal")
    assert len(rows) == 1 and rows[0]["username"] == "cw_my"
    assert "calling back in the chosen window" in str(rows[0]["detail"])

    status, page = await client.post(f"{base}/done")
    assert status == 200 and "number deleted" in page and "Show the number" not in page
    state = await web_db.query_one("select state, number_encrypted from callbacks where id = ?", [cb])
    assert state == {"state": "done", "number_encrypted": None}
    status, text = await client.post(f"{base}/reveal", {"reason": "calling back again"})
    assert status == 410 and "has been deleted" in text
    assert await web_db.read(audit.verify) == []
    assert NUMBER not in caplog.text and NUMBER[1:] not in caplog.text


async def test_others_cannot_reveal(
    server: Served, client: Client, web_db: Database, case_with_callback: tuple[int, int]
) -> None:
    case_id, cb = case_with_callback
    await client.login("super")
    status, page = await client.get(f"/cases/{case_id}")
    assert status == 200 and "Call-back requested" in page and "/reveal" not in page
    assert "Only the caseworker this case is assigned to can see the number" in page
    status, text = await client.post(f"/cases/{case_id}/callbacks/{cb}/reveal", {"reason": "just curious, sorry"})
    assert status == 403 and NUMBER not in text
    denied = await _audit(web_db, "callback.reveal.denied")
    assert len(denied) == 1 and denied[0]["username"] == "super"
    status, text = await client.post(f"/cases/{case_id}/callbacks/{cb + 99}/reveal", {"reason": "calling back"})
    assert status == 404 and "no such call-back" in text

    other = Client(server.url)
    try:
        await other.login("cw_km")  # another language's caseworker cannot even open the case
        status, text = await other.post(f"/cases/{case_id}/callbacks/{cb}/reveal", {"reason": "calling back now"})
        assert status == 403 and NUMBER not in text
    finally:
        await other.close()
    assert await _audit(web_db, "callback.reveal") == []


async def test_retention_while_the_case_page_is_open(
    client: Client, web_db: Database, web_settings: Settings, users: dict[str, int]
) -> None:
    """The caseworker opened the case; retention then deletes its recording; the page's player gets a plain 404."""
    closed = (datetime.now(UTC) - timedelta(days=web_settings.retention_recording_days + 1)).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")
    wav = web_settings.data_dir / "recordings" / "old.wav"
    wav.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(wav), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(16000))

    def seed(db: sqlite_utils.Database) -> tuple[int, int]:
        case_id = insert_case(db, status="closed", assignee_id=users["cw_my"], closed_at=closed)
        rid = db.execute("insert into recordings (case_id, path, state, created_at) values (?, ?, 'stored', ?)",
                         [case_id, "recordings/old.wav", closed]).lastrowid
        return case_id, int(rid or 0)

    case_id, rid = await web_db.write(seed)
    await client.login("cw_my")
    status, page = await client.get(f"/cases/{case_id}")
    assert status == 200 and f"/recordings/{rid}/audio" in page
    async with client.session.get(f"{client.base}/recordings/{rid}/audio") as response:
        assert response.status == 200 and (await response.read())[:4] == b"RIFF"

    report = await Retention(web_settings, web_db).run()
    assert report.plan.recordings == [rid] and not wav.exists()

    status, text = await client.get(f"/recordings/{rid}/audio")  # the open page's player
    assert status == 404 and "no longer stored" in text
    status, page = await client.get(f"/cases/{case_id}")
    assert status == 200 and f"/recordings/{rid}/audio" not in page
