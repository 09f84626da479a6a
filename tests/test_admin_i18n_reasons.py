# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""Reasons Python words and a page shows, in the reader's language (Thai, Burmese), never the English:
why an upload or a recording is refused (real audio through ffmpeg/sox), why a language cannot be offered
yet (/prompts), why lines of a registry CSV are refused, and why a password is too easy to guess."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import zxcvbn.feedback
from admin_helpers import Client, admin_template, client, insert_case, server, users, web_db  # noqa: F401
from prompts_helpers import run, silence, tone, web_deployment

from ivr.admin.i18n import Translations
from ivr.admin.passwords import HINTS, UNKNOWN_HINT, hints
from ivr.admin.render import commands
from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.prompts.convert import AudioError
from ivr.settings import Settings
from ivr.supply import codes, registry
from ivr.words import Joined, Words, ngettext

CATALOG = {
    "languages": ["en", "th", "km"],
    "prompts": {
        "greeting": {"en": "Hello.", "th": "สวัสดี", "km": "សួស្តី"},
        "goodbye": {"en": "Goodbye.", "th": "ลาก่อน"},
        "digit_1": {"en": "One."},
    },
}


@pytest.fixture
def web_settings(settings: Settings, tmp_path: Path) -> Settings:
    return web_deployment(settings, tmp_path, CATALOG, prompt_placeholders=("th",))


async def _in(client: Client, username: str, language: str) -> None:
    status, _ = await client.login(username)
    assert status == 200
    status, _ = await client.post("/language", {"ui_language": language, "back": "/"})
    assert status == 200


async def _send(client: Client, path: str, field: str, name: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf", client.token)
    form.add_field(field, data, filename=name, content_type="application/octet-stream")
    async with client.session.post(client.base + path, data=form) as response:
        return response.status, await response.text()


def _clipped(path: Path) -> Path:
    """A take recorded too close to the microphone: sox drives a tone eight times past full scale."""
    source = tone(path.with_name("loud.src.wav"), seconds=1.5, volume=0.9)
    run("sox", "-v", "8", str(source), str(path))
    return path


def _drafts(db: Database) -> int:
    return int(db.query_sync("select count(*) as n from prompt_recordings")[0]["n"])


# -- audio that cannot be used -----------------------------------------------------------------------------------

async def test_a_refused_recording_says_why_in_thai(client: Client, web_db: Database, tmp_path: Path) -> None:
    await _in(client, "admin", "th")
    await client.get("/prompts?lang=en")
    refusals = [
        (_clipped(tmp_path / "clipped.wav"), "เสียงแตก (เสียงผิดเพี้ยน: ", "clipping (the sound is distorted"),
        (silence(tmp_path / "silent.wav", 2.0), "ไม่มีเสียงอยู่ในไฟล์ (เงียบทั้งหมด)", "all silence"),
        (tone(tmp_path / "far.wav", seconds=1.5, volume=0.0025), "เสียงเบาเกินไป (ต้องขยายเสียงถึง ", "too quiet"),
        (tone(tmp_path / "long.wav", rate=8000, channels=1, seconds=40.0), "ยาวเกินไป (0:40) ความยาวสูงสุดคือ 0:",
         "too long"),
    ]
    for path, thai, english in refusals:
        status, page = await _send(client, "/prompts/en/greeting", "file", path.name, path.read_bytes())
        assert status == 400, page
        # The page's sentence and the converter's reason, both in Thai.
        assert f"ไม่ได้ใช้เสียงบันทึกนี้: upload{path.suffix}: {thai}" in page, (path.name, page)
        assert english not in page, (path.name, page)
        assert "The recording was not used" not in page
    # A damaged file, from the browser's recorder (JSON): the same words.
    status, text = await _send_json(client, "/prompts/en/greeting", b"RIFF\x00\x00not audio at all")
    assert status == 400 and "อ่านเป็นเสียงไม่ได้ (ไฟล์เสียหายหรือไม่ใช่ไฟล์เสียง)" in text
    assert "cannot be read as audio" not in text
    assert _drafts(web_db) == 0   # nothing was kept


async def _send_json(client: Client, path: str, data: bytes) -> tuple[int, str]:
    form = aiohttp.FormData()
    form.add_field("csrf", client.token)
    form.add_field("via", "web")
    form.add_field("file", data, filename="take.wav", content_type="audio/wav")
    async with client.session.post(client.base + path, data=form) as response:
        return response.status, (await response.json())["error"]


async def test_a_refused_recording_and_reply_say_why_in_burmese(
        client: Client, web_db: Database, tmp_path: Path) -> None:
    await _in(client, "admin", "my")
    await client.get("/prompts?lang=en")
    clipped = _clipped(tmp_path / "clipped.wav")
    status, page = await _send(client, "/prompts/en/greeting", "file", "clipped.wav", clipped.read_bytes())
    assert status == 400 and "အသံ ကွဲနေသည် (အသံ ပုံပျက်နေသည်- " in page
    assert "clipping" not in page and "The recording was not used" not in page

    # A caseworker's message for a caller: the converter's reason, without the temporary file's name.
    case_id = await web_db.write(lambda db: insert_case(db, language="my", status="new"))
    caseworker = Client(client.base)
    try:
        await _in(caseworker, "cw_my", "my")
        await caseworker.get(f"/cases/{case_id}")
        quiet = silence(tmp_path / "quiet.wav", 2.0)
        status, page = await _send(caseworker, f"/cases/{case_id}/reply", "audio", "quiet.wav", quiet.read_bytes())
        assert status == 400
        assert "ဤဖိုင်ကို မက်ဆေ့ချ်အဖြစ် သုံး၍ မရပါ- ၎င်းတွင် အသံ မပါပါ (အားလုံး တိတ်ဆိတ်နေသည်)။" in page, page
        assert "upload.wav" not in page and "silence" not in page and "cannot be used as a message" not in page
    finally:
        await caseworker.close()


def test_the_command_line_keeps_the_english_reason() -> None:
    exc = AudioError("too long (%(length)s); the limit is %(limit)s", name="take.wav", length="5:10", limit="5:00")
    assert str(exc) == "take.wav: too long (5:10); the limit is 5:00"
    assert str(exc.reason) == "too long (5:10); the limit is 5:00"
    thai = Translations().get("th")
    assert exc.words.translate(thai.gettext, thai.ngettext) == "take.wav: ยาวเกินไป (5:10) ความยาวสูงสุดคือ 5:00"


# -- /prompts: why a language cannot be offered yet -----------------------------------------------------------

async def test_prompts_readiness_reasons_in_thai_and_burmese(client: Client) -> None:
    await _in(client, "admin", "th")
    status, page = await client.get("/prompts?lang=km")
    assert status == 200
    assert "ยังเปิดให้เลือกไม่ได้: ไม่มีเสียงของตัวเอง และยังไม่ได้เลือกภาษาแทน: goodbye, greeting" in page, page
    assert "no audio of its own" not in page
    # A stand-in for Khmer (Thai placeholders are allowed): a note says which prompts play it, and the
    # digits' note says what callers hear meanwhile.
    status, page = await client.post("/prompts/km/stand-in", {"stand_in": "th"})
    assert status == 200
    assert '<p class="muted">ข้อความเสียง 2 รายการเล่นภาษาแทน th ที่ผู้ดูแลระบบเลือกไว้ (goodbye, greeting)</p>' in page
    assert '<p class="muted">ยังไม่ได้อัดเสียงตัวเลขและจำนวน 1 รายการ; ระหว่างนี้รหัสจะถูกอ่านเป็นภาษา en</p>' in page
    for english in ("stand-in an admin chose", "not recorded yet", "codes are read in", "no audio of its own"):
        assert english not in page, english

    status, _ = await client.post("/language", {"ui_language": "my", "back": "/"})
    status, page = await client.get("/prompts?lang=en")
    assert status == 200
    assert "ရွေးချယ်ခွင့် မပေးနိုင်သေးပါ - စက်ဖြင့် ယာယီ အသံသာ ရှိသည် (IVR_PROMPT_PLACEHOLDERS က ဤဘာသာစကားအတွက် " \
           "ခွင့်မပြုပါ): goodbye, greeting" in page, page
    assert "ဘာသာစကား မီနူးရှိ ဤဘာသာစကား၏ ကိုယ်ပိုင် အကြောင်းအရာသည် အသံညွှန်ကြားချက် ကတ်တလောက်ထဲတွင် မရှိပါ: " \
           "choose_language" in page
    assert "ဂဏန်းနှင့် နံပါတ် 1 ခုကို အသံမသွင်းရသေးပါ" in page
    for english in ("only a machine placeholder", "language menu's own entry", "not recorded yet"):
        assert english not in page, english


def test_readiness_words_in_english_for_the_command_line() -> None:
    many = ngettext("%(n)s prompt plays the %(other)s stand-in an admin chose (%(keys)s)",
                    "%(n)s prompts play the %(other)s stand-in an admin chose (%(keys)s)", 2, other="th", keys="a, b")
    one = ngettext("%(n)s prompt plays the %(other)s stand-in an admin chose (%(keys)s)",
                   "%(n)s prompts play the %(other)s stand-in an admin chose (%(keys)s)", 1, other="th", keys="a")
    assert str(many) == "2 prompts play the th stand-in an admin chose (a, b)"
    assert str(one) == "1 prompt plays the th stand-in an admin chose (a)"
    catalogs = Translations()
    thai, burmese = catalogs.get("th"), catalogs.get("my")
    assert many.translate(thai.gettext, thai.ngettext) == "ข้อความเสียง 2 รายการเล่นภาษาแทน th ที่ผู้ดูแลระบบเลือกไว้ (a, b)"
    assert one.translate(burmese.gettext, burmese.ngettext) == \
        "အသံညွှန်ကြားချက် 1 ခုသည် စီမံသူ ရွေးထားသော th အစားထိုးကို ဖွင့်သည် (a)"
    joined = Joined([Words("nothing plays"), many], "; ")
    assert str(joined) == "nothing plays; 2 prompts play the th stand-in an admin chose (a, b)"
    assert joined.translate(thai.gettext, thai.ngettext).startswith("ไม่มีเสียงเล่น; ข้อความเสียง 2 รายการ")


# -- the registry CSV import ---------------------------------------------------------------------------------------

async def _import(client: Client, data: bytes) -> tuple[int, str]:
    status, page = await _send(client, "/workplaces/import", "file", "workplaces.csv", data)
    return status, html.unescape(page)


async def test_registry_csv_problems_in_burmese_and_thai(client: Client, web_db: Database) -> None:
    good, other = codes.make_code(10001), codes.make_code(10002)
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    await web_db.write(lambda db: registry.add_supplier(db, "Thread Co"))
    await _in(client, "admin", "my")
    await client.get("/workplaces")
    status, page = await _import(client, (
        "code,name,supplier\n"
        f"{good},Big Mill,Thread Co\n"
        f"{good},Same Code,Thread Co\n"
        f"{wrong},Typo,Thread Co\n"
        f"{other},,Thread Co\n"
        f"{other[:4]},Short,Thread Co,extra\n"
        ",Dock,Nobody\n").encode())
    assert status == 400
    for burmese in ("စာကြောင်း 3- ကုဒ် " + good + " ထပ်နေသည် (စာကြောင်း 2 တွင်လည်း ရှိသည်)",
                    "စာကြောင်း 4- အလုပ်ခွင်ကုဒ် '" + wrong + "'",
                    "စာကြောင်း 5- အလုပ်ဌာန အမည် မပါပါ",
                    "စာကြောင်း 6- အကွက် 4 ကွက် ရှိသော်လည်း ခေါင်းစီးတွင် 3 ကွက် ရှိသည်",
                    "စာကြောင်း 7- မသိသော ပေးသွင်းသူ 'Nobody'"):
        assert burmese in page, (burmese, page)
    for english in ("line 3", "duplicate code", "the workplace name is empty", "fields, but the header",
                    "unknown supplier"):
        assert english not in page, english
    assert await web_db.query("select id from workplaces") == []   # all or nothing

    status, _ = await client.post("/language", {"ui_language": "th", "back": "/workplaces"})
    status, page = await _import(client, b"code,nmae,sector\n")
    assert status == 400
    assert "บรรทัดที่ 1: ไม่มีคอลัมน์ name, supplier; ไม่รู้จักคอลัมน์ 'nmae' (คอลัมน์ที่ต้องมี: " in page, page
    assert "missing column" not in page and "unknown column" not in page
    status, page = await _import(client, "code,name,supplier\n,Café,Thread Co\n".encode("latin-1"))
    assert status == 400 and 'บรรทัดที่ 2: ไฟล์ไม่ใช่ข้อความ UTF-8 (ไบต์ 0xe9)' in page
    assert "not UTF-8" not in page


# -- passwords -------------------------------------------------------------------------------------------------------

LINK = re.compile(r'value="http://[^"]+(/set-password/[A-Za-z0-9_-]+)"')


async def _link(client: Client, username: str) -> str:
    """An admin account (it reads no cases, so its link is shown at once) and its one-time link."""
    await client.login("admin")
    await client.get("/users")
    status, page = await client.post("/users", {"username": username, "role": "admin"})
    found = LINK.search(page)
    assert status == 200 and found, page
    return found.group(1)


async def _choose(server: AdminServer, path: str, password: str, language: str) -> tuple[int, str]:
    owner = Client(server.url)
    try:
        await owner.get(path, headers={"Accept-Language": language})
        return await owner.post(path, {"password": password, "repeat": password}, headers={"Accept-Language": language})
    finally:
        await owner.close()


async def test_password_hints_in_thai_and_burmese(client: Client, server: AdminServer) -> None:
    path = await _link(client, "nok")
    status, page = await _choose(server, path, "password12", "th-TH,th;q=0.9")
    assert status == 400
    assert "นี่คือรหัสผ่านที่คนใช้กันมาก เพิ่มอีกหนึ่งหรือสองคำ คำที่ไม่ค่อยมีคนใช้จะดีกว่า" in page, page
    assert "common password" not in page and "Add another word" not in page
    status, page = await _choose(server, path, "abcabcabcabc", "my")
    assert status == 400
    assert '"abcabcabc" ကဲ့သို့ ထပ်နေသည်များသည် "abc" ထက်' in html.unescape(page), page
    assert "ထပ်နေသော စကားလုံးနှင့် စာလုံးများကို ရှောင်ပါ။" in page
    assert "Repeats like" not in page and "Avoid repeated" not in page
    # Still usable: a good password is taken.
    status, page = await _choose(server, path, "quiet river under the mango tree", "my")
    assert status == 200


def _zxcvbn_hints() -> set[str]:
    """Every hint zxcvbn can give: the strings its feedback module passes to gettext."""
    tree = ast.parse(Path(zxcvbn.feedback.__file__).read_text(encoding="utf-8"))
    return {node.args[0].value for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "_"
            and node.args and isinstance(node.args[0], ast.Constant)}


def test_every_zxcvbn_hint_is_marked_and_an_unknown_one_gets_the_general_hint() -> None:
    found = _zxcvbn_hints()
    assert len(found) > 20
    assert found == set(HINTS), f"zxcvbn's hints changed: add {sorted(found - set(HINTS))} to HINTS"
    feedback: dict[str, Any] = {"warning": "A hint from a newer zxcvbn.",
                                "suggestions": ["Avoid sequences.", "Another new one."]}
    assert [w.text for w in hints(feedback)] == [UNKNOWN_HINT, "Avoid sequences."]
    thai = Translations().get("th")
    assert Joined(hints(feedback)).translate(thai.gettext) == \
        "ใช้รหัสผ่านที่ยาวขึ้น: คำที่ไม่ค่อยมีคนใช้หลายคำต่อกันจำง่ายและเดายาก หลีกเลี่ยงลำดับที่เรียงกัน"


async def test_commands_in_messages_are_code_not_backticks(client: Client) -> None:
    # "`ivr prompts build`" read as stray marks around a command in a Thai sentence.
    await _in(client, "admin", "th")
    status, page = await client.get("/prompts?lang=km")
    assert status == 200
    assert "<code>ivr prompts import</code>" in page and "`ivr" not in page
    assert str(commands("<b>`ivr check`</b> & `x")) == "&lt;b&gt;<code>ivr check</code>&lt;/b&gt; &amp; `x"
