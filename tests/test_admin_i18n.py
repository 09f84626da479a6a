# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The web UI's catalogs: every marked string of every template is translated; a user's language is used."""

from __future__ import annotations

import ast
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
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
from babel.messages import pofile
from babel.messages.extract import extract_from_dir

from ivr.admin.i18n import LOCALE_DIR, UI_LANGUAGES, po_path
from ivr.db.writer import Database
from ivr.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _marked() -> set[str]:
    """What `pybabel extract -F admin/locale/babel.cfg -k N_` finds, run in-process (a plural by its singular:
    templates' ngettext() and ivr.words.ngettext())."""
    method_map = [("ivr/**.py", "python"), ("admin/templates/**.html", "jinja2")]
    options = {"admin/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    keywords = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options, keywords=keywords):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_marked_string_is_in_every_catalog() -> None:
    marked = _marked()
    assert {"Sign in", "Cases", "Times are in %(zone)s.", "Audit log"} <= marked  # templates and Python both
    assert {"%(num)s workplace", "missing column %(names)s"} <= marked  # plurals: a template's, and Python's
    assert (LOCALE_DIR / "babel.cfg").is_file()
    for language in UI_LANGUAGES:
        if language == "en":
            continue
        with po_path(language).open("rb") as f:
            catalog = pofile.read_po(f, locale=language)
        missing = sorted(m for m in marked if not catalog.get(m) or not all(_forms(catalog.get(m).string)))
        assert not missing, f"{language}: not in admin/locale/{language}/LC_MESSAGES/messages.po: {missing[:10]}"
        # A machine draft says so until a person has checked it (a translator comment: `pybabel update`
        # keeps those, and drops extracted ones).
        for message in catalog:
            if message.id and message.fuzzy:
                assert any("machine draft" in c for c in message.user_comments + message.auto_comments), message.id
        # Each translation keeps the original's %(name)s fields and markup, or the page would break.
        for message in catalog:
            if message.id and message.string:
                original = message.id if isinstance(message.id, str) else message.id[0]
                text = message.string if isinstance(message.string, str) else message.string[0]
                assert sorted(FIELDS.findall(text)) == sorted(FIELDS.findall(original)), (language, original)


def _forms(string: str | tuple[str, ...]) -> tuple[str, ...]:
    """A translation's forms: one, or one per plural form."""
    return (string,) if isinstance(string, str) else tuple(string)


# Text a reader sees in a template: between tags, and in these attributes.
SHOWN_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label"}
FIELDS = re.compile(r"%\(\w+\)s|<[^>]+>|{\w+}")  # Python fields, markup, and scripts' {fields}


class _ShownText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self.hidden = 0  # inside <style> or <script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hidden += tag in ("style", "script")
        self.found += [v for k, v in attrs if k in SHOWN_ATTRIBUTES and v]

    def handle_endtag(self, tag: str) -> None:
        self.hidden -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.found.append(data)


def unmarked_words(source: str) -> list[str]:
    """Words a template shows that are not inside {{ }} or {% %} (so not through _() or a filter)."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.i18n"])
    # Each expression or tag becomes a private-use mark, which parses as a word in text and as an
    # attribute name inside a tag, so the HTML around it still parses as it will be sent.
    parts = [value if kind == "data" else " \ue000 " for _, kind, value in env.lex(source)
             if kind in ("data", "variable_begin", "block_begin")]
    parser = _ShownText()
    parser.feed("".join(parts))
    parser.close()
    return [piece.strip() for text in parser.found for piece in text.split("\ue000")
            if re.search(r"[A-Za-z]{2,}", piece)]


def test_every_template_marks_the_words_it_shows() -> None:
    templates = list((ROOT / "admin" / "templates").rglob("*.html"))
    assert len(templates) > 30
    unmarked = {str(p.relative_to(ROOT)): words for p in templates if (words := unmarked_words(p.read_text()))}
    assert not unmarked, f"words shown without _(): {unmarked}"
    # The check itself finds words left bare, in text and in shown attributes, but not markup.
    assert unmarked_words('<p title="Bare title">{{ _("Marked") }} bare words <b class="x">{{ n }}</b></p>') \
        == ["Bare title", "bare words"]
    assert unmarked_words('<tr{% if x %} class="muted"{% endif %}><td>{{ _("a") }}</td></tr>') == []


def test_words_kept_in_python_tables_are_marked() -> None:
    """Labels that live in Python dicts are shown through filters: each must be in the catalogs."""
    from ivr.admin.render import NOTICES
    from ivr.cases import CALLBACK_WINDOWS, CATEGORIES, OUTCOMES, PRIORITIES, STATUS_LABELS, STEP_LABELS
    from ivr.languages import LANGUAGES
    from ivr.supply.remediation import KINDS, STATUSES

    marked = _marked()
    tables: list[dict[Any, str]] = [CATEGORIES, OUTCOMES, PRIORITIES, STATUS_LABELS, STEP_LABELS, NOTICES, KINDS,
                                    STATUSES, {c: lang.english for c, lang in LANGUAGES.items()},
                                    {k: w[0] for k, w in CALLBACK_WINDOWS.items()}]
    missing = sorted({w for table in tables for w in table.values()} - marked)
    assert not missing, f"add these to ivr/admin/i18n.py with N_(): {missing}"



async def test_a_user_reads_the_ui_in_their_language(client: Client, users: dict[str, int]) -> None:
    await client.login("cw_my")
    status, page = await client.get("/cases")
    assert status == 200 and '<html lang="en">' in page and "<h1>Cases</h1>" in page
    status, page = await client.post("/language", {"ui_language": "my", "back": "/cases?status=all"})
    assert status == 200 and '<html lang="my">' in page
    assert "<h1>ကိစ္စများ</h1>" in page and "ထွက်ရန်" in page  # "Cases", "Sign out"
    status, page = await client.post("/language", {"ui_language": "th", "back": "https://elsewhere.example/"})
    assert status == 200 and "<h1>เคส</h1>" in page  # sent back to this site's start, not elsewhere
    status, _ = await client.post("/language", {"ui_language": "xx"})
    assert status == 400
    # Before signing in, the browser's language is used.
    fresh = Client(client.base)
    try:
        _, page = await fresh.get("/login", headers={"Accept-Language": "th-TH,th;q=0.9,en;q=0.5"})
        assert "<h1>เข้าสู่ระบบ</h1>" in page
    finally:
        await fresh.close()


async def test_the_sign_in_page_offers_each_language_before_signing_in(client: Client) -> None:
    # A shared office laptop set to English showed a Burmese reader only English, with no way to change it.
    _, page = await client.get("/login?next=/cases/7", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert '<html lang="en">' in page
    for code, name in UI_LANGUAGES.items():
        assert f'<a href="/login?ui={code}&amp;next=%2Fcases%2F7" lang="{code}"' in page and f">{name}</a>" in page
    _, page = await client.get("/login?ui=my", headers={"Accept-Language": "th"})
    assert '<html lang="my">' in page and "<h1>ဝင်ရောက်ရန်</h1>" in page  # the choice beats the browser's
    assert 'action="/login?ui=my"' in page
    _, page = await client.get("/login?ui=xx", headers={"Accept-Language": "th"})
    assert '<html lang="th">' in page  # an unknown choice: the browser's language
    # A wrong password keeps the chosen language for the error.
    status, page = await client.post("/login?ui=my", {"username": "cw_my", "password": "wrong"})
    assert status in (400, 401, 403) and '<html lang="my">' in page
    assert "အသုံးပြုသူအမည် သို့မဟုတ် စကားဝှက် မမှန်ပါ" in page  # "The username or password is not right"


async def test_a_thai_caseworker_reads_the_case_page_and_dashboard_in_thai(
        client: Client, web_db: Database, web_settings: Settings, users: dict[str, int]) -> None:
    case = await web_db.write(lambda db: insert_reported_case(db, web_settings.data_dir, language="my"))
    await client.login("super")
    status, _ = await client.post("/language", {"ui_language": "th", "back": "/cases"})
    assert status == 200
    status, page = await client.get(f"/cases/{case['case_id']}")
    assert status == 200 and '<html lang="th">' in page
    for thai in (f"เคส #{case['case_id']}",  # "Case #n"
                 "<h2>เกี่ยวกับเคสนี้</h2>",  # "About this case"
                 "<dd>นายจ้างยึดเอกสาร</dd>",  # the category "Documents held by the employer"
                 "<dd>พม่า</dd>",  # the caller's language, Burmese
                 "<h2>ข้อความจากผู้โทร</h2>",  # "Messages from the caller"
                 "เลือกภาษา",  # the timeline step "Chose a language"
                 "กด <strong>1</strong>",  # "pressed 1"
                 "สิ้นสุด: เสร็จสมบูรณ์",  # "Ended: Completed"
                 "ฉบับที่ 1 โดยเครื่อง",  # "version 1, by the machine"
                 "<h2>กิจกรรม</h2>"):  # the activity panel
        assert thai in page, thai
    for english in ("About this case", "Documents held by the employer", "Messages from the caller",
                    "Chose a language", "What happened on the calls", "Add a note"):
        assert english not in page, english
    # The listening controls and recorder, written by the page's scripts, get their words from the page.
    found = re.search(r'<script type="application/json" id="ui-words">(.*?)</script>', page, re.S)
    assert found is not None
    words = json.loads(found.group(1))
    assert words["Play"] == "เล่น" and words["Open case {id}"] == "เปิดเคส {id}"
    status, page = await client.get("/dashboard")
    assert status == 200
    for thai in ("<h1>แดชบอร์ด</h1>", "<h2>สายตอนนี้</h2>", "<h2>สายตามภาษา</h2>", "<h2>เคสที่เปิดอยู่ตามสถานะและอายุ</h2>",
                 "<th>สถานะ</th>", "<td>ใหม่</td>", "แสดงตัวเลข"):
        assert thai in page, thai
    for english in ("Calls now", "Calls by language", "Open cases by status and age", "Show the numbers"):
        assert english not in page, english
    # The CSV keeps English column names, whoever downloads it.
    status, csv_text = await client.get("/dashboard/backlog.csv")
    assert status == 200 and csv_text.startswith("Status,under 1 day")


# -- words that Python builds: refusals, form and filter errors, HTTP errors -------------------------------------

# Where the web UI's Python words live.
SHOWN_FROM = ("ivr/admin", "ivr/supply", "ivr/oncall", "ivr/protection", "ivr/cases", "ivr/prompts")
HTTP_ERRORS = re.compile(r"^HTTP[A-Z]\w*$")


def _shown_error_names() -> set[str]:
    """Every exception class whose message a person reads (ivr.admin.i18n.ShownError and its subclasses)."""
    import importlib
    import pkgutil

    import ivr
    from ivr.words import ShownError

    for package in SHOWN_FROM:
        for info in pkgutil.walk_packages([str(ROOT / package)], package.replace("/", ".") + "."):
            importlib.import_module(info.name)
    assert ivr is not None
    names, todo = set(), [ShownError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return names


def _bare(node: ast.expr) -> bool:
    """Text a person would read that did not come through the catalog: a literal, an f-string, text joined
    with + or %, ``.format()``, or ``str(exc)`` (the English words). A name, ``exc.words``, ``N_()``,
    ``Words()``, ``shown()`` or a table lookup is fine: the words were marked where they were written."""
    if isinstance(node, ast.IfExp):
        return _bare(node.body) or _bare(node.orelse)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value != ""
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return True
    if isinstance(node, ast.Call):
        return (isinstance(node.func, ast.Name) and node.func.id == "str") or \
            (isinstance(node.func, ast.Attribute) and node.func.attr == "format")
    return False


def unmarked_messages(source: str, filename: str, errors: set[str]) -> list[str]:
    """Lines of ``source`` where words shown to a person skip the catalog."""
    found = []
    tree = ast.parse(source)
    # A page's context ({"error": ...}) is built in a function; module-level dicts are label tables
    # (checked by test_words_kept_in_python_tables_are_marked).
    in_functions = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                    for n in ast.walk(f)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and id(node) in in_functions:
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and key.value == "error" and _bare(value):
                    found.append(f"{filename}:{node.lineno}: an error shown without N_()")
        if not isinstance(node, ast.Call):
            continue
        name = node.func.id if isinstance(node.func, ast.Name) else \
            node.func.attr if isinstance(node.func, ast.Attribute) else ""
        checked: list[ast.expr] = []
        if name in errors and node.args:
            checked.append(node.args[0])
        if name == "Words" and node.args:
            checked.append(node.args[0])
        if name == "http_error" and len(node.args) > 1:
            checked.append(node.args[1])
        checked += [k.value for k in node.keywords if k.arg == "error"]
        if HTTP_ERRORS.match(name):
            checked += [k.value for k in node.keywords if k.arg == "text"]
        found += [f"{filename}:{node.lineno}: {name}(…) shows words without N_()" for arg in checked if _bare(arg)]
    return found


def test_words_built_in_python_go_through_the_catalog() -> None:
    """Every refusal, form error, filter error and HTTP error a page shows is marked with N_() (so the
    catalogs have it, by the test above) and translated when shown; none is English text built in place."""
    errors = _shown_error_names()
    assert {"Refused", "FilterError", "UserError", "RegistryError", "RotaError", "CallbackError",
            "ReportRefused", "WeakPassword", "AuditFilterError"} <= errors
    sources = [p for package in SHOWN_FROM for p in (ROOT / package).rglob("*.py")]
    assert len(sources) > 40
    found = [line for p in sources
             for line in unmarked_messages(p.read_text(), str(p.relative_to(ROOT)), errors)]
    assert not found, "\n".join(found)
    # The scan finds each way of leaving words bare, and lets marked ones through.
    bad = '''
def f():
    raise Refused("The note is empty.")
    raise Refused(f"The note is too long ({n}).")
    raise web.HTTPNotFound(text="There is no such thing.")
    raise web.HTTPForbidden(text=str(exc))
    raise http_error(web.HTTPBadRequest, "Choose at most %(n)s days.", n=3)
    return await _page(request, error="You cannot deactivate yourself.")
    return await _page(request, error=str(exc))
    ctx = {"error": "Bad " + what}
    words = Words("Saved {}".format(name))
'''
    assert len(unmarked_messages(bad, "x.py", {"Refused"})) == 9
    good = '''
raise Refused(N_("The note is empty."))
raise Refused(N_("The note is too long (%(n)s)."), n=n)
raise web.HTTPNotFound(text=N_("There is no such thing."))
raise http_error(web.HTTPBadRequest, N_("Choose at most %(n)s days."), n=3)
raise http_error(web.HTTPForbidden, exc.words.text, **exc.words.fields)
return await _page(request, error=exc.words)
return await _page(request, error=Words(N_("You cannot deactivate yourself.")))
ctx = {"error": shown(request, exc) if exc else ""}
words = Words(THINGS.get(what, N_("page")))
OUTCOMES = {"error": "Ended by a system error"}  # a label table, translated through a filter
'''
    assert unmarked_messages(good, "x.py", {"Refused"}) == []


async def _as_thai(client: Client, username: str) -> None:
    status, _ = await client.login(username)
    assert status == 200
    status, _ = await client.post("/language", {"ui_language": "th", "back": "/"})
    assert status == 200


async def test_a_thai_caseworker_reads_refusals_and_errors_in_thai(
        client: Client, web_db: Database, users: dict[str, int]) -> None:
    case_id = await web_db.write(lambda db: insert_case(db, language="my", status="new"))
    await _as_thai(client, "cw_my")
    # A refused status move, on the case page: the statuses are named in Thai too.
    status, page = await client.get(f"/cases/{case_id}")
    assert status == 200
    status, page = await client.post(f"/cases/{case_id}/status", {"status": "closed", "version": "1"})
    assert status == 400
    assert "เคสที่อยู่ในสถานะ “ใหม่” ไม่สามารถเปลี่ยนเป็น “ปิดแล้ว” ได้" in page, page  # "New" -> "Closed"
    assert "cannot move to" not in page
    # An empty note; a form without its hidden fields.
    _, page = await client.get(f"/cases/{case_id}")
    status, page = await client.post(f"/cases/{case_id}/notes", {"body": "  "})
    assert status == 400 and "บันทึกว่างเปล่า" in page and "The note is empty" not in page
    status, page = await client.post(f"/cases/{case_id}/status", {"status": "acknowledged"})
    assert status == 400 and "แบบฟอร์มไม่ครบ" in page and "The form was incomplete" not in page
    # A queue filter that does not parse, on the page and from the live refresh.
    status, page = await client.get("/cases?from=yesterday")
    assert status == 400 and "ตัวกรอง “from” ต้องเป็นวันที่แบบ 2026-01-31 ไม่ใช่ “yesterday”" in page
    status, text = await client.get("/cases/live?emergency=2", headers={"Accept": "application/json"})
    assert status == 400 and text == "ตัวกรอง “emergency” เป็นได้เพียง 1 (เฉพาะเหตุฉุกเฉิน)"
    # HTTP errors with the handler's own words, and the plain defaults.
    status, page = await client.get("/cases/99999")
    assert status == 404 and "ไม่มีเคสหมายเลข 99999" in page
    status, page = await client.get("/cases/abc")
    assert status == 404 and "ไม่มีเคสที่มีหมายเลขนี้" in page  # "There is no case with this number."
    status, page = await client.get("/users")
    assert status == 403 and "หน้านี้สำหรับบัญชีผู้ดูแลระบบ และบัญชีของคุณเป็นบัญชีเจ้าหน้าที่รับเรื่อง" in page
    status, page = await client.get("/no-such-page")
    assert status == 404 and "ไม่มีหน้านี้" in page and "This page does not exist" not in page


async def test_a_burmese_admin_reads_user_form_errors_in_burmese(client: Client, users: dict[str, int]) -> None:
    await client.login("admin")
    status, _ = await client.post("/language", {"ui_language": "my", "back": "/users"})
    assert status == 200
    status, page = await client.post("/users", {"username": "x", "role": "caseworker"})
    assert status == 400 and "အသုံးပြုသူအမည်တွင် စာလုံး၊ ဂဏန်း" in page and "A username has" not in page
    status, page = await client.post("/users", {"username": "cw_my", "role": "caseworker"})
    assert status == 400 and "cw_my ဟုခေါ်သော အသုံးပြုသူ ရှိပြီးသား ဖြစ်သည်။" in page
    status, page = await client.post("/users/admin/deactivate")
    assert status == 400 and "သင့်ကိုယ်ကိုယ် ပိတ်၍ မရပါ။" in page
