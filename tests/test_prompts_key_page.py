# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""A prompt key's own page for a reviewer on a phone: the notice after a redirect (once, in their language),
the neighbouring keys of the same filtered list, an upload to a key that does not exist, and a failed
build's reason in the reader's language."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest
from admin_helpers import Client, admin_template, client, insert_case, server, users, web_db  # noqa: F401
from prompts_helpers import tone, web_deployment

from ivr.admin.users import add_user
from ivr.db.writer import Database
from ivr.prompts import web as prompts_web
from ivr.prompts.build import PromptBuilder
from ivr.prompts.provenance import drafts_root
from ivr.prompts.review import Person, PromptReview
from ivr.prompts.store import MANIFEST, built_root
from ivr.settings import Settings
from ivr.words import N_, Joined, Words, ngettext, words_from_data

# Five keys (the catalog lists them A to Z); Khmer has no espeak-ng voice, so no Khmer key has audio.
KEYS = ("a_hello", "b_menu", "c_wait", "d_code", "e_bye")
CATALOG = {
    "languages": ["en", "th", "km"],
    "prompts": {key: {"en": f"Words of {key}.", "th": {"text": f"ข้อความ {key}", "review": "needed"}}
                for key in KEYS},
}
NOTICE = re.compile(r'<p class="notice"[^>]*>(.*?)</p>', re.S)


@pytest.fixture
def web_settings(settings: Settings, tmp_path: Path) -> Settings:
    return web_deployment(settings, tmp_path, CATALOG)


async def as_thai(client: Client, username: str = "admin") -> None:
    await client.login(username)
    status, _ = await client.post("/language", {"ui_language": "th", "back": "/"})
    assert status == 200


def neighbours(page: str) -> dict[str, tuple[str, str]]:
    """The previous/next links of a key's page: rel -> (href, the words shown)."""
    nav = page.split('<nav class="pager keys"', 1)[1].split("</nav>", 1)[0] if 'class="pager keys"' in page else ""
    return {rel: (href.replace("&amp;", "&"), words) for rel, href, words in
            re.findall(r'<a class="button[^"]*" rel="(prev|next)" href="([^"]+)">([^<]+)</a>', nav)}


async def test_a_done_notice_shows_once_in_the_readers_language(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path) -> None:
    case = web_db.write_sync(lambda db: insert_case(db))
    await as_thai(client)
    # The key's page after a take was kept as a draft, and the list after a review.
    status, page = await client.get("/prompts/en/b_menu?done=submitted")
    assert status == 200
    assert NOTICE.findall(page) == ["เก็บเสียงนี้เป็นฉบับร่างแล้ว ผู้โทรจะได้ยินเมื่อบุคคลที่สองที่รู้ภาษานี้อนุมัติ"]
    assert "kept as a draft" not in page
    status, page = await client.get("/prompts?lang=en&done=rejected")
    assert NOTICE.findall(page) == ["ฉบับร่างถูกปฏิเสธ ผู้โทรยังคงได้ยินข้อความเสียงเดิม"]
    # Another part of the site: the users page after a user was saved, the on-call rota after a change.
    status, page = await client.get("/users?done=user")
    assert status == 200 and NOTICE.findall(page) == ["บันทึกผู้ใช้แล้ว"] and "The user was saved" not in page
    status, page = await client.get("/oncall?done=saved")
    assert status == 200 and NOTICE.findall(page) == ["บันทึกแล้ว"]
    # The registry's import notice is printed by the same one place, once.
    form = aiohttp.FormData()
    form.add_field("csrf", client.token)
    form.add_field("file", b"code,name,location,sector,supplier,brands\n", filename="r.csv", content_type="text/csv")
    async with client.session.post(client.base + "/workplaces/import", data=form) as response:
        page = await response.text()
    assert response.status == 200 and len(NOTICE.findall(page)) == 1 and "นำเข้าแล้ว" in NOTICE.findall(page)[0]
    # A refusal or an error page never repeats a notice its address still carries.
    status, page = await client.get(f"/cases/{case}?done=saved")   # an admin reads no cases
    assert status == 403 and NOTICE.findall(page) == []
    status, page = await client.get("/prompts/en/no_such_key?done=submitted")
    assert status == 404 and NOTICE.findall(page) == []
    # Signing out: "You have signed out." in the language they were reading, whatever the browser asks for,
    # and the sign-in form that follows stays in it (a wrong password is refused in Thai too).
    status, page = await client.post("/logout", headers={"Accept-Language": "en"})
    assert status == 200 and '<html lang="th">' in page and NOTICE.findall(page) == ["คุณออกจากระบบแล้ว"]
    assert 'action="/login?ui=th"' in page
    async with client.session.post(client.base + "/login?ui=th", headers={"Accept-Language": "en"},
                                   data={"csrf": client.token, "username": "admin", "password": "wrong"}) as response:
        page = await response.text()
    assert response.status in (400, 401, 429) and '<html lang="th">' in page and NOTICE.findall(page) == []
    # An address naming no UI language is the browser's choice, as before.
    status, page = await client.get("/login?ui=xx", headers={"Accept-Language": "en"})
    assert '<html lang="en">' in page and 'action="/login"' in page


async def test_a_reviewer_goes_from_key_to_key_within_the_filter(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    review = PromptReview(web_settings, web_db)
    speaker = Person(None, "speaker")
    drafts = {key: await review.submit("en", key, tone(tmp_path / f"{key}.wav"), speaker, "import")
              for key in ("b_menu", "d_code")}
    await client.login("admin")
    # Drafts to review: b_menu and d_code, one after the other, each link named by its key.
    status, page = await client.get("/prompts/en/b_menu?status=draft")
    assert status == 200
    assert neighbours(page) == {"next": ("/prompts/en/d_code?status=draft", "Next: d_code →")}
    status, page = await client.get("/prompts/en/d_code?status=draft")
    assert neighbours(page) == {"prev": ("/prompts/en/b_menu?status=draft", "← Previous: b_menu")}
    # A key that no longer matches (its draft was just rejected) still leads on to the matching ones around it.
    hashed = web_db.query_sync("select password_hash from users where username = 'admin'")[0]["password_hash"]
    reviewer = web_db.write_sync(lambda db: add_user(db, "rev_en", hashed, "admin", "en"))
    await review.reject(drafts["b_menu"], Person(reviewer, "rev_en", "admin", ("en",)), "noise")
    status, page = await client.get("/prompts/en/b_menu?status=draft")
    assert neighbours(page) == {"next": ("/prompts/en/d_code?status=draft", "Next: d_code →")}
    status, page = await client.get("/prompts/en/c_wait?status=draft")
    assert neighbours(page) == {"next": ("/prompts/en/d_code?status=draft", "Next: d_code →")}
    # Missing Khmer prompts with texts to check, a page at a time: the link names the page its key is on.
    monkeypatch.setattr(prompts_web, "PAGE_SIZE", 2)
    status, page = await client.get("/prompts/km/b_menu?status=missing&review=1")
    assert neighbours(page) == {
        "prev": ("/prompts/km/a_hello?status=missing&review=1", "← Previous: a_hello"),
        "next": ("/prompts/km/c_wait?status=missing&review=1&page=2", "Next: c_wait →")}
    status, page = await client.get("/prompts/km/c_wait?status=missing&review=1&page=2")
    assert neighbours(page)["prev"] == ("/prompts/km/b_menu?status=missing&review=1", "← Previous: b_menu")
    # Without a filter: every key; the first has no previous, the last no next.
    status, page = await client.get("/prompts/en/a_hello")
    assert neighbours(page) == {"next": ("/prompts/en/b_menu", "Next: b_menu →")}
    status, page = await client.get("/prompts/en/e_bye")
    assert neighbours(page) == {"prev": ("/prompts/en/d_code?page=2", "← Previous: d_code")}
    # Alone in its filter: no links at all.
    status, page = await client.get("/prompts/en/d_code?status=draft")
    assert neighbours(page) == {} and 'class="pager keys"' not in page
    # In Thai, the links still name the key.
    await client.post("/language", {"ui_language": "th", "back": "/"})
    status, page = await client.get("/prompts/en/b_menu")
    [(href, words)] = [neighbours(page)["next"]]
    assert href == "/prompts/en/c_wait?page=2" and "c_wait" in words and "Next" not in words


async def test_an_upload_to_a_key_the_catalog_lacks_is_refused_and_keeps_nothing(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path) -> None:
    await as_thai(client)
    take = tone(tmp_path / "take.wav").read_bytes()
    for via in ("", "web"):   # the upload form, and the recorder's own request
        form = aiohttp.FormData()
        form.add_field("csrf", client.token)
        if via:
            form.add_field("via", via)
        form.add_field("file", take, filename="take.wav", content_type="audio/wav")
        async with client.session.post(client.base + "/prompts/en/no_such_key", data=form) as response:
            assert response.status == 404
            answer = await response.text()
        shown = json.loads(answer)["error"] if via else answer
        assert "ไม่มีข้อความเสียง “no_such_key” ในรายการข้อความเสียง จึงไม่ได้เก็บเสียงบันทึกนี้ไว้" in shown
        assert "There is no prompt" not in shown
    assert web_db.query_sync("select * from prompt_recordings") == []
    assert web_db.query_sync("select * from audit_log where action like 'prompt.%'") == []
    root = drafts_root(web_settings)
    assert not root.exists() or [p for p in root.rglob("*") if p.is_file()] == []


async def test_a_failed_build_is_explained_in_the_readers_language(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path) -> None:
    # A recording that cannot be read stands in the source folder: the build keeps the placeholder and why.
    folder = web_settings.prompts_dir / "en"
    folder.mkdir()
    (folder / "b_menu.wav").write_bytes(b"")
    report = PromptBuilder(web_settings).build(languages=["en"])
    assert report.failed == ["b_menu.wav: the file is empty"]
    await as_thai(client)
    status, page = await client.get("/prompts/en/b_menu")
    assert status == 200
    [failed] = re.findall(r'<p class="warning">([^<]*)</p>', page)
    assert failed == "การสร้างครั้งล่าสุดล้มเหลว: b_menu.wav: ไฟล์ว่างเปล่า" and "the file is empty" not in page
    # A manifest from before the reason was kept as words (text alone) still shows its text.
    manifest_path = built_root(web_settings) / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    del manifest["entries"]["en/b_menu"]["error_words"]
    manifest_path.write_text(json.dumps(manifest))
    status, page = await client.get("/prompts/en/b_menu")
    assert re.findall(r'<p class="warning">([^<]*)</p>', page) == [
        "การสร้างครั้งล่าสุดล้มเหลว: b_menu.wav: the file is empty"]
    # And words that no longer fit their message (a damaged or edited manifest) fall back to the text too.
    manifest["entries"]["en/b_menu"]["error_words"] = {"text": "%(name)s: %(reason)s", "fields": {"name": "x"}}
    manifest_path.write_text(json.dumps(manifest))
    status, page = await client.get("/prompts/en/b_menu")
    assert status == 200 and "b_menu.wav: the file is empty" in page


def test_words_kept_as_data_come_back_as_the_same_words() -> None:
    """What the manifest keeps of a reason (nested words, a count, several reasons) reads back equal, through
    JSON; anything else reads back as nothing, so the page shows the stored text instead."""
    reasons = [
        Words(N_("%(name)s: %(reason)s"), name="take.wav", reason=Words(N_("the file is empty"))),
        ngettext("%(n)s prompt plays nothing", "%(n)s prompts play nothing", 3),
        Joined([Words(N_("too quiet (it would need %(gain)s dB of gain); record again closer to the microphone"),
                      gain="41"), Words(N_("Saved."))], sep="; "),
    ]
    for words in reasons:
        back = words_from_data(json.loads(json.dumps(words.to_data())))
        assert back == words and str(back) == str(words)
    for damaged in (None, "the file is empty", {"text": ""}, {"text": "%(n)s left", "fields": {"m": 1}},
                    {"text": "a", "fields": {"x": {"no": "words"}}}, {"parts": "x"},
                    {"text": "%(n)s", "fields": {"n": "3"}, "plural": "%(n)s"}):
        assert words_from_data(damaged) is None, damaged


async def test_after_a_decision_the_reviewer_lands_on_the_next_draft_waiting_for_them(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path) -> None:
    review = PromptReview(web_settings, web_db)
    speaker = Person(None, "speaker")
    admin_id = web_db.query_sync("select id from users where username = 'admin'")[0]["id"]
    drafts = {key: await review.submit("en", key, tone(tmp_path / f"{key}.wav"), speaker, "import")
              for key in ("a_hello", "c_wait", "e_bye")}
    # The reviewer's own take is not theirs to decide: it is passed over.
    await review.submit("en", "b_menu", tone(tmp_path / "own.wav"), Person(admin_id, "admin", "admin", ("en",)), "web")
    await client.login("admin")

    async def decide(key: str, decision: str) -> str:
        async with client.session.post(f"{client.base}/prompts/drafts/{drafts[key]}/{decision}", allow_redirects=False,
                                       data={"csrf": client.token, "status": "draft", "page": "2",
                                             "reason": "noise"}) as response:
            assert response.status == 303
            return response.headers["Location"]

    # From c_wait on down the catalog, then round to its start; the filter goes along, its page does not.
    assert await decide("c_wait", "approve") == "/prompts/en/e_bye?done=approved_next&status=draft"
    status, page = await client.get("/prompts/en/e_bye?done=approved_next&status=draft")
    assert status == 200 and NOTICE.findall(page) == [
        "Approved. Callers hear the new recording from their next call. Here is the next draft waiting for you."]
    assert await decide("e_bye", "reject") == "/prompts/en/a_hello?done=rejected_next&status=draft"
    # Nothing left for them: back to the list, at the row just decided, with the plain notice.
    assert await decide("a_hello", "approve") == "/prompts?lang=en&status=draft&page=2&done=approved#a_hello"
    states = {r["key"]: r["state"] for r in web_db.query_sync("select key, state from prompt_recordings")}
    assert states == {"a_hello": "approved", "b_menu": "draft", "c_wait": "approved", "e_bye": "rejected"}
    # In Thai the notice is Thai.
    await as_thai(client)
    status, page = await client.get("/prompts/en/b_menu?done=rejected_next")
    assert NOTICE.findall(page) == ["ฉบับร่างถูกปฏิเสธ ผู้โทรยังคงได้ยินข้อความเสียงเดิม นี่คือฉบับร่างถัดไปที่รอคุณตรวจ"]


async def test_with_a_broken_catalog_a_decision_is_refused_or_lands_back_on_the_list(
        client: Client, web_settings: Settings, web_db: Database, tmp_path: Path) -> None:
    review = PromptReview(web_settings, web_db)
    drafts = {key: await review.submit("en", key, tone(tmp_path / f"{key}.wav"), Person(None, "speaker"), "import")
              for key in ("a_hello", "c_wait")}
    live = (built_root(web_settings) / "en" / "a_hello.wav").read_bytes()
    # Someone editing the catalog by hand left it unreadable while drafts wait.
    (web_settings.prompts_dir / "catalog.yaml").write_text("prompts: [unclosed\n", encoding="utf-8")
    await client.login("admin")

    async def decide(key: str, decision: str) -> tuple[int, str, str]:
        async with client.session.post(f"{client.base}/prompts/drafts/{drafts[key]}/{decision}",
                                       allow_redirects=False, data={"csrf": client.token, "status": "draft"}) as r:
            return r.status, r.headers.get("Location", ""), await r.text()

    # Approving checks the key against the catalog: refused, the reason shown, the live prompt unchanged.
    status, _, page = await decide("a_hello", "approve")
    assert status == 500 and "catalog.yaml: not valid YAML" in page
    assert "Nothing was decided: the draft is kept, and callers still hear the recording they heard before." in page
    assert (built_root(web_settings) / "en" / "a_hello.wav").read_bytes() == live
    # Rejecting needs no catalog; with no order to find the next draft in, it goes back to the list.
    status, location, _ = await decide("c_wait", "reject")
    assert (status, location) == (303, "/prompts?lang=en&status=draft&done=rejected#c_wait")
    states = {r["key"]: r["state"] for r in web_db.query_sync("select key, state from prompt_recordings")}
    assert states == {"a_hello": "draft", "c_wait": "rejected"}
