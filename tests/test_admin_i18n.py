# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The web UI's catalogs: every marked string of every template is translated; a user's language is used."""

from __future__ import annotations

from pathlib import Path

from admin_helpers import (  # noqa: F401
    Client,
    admin_template,
    client,
    server,
    users,
    web_db,
    web_settings,
)
from babel.messages import pofile
from babel.messages.extract import extract_from_dir

from ivr.admin.i18n import LOCALE_DIR, UI_LANGUAGES, po_path

ROOT = Path(__file__).resolve().parents[1]


def _marked() -> set[str]:
    """What `pybabel extract -F admin/locale/babel.cfg -k N_` finds, run in-process."""
    method_map = [("ivr/**.py", "python"), ("admin/templates/**.html", "jinja2")]
    options = {"admin/templates/**.html": {"trim_blocks": "True", "lstrip_blocks": "True"}}
    found = set()
    for _, _, message, _, _ in extract_from_dir(str(ROOT), method_map, options, keywords={"_": None, "N_": None,
                                                                                       "gettext": None}):
        found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_marked_string_is_in_every_catalog() -> None:
    marked = _marked()
    assert {"Sign in", "Cases", "Times are in %(zone)s.", "Audit log"} <= marked  # templates and Python both
    assert (LOCALE_DIR / "babel.cfg").is_file()
    for language in UI_LANGUAGES:
        if language == "en":
            continue
        with po_path(language).open("rb") as f:
            catalog = pofile.read_po(f, locale=language)
        missing = sorted(m for m in marked if not catalog.get(m) or not catalog.get(m).string)
        assert not missing, f"{language}: not in admin/locale/{language}/LC_MESSAGES/messages.po: {missing[:10]}"
        # A machine draft says so until a person has checked it.
        for message in catalog:
            if message.id and message.fuzzy:
                assert any("machine draft" in c for c in message.auto_comments), message.id


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
