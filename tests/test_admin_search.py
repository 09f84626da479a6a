# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""Search on /cases over real HTTP: trigram FTS5 over transcripts, translations, notes and workplace names."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import sqlite_utils
from admin_helpers import (  # noqa: F401
    Client,
    admin_template,
    client,
    insert_case,
    insert_reported_case,
    server,
    users,
    web_db,
    web_settings,
)

from ivr.admin.case_search import snippet, terms
from ivr.db import utcnow
from ivr.db.writer import Database
from ivr.settings import Settings
from ivr.supply import codes, registry
from ivr.supply.registry import Workplace

THAI = "นายจ้างยึดหนังสือเดินทางของฉันไว้และไม่ยอมคืน"          # "my employer took my passport and won't return it"
BURMESE = "အလုပ်ရှင်က ကျွန်တော့်ပတ်စပို့ကိုသိမ်းထားပြီး ပြန်မပေးဘူး"   # the same, in Burmese


def case_ids(text: str) -> list[int]:
    return [int(m) for m in re.findall(r'data-id="(\d+)"', text)]


def _seed(db: sqlite_utils.Database, data_dir: Path, users: dict[str, int]) -> dict[str, int]:
    thai = insert_reported_case(db, data_dir, language="th", text=THAI)["case_id"]
    burmese = insert_reported_case(db, data_dir, language="my", text=BURMESE)["case_id"]
    other = insert_case(db, language="my")
    db.execute("insert into case_notes (case_id, body, created_at) values (?, 'Spoke to Khun Somchai', ?)",
               [other, utcnow()])
    registry.add_supplier(db, "Thread Co")
    wp = registry.save_workplace(db, Workplace(codes.make_code(10001), "Golden Prawn Factory", "", "",
                                               "Thread Co", ()))
    at_wp = insert_case(db, language="km", emergency=1, workplace_id=wp)
    # A human translation of the Burmese message is searchable too.
    rec = db.execute("select id from recordings where case_id = ?", [burmese]).fetchone()[0]
    db.execute("insert into transcripts (recording_id, kind, engine, language, text, version, created_at) "
               "values (?, 'translation', 'human', 'en', 'The employer keeps my passport', 1, ?)", [rec, utcnow()])
    return {"thai": thai, "burmese": burmese, "note": other, "workplace": at_wp}


async def test_search_finds_words_inside_unspaced_sentences(client: Client, web_db: Database,
                                                            web_settings: Settings, users: dict[str, int]) -> None:
    ids = await web_db.write(lambda db: _seed(db, web_settings.data_dir, users))
    await client.login("super")
    # "หนังสือเดินทาง" (passport) from the middle of the Thai sentence.
    status, text = await client.get("/cases?q=หนังสือเดินทาง")
    assert status == 200 and case_ids(text) == [ids["thai"]]
    assert "<mark>หนังสือเดินทาง</mark>" in text
    # "ပတ်စပို့" (passport) from the middle of the Burmese one.
    _, text = await client.get("/cases?q=ပတ်စပို့")
    assert case_ids(text) == [ids["burmese"]] and "<mark>ပတ်စပို့</mark>" in text
    # Translations, notes and workplace names; every word must match; a two-letter word still works.
    _, text = await client.get("/cases?q=passport employer")
    assert case_ids(text) == [ids["burmese"]]
    _, text = await client.get("/cases?q=somchai")
    assert case_ids(text) == [ids["note"]]
    _, text = await client.get("/cases?q=prawn")
    assert case_ids(text) == [ids["workplace"]]
    _, text = await client.get("/cases?q=Kh")  # shorter than a trigram
    assert case_ids(text) == [ids["note"]]
    _, text = await client.get("/cases?q=passport nothing-like-this")
    assert case_ids(text) == [] and "No cases match" in text
    # Filters apply on top of the words.
    _, text = await client.get("/cases?q=prawn&emergency=1&language=km")
    assert case_ids(text) == [ids["workplace"]]
    _, text = await client.get("/cases?q=passport&language=th")
    assert case_ids(text) == []
    # A new note is searchable at once (the index follows the tables through triggers).
    await web_db.write(lambda db: db.execute(
        "insert into case_notes (case_id, body, created_at) values (?, 'ย้ายไปแม่สอดแล้ว', ?)", [ids["thai"], utcnow()]))
    _, text = await client.get("/cases?q=แม่สอด")
    assert case_ids(text) == [ids["thai"]]
    # Each search is audited like a view, without the words (they may be a name).
    rows = await web_db.query("select detail from audit_log where action = 'case.search' order by id")
    assert len(rows) == 10
    assert json.loads(rows[0]["detail"])["cases"] == [ids["thai"]]
    assert not any("หนังสือ" in r["detail"] or "somchai" in r["detail"] for r in rows)


async def test_words_of_one_or_two_characters_are_found_anywhere(client: Client, web_db: Database,
                                                                 web_settings: Settings,
                                                                 users: dict[str, int]) -> None:
    """Short words come from the index's vocabulary (m1604): mid-sentence, at the very end, any case."""
    ids = await web_db.write(lambda db: _seed(db, web_settings.data_dir, users))
    await client.login("super")
    # "ไว้" is 3 code points; "ไว" (2) sits mid-sentence in the Thai message only.
    _, text = await client.get("/cases?q=ไว&status=all")
    assert case_ids(text) == [ids["thai"]] and "<mark>ไว</mark>" in text
    # One Burmese letter, "ပ", is in the Burmese message only.
    _, text = await client.get("/cases?q=ပ&status=all")
    assert case_ids(text) == [ids["burmese"]]
    # The last two characters of a case's text (the end of its workplace's name), in another case.
    _, text = await client.get("/cases?q=RY&status=all")
    assert case_ids(text) == [ids["workplace"]]
    # Two short words: both must be there.
    _, text = await client.get("/cases?q=ไว+ပ&status=all")
    assert case_ids(text) == []
    # A workplace renamed: the index follows, short words too.
    await web_db.write(lambda db: db.execute("update workplaces set name = 'Golden Prawn Mill'"))
    _, text = await client.get("/cases?q=ry&status=all")
    assert case_ids(text) == []
    _, text = await client.get("/cases?q=ll&status=all")
    assert case_ids(text) == [ids["workplace"]]


async def test_search_obeys_the_queue_visibility_rule(client: Client, web_db: Database,
                                                      web_settings: Settings, users: dict[str, int]) -> None:
    ids = await web_db.write(lambda db: _seed(db, web_settings.data_dir, users))
    await client.login("cw_km")  # a caseworker for Khmer only
    for q in ("ပတ်စပို့", "หนังสือเดินทาง", "passport", "somchai", "Kh"):
        status, text = await client.get(f"/cases?q={q}")
        assert status == 200 and case_ids(text) == [], q
        assert BURMESE[:10] not in text and THAI[:10] not in text
    _, text = await client.get("/cases?q=prawn")
    assert case_ids(text) == [ids["workplace"]]
    _, text = await client.get("/cases/live?q=passport")
    assert case_ids(json.loads(text)["html"]) == []
    await client.login("admin")  # admins run the system; they do not read cases
    status, _ = await client.get("/cases?q=passport")
    assert status == 403


async def test_search_refuses_what_it_cannot_search(client: Client, users: dict[str, int]) -> None:
    await client.login("super")
    status, text = await client.get("/cases?q=" + "x" * 201)
    assert status == 400 and "too long" in text
    status, text = await client.get("/cases?q=" + "+".join("abcdefghij"))
    assert status == 400 and "at most 8 words" in text


def test_snippet_marks_every_match_and_escapes_the_rest() -> None:
    text = "before " * 20 + "<b>Passport</b> taken, passport kept" + " after" * 20
    out = str(snippet(text, terms("passport")))
    assert out.count("<mark>") == 2 and "&lt;b&gt;<mark>Passport</mark>&lt;/b&gt;" in out
    assert out.startswith("…") and out.endswith("…") and len(out) < 260


async def test_fonts_for_every_unspaced_script_are_served(client: Client) -> None:
    from ivr.admin.fonts import FAMILIES

    status, css = await client.get("/fonts/fonts.css")  # before signing in: the sign-in page needs them too
    assert status == 200
    for family in ("Noto Sans Myanmar", "Noto Sans Khmer", "Noto Sans Lao", "Noto Sans Thai"):
        assert f"font-family: '{family}'" in css, family
    urls = re.findall(r"url\((/fonts/[^)]+\.woff2)\)", css)
    assert len(urls) == 2 * len(FAMILIES) and "http" not in css
    async with client.session.get(client.base + urls[0]) as r:
        assert r.status == 200 and r.headers["Content-Type"] == "font/woff2" and (await r.read())[:4] == b"wOF2"
    status, _ = await client.get("/fonts/noto-sans-thai/..%2Fpackage.json")
    assert status == 404


async def test_pdfs_embed_the_served_fonts() -> None:
    from ivr.admin import fonts
    from ivr.supply import pdf

    if pdf.find_chromium() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it)")
    html = ('<html><head></head><body style="font-family: \'Noto Sans Thai\', \'Noto Sans Myanmar\'">'
            'นายจ้าง ပတ်စပို့</body></html>')
    data = await pdf.html_to_pdf(html.replace("</head>", f"<style>{fonts.stylesheet(files=True)}</style></head>"))
    names = set(re.findall(rb"/FontName\s*/[A-Z]{6}\+([A-Za-z-]+)", data))
    assert {b"NotoSansThai-Regular", b"NotoSansMyanmar-Regular"} <= names, names


async def test_the_search_box_comes_first_and_filters_fold_until_used(client: Client, web_db: Database) -> None:
    # The queue's search box sat below eleven filters (a phone's whole screen) and, on a laptop, alone at
    # the bottom left of an empty box. It is first now, with its own button; the filters fold under it.
    await web_db.write(lambda db: db.execute("update users set ui_language = 'th' where username = 'cw_my'"))
    await client.login("cw_my")
    _, page = await client.get("/cases")
    form = page.split('<form method="get" action="/cases"', 1)[1].split("</form>", 1)[0]
    assert form.index('name="q"') < form.index("<details") < form.index('name="status"')
    assert '<button class="primary">ค้นหา</button>' in form.split("<details", 1)[0]  # "Search"
    assert '<details class="more-filters">' in form  # folded: no filter in use
    assert "ตัวกรองและการเรียงลำดับ</summary>" in form  # "Filters and order"
    # The defaults sent back by the form are not "in use"; a language and the emergencies are.
    _, page = await client.get("/cases?q=&status=open&sort=priority&language=my&emergency=1")
    assert '<details class="more-filters" open>' in page and "(ใช้อยู่ 2)" in page  # "(2 in use)"
