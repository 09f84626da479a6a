"""/prompts (admin): what callers hear per language, drafts to review, texts to edit, new recordings.

The list (/prompts?lang=) is one short row per key, made to be scanned on a phone: the text, its state
and a play button. Everything done to one key (record, upload, approve or reject, edit its text, its
history) is on that key's own page, /prompts/<lang>/<key>.

A recording sent here (a file, or one made with the microphone on the page) goes through the same
conversion as `ivr prompts build` and becomes a draft (ivr/prompts/review.py): callers keep hearing
the current prompt until a second person who has the language approves it. A file that cannot be
used is refused and nothing changes.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.admin.auth import current_user, require_role
from ivr.admin.i18n import http_error
from ivr.admin.keys import DATABASE, SETTINGS, User
from ivr.admin.params import parse_int, path_id
from ivr.admin.render import render, shown, translator
from ivr.languages import LANGUAGES, language_words
from ivr.prompts.catalog import KEY_RE, Catalog, CatalogError
from ivr.prompts.convert import SUPPORTED, AudioError
from ivr.prompts.coverage import Cell, coverage
from ivr.prompts.kit import make_kit, max_seconds
from ivr.prompts.readiness import load_hotline_flow, readiness
from ivr.prompts.review import DRAFT, Person, PromptReview, ReviewError, check_reviewer, listen_path
from ivr.prompts.standins import StandInError, set_stand_in, stand_ins
from ivr.prompts.store import built_path, built_root, is_playable, load_manifest
from ivr.prompts.texts import TextError, catalog_for, save_text
from ivr.settings import Settings
from ivr.supply.pdf import PdfError
from ivr.words import N_, Words

PAGE_SIZE = 20
HISTORY_SHOWN = 10   # earlier versions of a text shown on the page (all are kept)
STATUSES = {
    "": N_("Any"),
    "recorded": N_("Recorded"),
    "placeholder": N_("Placeholder"),
    "missing": N_("Missing"),
    "unreviewed": N_("Unreviewed file"),
    "draft": N_("Has a draft to review"),
}
# Short notices after a redirect (?done=...): the page never echoes text from the address bar.
DONE = {
    "submitted": N_("The recording is kept as a draft. Callers hear it once a second person with this language "
                    "approves it."),
    "approved": N_("Approved. Callers hear the new recording from their next call."),
    "rejected": N_("The draft was rejected. Callers still hear the previous prompt."),
    "approved_next": N_("Approved. Callers hear the new recording from their next call. Here is the next draft "
                        "waiting for you."),
    "rejected_next": N_("The draft was rejected. Callers still hear the previous prompt. Here is the next draft "
                        "waiting for you."),
    "text": N_("The text was saved. Run `ivr prompts build` (or restart the hotline) to rebuild its placeholder."),
    "standin": N_("The stand-in was changed. Run `ivr prompts build` (or restart the hotline) to rebuild the "
                  "language menu's entry."),
}


def _language(settings: Settings, raw: str | None) -> str:
    """The language shown: any the hotline knows, offered or still being recorded."""
    return raw if raw in LANGUAGES else settings.languages[0]


def person(user: User) -> Person:
    return Person(user.id, user.username, user.role, user.languages)


def _page_number(raw: str | None) -> int:
    return parse_int(raw, low=1, high=9_999) or 1


def _kept(values: Mapping[str, Any]) -> dict[str, str]:
    """The list's filter and page (from an address or a form), carried through a key's own page so that
    going back, or approving there, returns to the same rows of the list."""
    kept = {}
    status = str(values.get("status") or "")
    if status in STATUSES and status:
        kept["status"] = status
    if values.get("review") == "1":
        kept["review"] = "1"
    page = _page_number(str(values.get("page") or ""))
    if page > 1:
        kept["page"] = str(page)
    return kept


def _and(kept: dict[str, str]) -> str:
    return "&" + urlencode(kept) if kept else ""


async def _drafts(request: web.Request, lang: str, key: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """The drafts waiting for review in ``lang`` (of one key, or all), by key, each saying whether the
    signed-in user may approve it, and if not why."""
    where, args = ("and key = ?", [key]) if key else ("", [])
    pending = await request.app[DATABASE].query(
        f"select * from prompt_recordings where lang = ? and state = ? {where} order by id", [lang, DRAFT, *args])
    by_key: dict[str, list[dict[str, Any]]] = {}
    who = person(current_user(request))
    for row in pending:
        try:
            check_reviewer(row, who)
            row["may_review"], row["why_not"] = True, ""
        except ReviewError as exc:
            row["may_review"], row["why_not"] = False, shown(request, exc)
        by_key.setdefault(str(row["key"]), []).append(row)
    return by_key


def _item(catalog: Catalog, lang: str, cell: Cell, manifest: dict[str, Any],
          drafts: list[dict[str, Any]]) -> dict[str, Any]:
    """What the list and a key's own page show of one key: its words, what plays now, its drafts."""
    text, english = catalog.text(cell.key, lang), catalog.text(cell.key, "en")
    entry = manifest.get(f"{lang}/{cell.key}", {})
    playing = manifest.get(f"{cell.plays}/{cell.key}", {})   # a stand-in's audio, where it has none of its own
    return {
        "cell": cell,
        "text": text.text if text else "",
        "english": english.text if english else "",
        "version": str(playing.get("hash", ""))[:12],
        "source": entry.get("source", ""),
        "drafts": drafts,
    }


async def _page(request: web.Request, lang: str, *, error: Words | None = None, status: int = 200) -> web.Response:
    """The list: readiness per language, then one compact row per key (its tools are on the key's own page)."""
    settings = request.app[SETTINGS]
    try:
        catalog = await asyncio.to_thread(catalog_for, settings)
    except CatalogError as exc:
        return render(request, "prompts/index.html", {"catalog_error": str(exc)}, status=500)
    listed = settings.languages if lang in settings.languages else (*settings.languages, lang)
    rows = await asyncio.to_thread(coverage, settings, catalog, listed)
    flow = await asyncio.to_thread(load_hotline_flow, settings)
    ready = {r.lang: r for r in readiness(settings, flow, rows)} if flow is not None else {}
    manifest = await asyncio.to_thread(load_manifest, built_root(settings))
    drafts_by_key = await _drafts(request, lang)
    draft_counts = {}
    for code in listed:
        found = await request.app[DATABASE].query_one(
            "select count(*) as n from prompt_recordings where lang = ? and state = ?", [code, DRAFT])
        draft_counts[code] = int(found["n"]) if found else 0

    wanted = request.query.get("status", "")
    wanted = wanted if wanted in STATUSES else ""
    needs_review = request.query.get("review") == "1"
    selected = next(row for row in rows if row.lang == lang)
    keys = [_item(catalog, lang, cell, manifest, drafts_by_key.get(cell.key, []))
            for cell in selected.cells if _matches(cell, wanted, needs_review, drafts_by_key)]
    pages = max(1, -(-len(keys) // PAGE_SIZE))
    page = min(_page_number(request.query.get("page")), pages)
    query = {"lang": lang, "status": wanted, "review": "1" if needs_review else ""}
    ctx = {
        "catalog_error": "", "rows": rows, "lang": lang, "keys": keys[(page - 1) * PAGE_SIZE:page * PAGE_SIZE],
        "kept": urlencode(_kept({**query, "page": str(page)})),
        "matching": len(keys), "page": page, "pages": pages, "query": query, "statuses": STATUSES,
        "status": wanted, "needs_review": needs_review, "error": shown(request, error) if error else "",
        "total": len(catalog.keys), "drafts": draft_counts, "ready": ready,
        "stand_in": stand_ins(settings).get(lang), "stand_in_choices": [
            code for code in LANGUAGES if code != lang and code not in stand_ins(settings)],
        "languages": list(LANGUAGES), "offered": settings.languages,
        "notice": _notice(request),
    }
    return render(request, "prompts/index.html", ctx, status=status)


def _matches(cell: Cell, status: str, needs_review: bool, drafts_by_key: Mapping[str, object]) -> bool:
    """Whether the list, filtered by ``status`` and "text needs review", shows ``cell``."""
    if status == "draft" and cell.key not in drafts_by_key:
        return False
    if status and status != "draft" and cell.state != status:
        return False
    return not (needs_review and not cell.review)


def _neighbours(lang: str, cells: list[Cell], key: str, kept: dict[str, str],
                drafts_by_key: Mapping[str, object]) -> dict[str, dict[str, str] | None]:
    """The keys before and after ``key`` among those the list shows with the same filter, so a reviewer
    goes through the drafts (or the missing prompts) one after another on a phone. Each link keeps the
    filter, with the list's page that holds that neighbour (so "back" from there returns to its row).
    ``key`` itself may no longer match (its draft was just rejected, say): its neighbours are then the
    matching keys on either side of its place in the catalog."""
    status, needs_review = kept.get("status", ""), kept.get("review") == "1"
    here = next(i for i, cell in enumerate(cells) if cell.key == key)
    matching = [(i, cell.key) for i, cell in enumerate(cells) if _matches(cell, status, needs_review, drafts_by_key)]
    before = [(n, k) for n, (i, k) in enumerate(matching) if i < here]
    after = [(n, k) for n, (i, k) in enumerate(matching) if i > here]

    def link(found: tuple[int, str]) -> dict[str, str]:
        position, neighbour = found
        page = position // PAGE_SIZE + 1
        query = {k: v for k, v in kept.items() if k != "page"} | ({"page": str(page)} if page > 1 else {})
        return {"key": neighbour, "href": f"/prompts/{lang}/{neighbour}" + (f"?{urlencode(query)}" if query else "")}

    return {"previous": link(before[-1]) if before else None, "next": link(after[0]) if after else None}


async def _key_page(request: web.Request, lang: str, key: str, *, error: Words | None = None,
                    status: int = 200) -> web.Response:
    """One key's own page: the text to read, what plays now, its drafts to review, the recorder and the
    upload form, and its text with history. The list links here, so it stays one short row per key."""
    settings = request.app[SETTINGS]
    try:
        catalog = await asyncio.to_thread(catalog_for, settings)
    except CatalogError as exc:
        return render(request, "prompts/key.html", {"catalog_error": str(exc), "error": error, "lang": lang,
                                                    "key": key, "back": f"/prompts?lang={lang}", "kept": {}},
                      status=500)
    if key not in catalog.keys:
        raise http_error(web.HTTPNotFound, N_("There is no such prompt."))
    [row] = await asyncio.to_thread(coverage, settings, catalog, (lang,))
    cell = next(c for c in row.cells if c.key == key)
    manifest = await asyncio.to_thread(load_manifest, built_root(settings))
    drafts_by_key = await _drafts(request, lang)
    drafts = drafts_by_key.get(key, [])
    history = await request.app[DATABASE].query(
        "select key, text, reviewed, by_name, at from prompt_texts where lang = ? and key = ? order by id desc "
        "limit ?", [lang, key, HISTORY_SHOWN])
    # After a refused form this page is shown again: the list's filter came with the form.
    kept = _kept(request.query if request.method == "GET" else await request.post())
    ctx = {
        "catalog_error": "", "lang": lang, "key": key, "item": _item(catalog, lang, cell, manifest, drafts),
        "history": history, "accept": ",".join(SUPPORTED), "offered": settings.languages,
        "kept": kept, "back": f"/prompts?lang={lang}{_and(kept)}#{key}",
        **_neighbours(lang, list(row.cells), key, kept, drafts_by_key),
        "error": shown(request, error) if error else "", "notice": _notice(request),
    }
    return render(request, "prompts/key.html", ctx, status=status)


def _notice(request: web.Request) -> str:
    """The short notice after a redirect, in the user's language (base.html shows it)."""
    done = DONE.get(request.query.get("done", ""))
    return translator(request)(done) if done else ""


def _back(lang: str, key: str, done: str, kept: dict[str, str]) -> web.HTTPSeeOther:
    """Back to the list, at the key's row (after a review: the reviewer goes on down the list)."""
    return web.HTTPSeeOther(f"/prompts?lang={lang}{_and(kept)}&done={done}#{key}")


def _to_key(lang: str, key: str, done: str, kept: dict[str, str]) -> web.HTTPSeeOther:
    """Back to the key's own page (after a new take or a text: its draft or version shows there)."""
    return web.HTTPSeeOther(f"/prompts/{lang}/{key}?done={done}{_and(kept)}")


@require_role("admin")
async def prompts_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    return await _page(request, _language(settings, request.query.get("lang")))


@require_role("admin")
async def prompt_page(request: web.Request) -> web.StreamResponse:
    lang, key = _target(request)
    return await _key_page(request, lang, key)


def _target(request: web.Request) -> tuple[str, str]:
    lang, key = request.match_info["lang"], request.match_info["key"]
    if lang not in LANGUAGES or not KEY_RE.match(key):
        raise web.HTTPNotFound(text=N_("There is no such prompt."))
    return lang, key


@require_role("admin")
async def prompt_audio(request: web.Request) -> web.StreamResponse:
    lang, key = _target(request)
    path = built_path(built_root(request.app[SETTINGS]), lang, key)
    if not is_playable(path):
        raise web.HTTPNotFound(text=N_("This prompt has not been built in this language."))
    # The ?v= in the page's link changes with each build, so the browser may keep a copy.
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, max-age=3600"})


@require_role("admin")
async def draft_audio(request: web.Request) -> web.StreamResponse:
    row = await request.app[DATABASE].query_one("select * from prompt_recordings where id = ?",
                                                [path_id(request, what="recording")])
    path = listen_path(request.app[SETTINGS], row) if row else None
    if path is None or not is_playable(path):
        raise web.HTTPNotFound(text=N_("There is no such recording."))
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, no-store"})


def _spool(upload: IO[bytes], into: Path) -> Path:
    with into.open("wb") as out:
        shutil.copyfileobj(upload, out)
    return into


@require_role("admin")
async def upload(request: web.Request) -> web.StreamResponse:
    """A file or a microphone take (field ``via=web``): kept as a draft, or refused with the reason."""
    lang, key = _target(request)
    settings = request.app[SETTINGS]
    form = await request.post()
    field = form.get("file")
    wants_json = form.get("via") == "web"
    try:
        catalog = await asyncio.to_thread(catalog_for, settings)
    except CatalogError as exc:
        return await _refuse(request, lang, key, Words(N_("The prompt catalog cannot be read: %(why)s"), why=str(exc)),
                             wants_json)
    if key not in catalog.prompts:
        # Refused before the file is even looked at: a draft of a key no flow plays could never be heard, and
        # the key's own page, where a refusal is usually shown, does not exist.
        unknown = Words(N_("There is no prompt “%(key)s” in the catalog, so the recording was not kept. Choose the "
                           "prompt from the list."), key=key)
        if wants_json:
            return web.json_response({"ok": False, "error": shown(request, unknown)}, status=404)
        return await _page(request, lang, error=unknown, status=404)
    if not isinstance(field, web.FileField):
        return await _refuse(request, lang, key, Words(N_("%(key)s: choose a recording to upload first."), key=key),
                             wants_json)
    suffix = Path(field.filename or "").suffix.lower()
    if suffix not in SUPPORTED:
        kinds = ", ".join(s.lstrip(".") for s in SUPPORTED)
        message = Words(N_("%(key)s: %(file)s is not a recording format this page takes (use %(kinds)s). The "
                           "previous prompt is still in place."),
                        key=key, file=field.filename or Words(N_("the file")), kinds=kinds)
        return await _refuse(request, lang, key, message, wants_json)
    review = PromptReview(settings, request.app[DATABASE])
    limit = max_seconds(settings, catalog, key)
    with tempfile.TemporaryDirectory(prefix="ivr-prompt-upload-") as tmp:
        spooled = await asyncio.to_thread(_spool, field.file, Path(tmp) / f"upload{suffix}")
        try:
            rec_id = await review.submit(lang, key, spooled, person(current_user(request)),
                                         "web" if wants_json else "upload", limit)
        except AudioError as exc:
            message = Words(N_("The recording was not used: %(why)s. The previous prompt is still in place."),
                            why=exc.words)
            return await _refuse(request, lang, key, message, wants_json)
    if wants_json:
        return web.json_response({"ok": True, "recording": rec_id,
                                  "message": translator(request)(DONE["submitted"])})
    raise _to_key(lang, key, "submitted", _kept(form))


async def _refuse(request: web.Request, lang: str, key: str, message: Words, wants_json: bool) -> web.Response:
    if wants_json:
        return web.json_response({"ok": False, "error": shown(request, message)}, status=400)
    return await _key_page(request, lang, key, error=message, status=400)


@require_role("admin")
async def review_draft(request: web.Request) -> web.StreamResponse:
    rec_id = path_id(request, what="recording")
    decision = request.match_info["decision"]
    form = await request.post()
    review = PromptReview(request.app[SETTINGS], request.app[DATABASE])
    who = person(current_user(request))
    row = await request.app[DATABASE].query_one("select lang, key from prompt_recordings where id = ?", [rec_id])
    if row is None:
        raise web.HTTPNotFound(text=N_("There is no such recording."))
    try:
        if decision == "approve":
            await review.approve(rec_id, who)
        else:
            await review.reject(rec_id, who, str(form.get("reason") or ""))
    except ReviewError as exc:
        return await _key_page(request, str(row["lang"]), str(row["key"]), error=Words(
            N_("%(key)s: %(why)s"), key=row["key"], why=exc.words), status=403)
    except AudioError as exc:   # the kept file no longer converts
        return await _key_page(request, str(row["lang"]), str(row["key"]), error=Words(
            N_("%(key)s: the recording was not used: %(why)s."), key=row["key"], why=exc.words), status=400)
    except CatalogError:   # approving checks the key against it; the page says what is wrong with it
        return await _key_page(request, str(row["lang"]), str(row["key"]), error=Words(
            N_("Nothing was decided: the draft is kept, and callers still hear the recording they heard before.")))
    raise await _after_review(request, str(row["lang"]), str(row["key"]),
                              "approved" if decision == "approve" else "rejected", _kept(form))


async def _after_review(request: web.Request, lang: str, key: str, done: str,
                        kept: dict[str, str]) -> web.HTTPSeeOther:
    """Where a reviewer goes after a decision: on to the next draft they may decide on, so going through
    thirty drafts on a phone is one tap each, not a return to the list between them. That is this key
    again while it has another, then the next such key in the catalog's order (round to the start), with
    the list's filter kept; the list itself, at this key's row, once none is left."""
    waiting = {k for k, rows in (await _drafts(request, lang)).items() if any(r["may_review"] for r in rows)}
    try:
        order = (await asyncio.to_thread(catalog_for, request.app[SETTINGS])).keys if waiting else []
    except CatalogError:   # the list says what is wrong with it
        order = []
    here = order.index(key) if key in order else -1
    upcoming = next((k for k in order[here + 1:] + order[:here + 1] if k in waiting), None)
    if upcoming is None:
        return _back(lang, key, done, kept)
    # The list's page number belonged to the key just decided; its neighbour may sit on another.
    return _to_key(lang, upcoming, f"{done}_next", {k: v for k, v in kept.items() if k != "page"})


@require_role("admin")
async def edit_text(request: web.Request) -> web.StreamResponse:
    lang, key = _target(request)
    settings = request.app[SETTINGS]
    form = await request.post()
    user = current_user(request)
    if not user.speaks(lang):
        return await _key_page(request, lang, key, error=Words(
            N_("%(key)s: only someone who has %(language)s may change its text."), key=key,
            language=language_words(lang)), status=403)
    text, reviewed = str(form.get("text") or ""), form.get("reviewed") == "1"
    try:
        await request.app[DATABASE].write(lambda db: save_text(
            db, settings, lang=lang, key=key, text=text, reviewed=reviewed, user_id=user.id,
            username=user.username))
    except TextError as exc:
        return await _key_page(request, lang, key, error=exc.words, status=400)
    raise _to_key(lang, key, "text", _kept(form))


def _language_in_path(request: web.Request) -> str:
    """The language code in the address; one the hotline does not know is a 404."""
    lang = request.match_info["lang"]
    if lang not in LANGUAGES:
        raise http_error(web.HTTPNotFound, N_("There is no language “%(code)s”."), code=lang)
    return lang


@require_role("admin")
async def change_stand_in(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    lang = _language_in_path(request)
    form = await request.post()
    other = str(form.get("stand_in") or "") or None
    user = current_user(request)
    try:
        await request.app[DATABASE].write(lambda db: set_stand_in(
            db, settings, lang, other, user_id=user.id, username=user.username))
    except StandInError as exc:
        return await _page(request, lang, error=exc.words, status=400)
    raise web.HTTPSeeOther(f"/prompts?lang={lang}&done=standin")


@require_role("admin")
async def download_kit(request: web.Request) -> web.StreamResponse:
    """The voice-talent kit of one language as a zip (ivr/prompts/kit.py)."""
    settings = request.app[SETTINGS]
    lang = _language_in_path(request)
    catalog = await asyncio.to_thread(catalog_for, settings)
    with tempfile.TemporaryDirectory(prefix="ivr-kit-") as tmp:
        folder = Path(tmp) / f"{lang}-kit"
        try:
            await make_kit(settings, catalog, lang, folder)
        except PdfError as exc:
            return await _page(request, lang, error=Words(N_("The kit could not be made: %(why)s."), why=str(exc)),
                               status=500)
        data = await asyncio.to_thread(_zip, folder)
    return web.Response(body=data, headers={
        "Content-Type": "application/zip", "Cache-Control": "no-store",
        "Content-Disposition": f'attachment; filename="{lang}-voice-kit.zip"'})


def _zip(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder.parent).as_posix())
            elif path.is_dir() and not any(path.iterdir()):
                archive.writestr(path.relative_to(folder.parent).as_posix() + "/", b"")   # the empty km/ folder
    return buffer.getvalue()


def setup(app: web.Application) -> None:
    app.router.add_get("/prompts", prompts_page)
    app.router.add_get("/prompts/drafts/{id:\\d+}.wav", draft_audio)
    app.router.add_get("/prompts/kit/{lang}.zip", download_kit)
    app.router.add_post("/prompts/drafts/{id:\\d+}/{decision:approve|reject}", review_draft)
    app.router.add_get("/prompts/{lang}/{key}.wav", prompt_audio)
    app.router.add_get("/prompts/{lang}/{key}", prompt_page)
    app.router.add_post("/prompts/{lang}/{key}/text", edit_text)
    app.router.add_post("/prompts/{lang}/stand-in", change_stand_in)
    app.router.add_post("/prompts/{lang}/{key}", upload)
