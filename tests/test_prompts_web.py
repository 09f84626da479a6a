# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""/prompts in the web UI over real HTTP: coverage, playback, uploads through the real conversion."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import aiohttp
import pytest
import yaml
from admin_helpers import Client, admin_template, client, server, users, web_db  # noqa: F401
from prompts_helpers import tone

from ivr.db.writer import Database
from ivr.prompts.build import PromptBuilder
from ivr.settings import Settings

CATALOG = {
    "languages": ["en", "th", "km"],
    "prompts": {
        "greeting": {"en": "Hello.", "th": {"text": "สวัสดี", "review": "needed"},
                     "km": {"text": "សួស្តី", "review": "needed"}},
        "goodbye": {"en": "Goodbye.", "th": {"text": "ลาก่อน", "review": "needed"}},
    },
}


@pytest.fixture
def web_settings(settings: Settings, tmp_path: Path) -> Settings:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text(yaml.safe_dump(CATALOG, allow_unicode=True), encoding="utf-8")
    web = dataclasses.replace(settings, cookie_secure=False, admin_bind="127.0.0.1:0", prompts_dir=prompts,
                              languages=("km", "en"))
    PromptBuilder(web).build()
    return web


async def upload(client: Client, path: str, name: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf", client.token)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    async with client.session.post(client.base + path, data=form) as response:
        return response.status, await response.text()


async def test_coverage_playback_and_uploads(client: Client, web_settings: Settings, web_db: Database,
                                             tmp_path: Path) -> None:
    await client.login("admin")
    status, page = await client.get("/prompts?lang=km")
    assert status == 200
    assert "Missing: plays the Thai prompt" in page and "សួស្តី" in page and "needs review" in page

    status, page = await client.get("/prompts?lang=en")
    assert 'src="/prompts/en/greeting.wav?v=' in page and "Placeholder (computer speech)" in page
    built = web_settings.data_dir / "prompts" / "en" / "greeting.wav"
    async with client.session.get(client.base + "/prompts/en/greeting.wav") as response:
        assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
        assert await response.read() == built.read_bytes()

    placeholder = built.read_bytes()
    recording = tone(tmp_path / "greeting.mp3", rate=48000, channels=2).read_bytes()
    status, page = await upload(client, "/prompts/en/greeting", "My greeting.MP3", recording)
    assert status == 200 and "The new recording of greeting is in place" in page
    assert built.read_bytes() != placeholder
    assert (web_settings.prompts_dir / "en" / "greeting.mp3").read_bytes() == recording
    assert "<td>1</td><td>1</td>" in page  # en: 1 recorded, 1 placeholder
    audit = web_db.query_sync("select action, object_id from audit_log where action = 'prompt.upload'")
    assert audit == [{"action": "prompt.upload", "object_id": "en/greeting"}]

    good = built.read_bytes()
    for name, data, expected in [
        ("broken.mp3", b"\xff\xfb\x90\x00" + b"\x13" * 3000, "cannot be read as audio"),
        ("empty.wav", b"", "the file is empty"),
        ("notes.txt", b"hello", "not a recording format"),
    ]:
        status, page = await upload(client, "/prompts/en/greeting", name, data)
        assert status == 400, name
        assert expected in page and "The previous prompt is still in place" in page
        assert built.read_bytes() == good
        assert (web_settings.prompts_dir / "en" / "greeting.mp3").read_bytes() == recording

    status, _ = await client.get("/prompts/en/nonsense.wav")
    assert status == 404


async def test_only_admins_see_the_prompts_page(client: Client) -> None:
    await client.login("cw_my")
    status, _ = await client.get("/prompts")
    assert status == 403
    async with client.session.get(client.base + "/prompts/en/greeting.wav") as response:
        assert response.status == 403
