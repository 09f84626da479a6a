# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""/prompts in the web UI over real HTTP: coverage, playback, uploads through the real conversion."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path

import aiohttp
import pytest
from admin_helpers import Client, admin_template, client, server, users, web_db  # noqa: F401
from browser_support import requires_chromium
from prompts_helpers import tone, web_deployment

from ivr.admin.users import add_user
from ivr.db.writer import Database
from ivr.prompts import web as prompts_web
from ivr.prompts.build import PromptBuilder
from ivr.prompts.review import Person, PromptReview, ReviewError
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
    return web_deployment(settings, tmp_path, CATALOG)


async def upload(client: Client, path: str, name: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf", client.token)
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    async with client.session.post(client.base + path, data=form) as response:
        return response.status, await response.text()


def add_reviewer(db: Database, name: str, languages: str, role: str = "admin") -> int:
    hashed = db.query_sync("select password_hash from users where username = 'admin'")[0]["password_hash"]
    return db.write_sync(lambda conn: add_user(conn, name, hashed, role, languages))


def draft_ids(db: Database, state: str = "draft") -> list[int]:
    return [r["id"] for r in db.query_sync("select id from prompt_recordings where state = ? order by id", [state])]


def actions(db: Database) -> list[tuple[str, str]]:
    return [(r["action"], r["username"]) for r in db.query_sync(
        "select action, username from audit_log where action like 'prompt.%' order by id")]


async def test_a_thai_admin_reads_the_prompts_pages_refusals_in_thai(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path) -> None:
    await client.login("admin")
    status, _ = await client.post("/language", {"ui_language": "th", "back": "/prompts?lang=en"})
    assert status == 200
    status, page = await upload(client, "/prompts/en/greeting", "take.wav", tone(tmp_path / "take.wav").read_bytes())
    assert status == 200 and "เก็บเสียงนี้เป็นฉบับร่างแล้ว" in page
    [draft] = draft_ids(web_db)
    # Why they may not approve their own draft, on the page and when they try anyway.
    own = "เสียงบันทึกต้องให้อีกคนหนึ่งตรวจ: คุณเป็นผู้ส่งเสียงบันทึกนี้เอง"
    assert own in page and "you submitted this one" not in page
    status, page = await client.post(f"/prompts/drafts/{draft}/approve")
    assert status == 403 and f"greeting: {own}" in page and "A second person" not in page
    assert draft_ids(web_db) == [draft]
    # A text edit that cannot be kept, a stand-in that cannot be chosen, a file the page does not take.
    status, page = await client.post("/prompts/en/greeting/text", {"text": "   "})
    assert status == 400 and "greeting: ข้อความว่างเปล่า ไม่มีการเปลี่ยนแปลงใด" in page
    status, page = await client.post("/prompts/km/stand-in", {"stand_in": "km"})
    assert status == 400 and "“km” ใช้แทนภาษาเขมรไม่ได้" in page and "cannot stand in" not in page
    status, page = await upload(client, "/prompts/en/greeting", "notes.txt", b"hello")
    assert status == 400 and "greeting: notes.txt ไม่ใช่รูปแบบเสียงบันทึกที่หน้านี้รับ" in page
    # Addresses that name nothing: the error pages are in Thai too.
    status, page = await client.post("/prompts/xx/stand-in", {"stand_in": ""})
    assert status == 404 and "ไม่มีภาษา “xx”" in page and "There is no language" not in page
    status, page = await client.get("/prompts/drafts/999.wav")
    assert status == 404 and "ไม่มีเสียงบันทึกนี้" in page


async def test_coverage_playback_and_uploads_become_drafts(client: Client, web_settings: Settings,
                                                           web_db: Database, tmp_path: Path) -> None:
    await client.login("admin")
    status, page = await client.get("/prompts?lang=km")
    assert status == 200
    assert "Missing: callers hear the English prompt" in page and "សួស្តី" in page and "text needs review" in page
    assert "Cannot be offered yet: no audio of its own, and no stand-in chosen: goodbye, greeting" in page
    status, page = await client.post("/prompts/km/stand-in", {"stand_in": "th"})
    assert status == 200 and "The stand-in was changed" in page and "Missing: callers hear the Thai prompt" in page
    assert actions(web_db) == [("prompt.stand_in", "admin")]

    # The list: one row per key, with a play link (it plays without JavaScript too) to its own page.
    status, page = await client.get("/prompts?lang=en")
    assert 'href="/prompts/en/greeting.wav?v=' in page and "Machine placeholder" in page
    assert 'href="/prompts/en/greeting"' in page
    status, page = await client.get("/prompts/en/greeting")
    assert status == 200 and "Hello." in page
    assert 'src="/prompts/en/greeting.wav?v=' in page and "Now playing: a placeholder (computer speech)" in page
    built = web_settings.data_dir / "prompts" / "en" / "greeting.wav"
    async with client.session.get(client.base + "/prompts/en/greeting.wav") as response:
        assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
        assert await response.read() == built.read_bytes()

    placeholder = built.read_bytes()
    recording = tone(tmp_path / "greeting.mp3", rate=48000, channels=2).read_bytes()
    status, page = await upload(client, "/prompts/en/greeting", "My greeting.MP3", recording)
    assert status == 200 and "kept as a draft" in page
    # A draft is not what callers hear: the built prompt and the source folder are as they were.
    assert built.read_bytes() == placeholder
    assert not (web_settings.prompts_dir / "en").exists()
    [draft] = draft_ids(web_db)
    assert f'src="/prompts/drafts/{draft}.wav"' in page
    assert "A second person must review a recording: you submitted this one." in page
    async with client.session.get(client.base + f"/prompts/drafts/{draft}.wav") as response:
        assert response.status == 200 and len(await response.read()) > 1000

    for name, data, expected in [
        ("broken.mp3", b"\xff\xfb\x90\x00" + b"\x13" * 3000, "cannot be read as audio"),
        ("empty.wav", b"", "the file is empty"),
        ("notes.txt", b"hello", "not a recording format"),
    ]:
        status, page = await upload(client, "/prompts/en/greeting", name, data)
        assert status == 400, name
        assert expected in page and "The previous prompt is still in place" in page
        assert built.read_bytes() == placeholder
    assert draft_ids(web_db) == [draft]   # nothing refused was kept
    assert actions(web_db) == [("prompt.stand_in", "admin"), ("prompt.submit", "admin")]


async def test_four_eyes_approval_releases_a_draft(client: Client, web_settings: Settings, web_db: Database,
                                                  tmp_path: Path) -> None:
    add_reviewer(web_db, "rev_km", "km")
    add_reviewer(web_db, "rev_en", "en")
    await client.login("admin")
    await client.get("/prompts?lang=en")
    built = web_settings.data_dir / "prompts" / "en" / "greeting.wav"
    placeholder = built.read_bytes()
    first = tone(tmp_path / "first.wav", freqs=(440,)).read_bytes()
    await upload(client, "/prompts/en/greeting", "first.wav", first)
    [draft] = draft_ids(web_db)

    status, page = await client.post(f"/prompts/drafts/{draft}/approve")
    assert status == 403 and "you submitted this one" in page
    await client.login("rev_km")
    await client.get("/prompts?lang=en")
    status, page = await client.post(f"/prompts/drafts/{draft}/approve")
    assert status == 403 and "greeting: Only a reviewer who has English may approve or reject recordings in it." in page
    assert built.read_bytes() == placeholder and draft_ids(web_db) == [draft]

    await client.login("rev_en")
    status, page = await client.get("/prompts?lang=en&status=draft")
    assert "1 of 2 prompts" in page and "Draft awaiting approval" in page and "Approve draft" not in page
    status, page = await client.get("/prompts/en/greeting")   # the row's own page: hear it, then decide
    assert f"Approve draft {draft}" in page and f'src="/prompts/drafts/{draft}.wav"' in page
    status, page = await client.post(f"/prompts/drafts/{draft}/approve")
    assert status == 200 and "Callers hear the new recording" in page
    assert built.read_bytes() != placeholder
    assert (web_settings.prompts_dir / "en" / "greeting.wav").read_bytes() == first
    assert draft_ids(web_db, "approved") == [draft]
    assert "<td>1</td><td>0</td><td>1</td><td>0</td>" in page  # en: 1 recorded, no drafts, 1 placeholder, 0 stand-in

    # A second take replaces the first only once approved; a rejected one changes nothing.
    approved = built.read_bytes()
    await upload(client, "/prompts/en/greeting", "second.wav", tone(tmp_path / "second.wav", freqs=(660,)).read_bytes())
    await upload(client, "/prompts/en/greeting", "third.wav", tone(tmp_path / "third.wav", freqs=(880,)).read_bytes())
    second, third = draft_ids(web_db)
    await client.login("admin")
    await client.get("/prompts?lang=en")
    status, _ = await client.post(f"/prompts/drafts/{third}/reject", {"reason": "too fast"})
    assert status == 200 and built.read_bytes() == approved
    status, _ = await client.post(f"/prompts/drafts/{second}/approve")
    assert status == 200 and built.read_bytes() != approved
    assert draft_ids(web_db, "superseded") == [draft] and draft_ids(web_db, "rejected") == [third]
    assert actions(web_db) == [
        ("prompt.submit", "admin"), ("prompt.approve", "rev_en"), ("prompt.submit", "rev_en"),
        ("prompt.submit", "rev_en"), ("prompt.reject", "admin"), ("prompt.approve", "admin"),
        ("prompt.replace", "admin")]
    status, page = await client.post(f"/prompts/drafts/{third}/approve")
    assert status == 403 and "already rejected" in page


async def test_catalog_text_is_edited_with_history(client: Client, web_settings: Settings,
                                                   web_db: Database) -> None:
    await client.login("admin")
    await client.get("/prompts?lang=km")
    status, page = await client.post("/prompts/km/greeting/text", {"text": "  សួស្តី   បង  ", "reviewed": "1"})
    assert status == 200 and "The text was saved" in page and "សួស្តី បង" in page
    await client.post("/prompts/km/greeting/text", {"text": "សួស្តី"})
    status, page = await client.post("/prompts/km/greeting/text", {"text": "   "})
    assert status == 400 and "greeting: the text is empty; nothing was changed." in page
    rows = web_db.query_sync("select text, reviewed, by_name from prompt_texts order by id")
    assert rows == [{"text": "សួស្តី បង", "reviewed": 1, "by_name": "admin"},
                    {"text": "សួស្តី", "reviewed": 0, "by_name": "admin"}]
    status, page = await client.get("/prompts/km/greeting")
    versions = page.split("Versions of this text, newest first", 1)[1].split("</ul>", 1)[0]
    assert versions.index("សួស្តី</span>") < versions.index("សួស្តី បង</span>")   # newest first, both kept
    from ivr.prompts.texts import catalog_for
    text = catalog_for(web_settings).text("greeting", "km")
    assert text is not None and text.text == "សួស្តី" and text.review
    assert [a for a in actions(web_db)] == [("prompt.text", "admin"), ("prompt.text", "admin")]
    # The next build speaks the edited words: only that placeholder is made again.
    await client.post("/prompts/en/goodbye/text", {"text": "Goodbye, and take care.", "reviewed": "1"})
    assert PromptBuilder(web_settings).build(languages=["en"]).placeholders == ["en/goodbye"]


async def test_filters_and_pages(client: Client, web_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    await client.login("admin")
    status, page = await client.get("/prompts?lang=en&status=placeholder")
    assert status == 200 and "2 of 2 prompts" in page
    status, page = await client.get("/prompts?lang=en&review=1")
    assert "0 of 2 prompts" in page and 'id="greeting"' not in page
    status, page = await client.get("/prompts?lang=km&status=missing&review=1")
    assert "2 of 2 prompts" in page and 'id="greeting"' in page and 'id="goodbye"' in page
    status, page = await client.get("/prompts?lang=en&status=draft")
    assert "0 of 2 prompts" in page
    monkeypatch.setattr(prompts_web, "PAGE_SIZE", 1)
    status, page = await client.get("/prompts?lang=en&page=2")
    assert "page 2 of 2" in page and 'id="greeting"' in page and 'id="goodbye"' not in page  # keys A-Z
    assert 'href="/prompts?lang=en&amp;status=&amp;review=&amp;page=1">← Previous page' in page


async def test_only_admins_see_the_prompts_page(client: Client) -> None:
    await client.login("cw_my")
    status, _ = await client.get("/prompts")
    assert status == 403
    async with client.session.get(client.base + "/prompts/en/greeting.wav") as response:
        assert response.status == 403


@requires_chromium
async def test_the_voice_talent_kit_downloads_as_a_zip(client: Client, web_settings: Settings) -> None:
    await client.login("admin")
    status, page = await client.get("/prompts?lang=km")
    assert 'href="/prompts/kit/km.zip"' in page
    async with client.session.get(client.base + "/prompts/kit/km.zip") as response:
        assert response.status == 200 and response.headers["Content-Type"] == "application/zip"
        data = await response.read()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert {"km-kit/km-script.pdf", "km-kit/km-script.csv", "km-kit/kit.json", "km-kit/km/",
                "km-kit/reference/greeting.wav"} <= names
        assert "សួស្តី" in archive.read("km-kit/km-script.csv").decode("utf-8-sig")
    status, _ = await client.get("/prompts/kit/zz.zip")
    assert status == 404


async def test_the_prompts_page_speaks_the_users_language(client: Client) -> None:
    await client.login("admin")
    await client.get("/prompts")
    status, page = await client.post("/language", {"ui_language": "th", "back": "/prompts?lang=km"})
    assert status == 200 and '<html lang="th">' in page
    assert "<h1>Prompts</h1>" not in page and "ดาวน์โหลดชุดสำหรับผู้พากย์เสียง" in page   # "Download the ... kit"
    status, page = await client.get("/prompts/km/greeting")
    assert status == 200 and 'data-say-recording="กำลังบันทึก' in page   # the recorder's words too


async def test_a_language_is_recorded_before_it_is_offered(client: Client, web_settings: Settings,
                                                           web_db: Database, tmp_path: Path) -> None:
    assert "lo" not in web_settings.languages
    add_reviewer(web_db, "rev_lo", "lo")
    await client.login("admin")
    status, page = await client.get("/prompts?lang=lo")
    assert status == 200 and "<h2>Lao</h2>" in page and "Lao (not offered yet)" in page
    status, page = await upload(client, "/prompts/lo/greeting", "greeting.wav", tone(tmp_path / "g.wav").read_bytes())
    assert status == 200 and "kept as a draft" in page
    [draft] = draft_ids(web_db)
    await client.login("rev_lo")
    await client.get("/prompts?lang=lo")
    status, page = await client.post(f"/prompts/drafts/{draft}/approve")
    assert status == 200 and "Callers hear the new recording" in page
    assert (web_settings.data_dir / "prompts" / "lo" / "greeting.wav").stat().st_size > 1000


async def test_two_reviewers_approving_at_once_install_it_once(web_settings: Settings, web_db: Database,
                                                               tmp_path: Path) -> None:
    review = PromptReview(web_settings, web_db)
    draft = await review.submit("en", "greeting", tone(tmp_path / "take.wav"), Person(None, "speaker"), "import")
    results = await asyncio.gather(review.approve(draft, Person(1, "a", "admin", ("en",))),
                                   review.approve(draft, Person(2, "b", "admin", ())), return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1
    [refused] = [r for r in results if isinstance(r, Exception)]
    assert isinstance(refused, ReviewError) and "already approved" in str(refused)
    assert [r["action"] for r in web_db.query_sync("select action from audit_log order by id")] == [
        "prompt.submit", "prompt.approve"]


async def test_the_list_is_rows_and_the_tools_are_on_a_keys_own_page(client: Client, web_settings: Settings,
                                                                     web_db: Database, tmp_path: Path) -> None:
    """Every tool on every row made the list 11,000 px tall on a phone: the list keeps only the row."""
    await client.login("admin")
    await upload(client, "/prompts/en/greeting", "take.wav", tone(tmp_path / "take.wav").read_bytes())
    status, page = await client.get("/prompts?lang=en")
    assert status == 200 and page.count('<li class="prompt"') == 2
    for tool in ('class="recorder"', 'type="file"', "<textarea", "/approve", "<audio"):
        assert tool not in page, tool
    assert "Draft awaiting approval" in page and page.count('href="/prompts/en/greeting"') == 1
    status, page = await client.get("/prompts/en/greeting")
    assert status == 200 and page.count('class="recorder"') == 1 and page.count('type="file"') == 1
    assert page.count("<textarea") == 1 and 'action="/prompts/en/greeting/text"' in page
    assert 'href="/prompts?lang=en#greeting"' in page   # back to the list, at this row
    # The list's filter and page ride along: back from a key, or after a review there, is the same rows.
    status, page = await client.get("/prompts?lang=en&status=draft&review=&page=1")
    assert 'href="/prompts/en/greeting?status=draft"' in page
    status, page = await client.get("/prompts/en/greeting?status=draft&page=x&review=maybe")
    assert 'href="/prompts?lang=en&amp;status=draft#greeting"' in page
    assert '<input type="hidden" name="status" value="draft">' in page
    [draft] = draft_ids(web_db)
    add_reviewer(web_db, "rev_en", "en")
    await client.login("rev_en")
    await client.get("/prompts/en/greeting")
    async with client.session.post(client.base + f"/prompts/drafts/{draft}/reject", allow_redirects=False,
                                   data={"csrf": client.token, "reason": "noise", "status": "draft"}) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/prompts?lang=en&status=draft&done=rejected#greeting"
    # A key or language that does not exist is a 404, not an empty page.
    for path in ("/prompts/en/no_such_key", "/prompts/xx/greeting", "/prompts/en/Bad-Key"):
        status, _ = await client.get(path)
        assert status == 404, path
