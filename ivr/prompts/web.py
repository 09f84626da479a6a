"""/prompts (admin): coverage per language, playback of each built prompt, upload of a new recording.

An upload goes through the same conversion as `ivr prompts build`; a file that cannot
be used leaves the previous prompt (and its recording) in place and says why.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import IO, Any

from aiohttp import web

from ivr.admin import audit
from ivr.admin.auth import current_user, require_role
from ivr.admin.keys import DATABASE, SETTINGS
from ivr.admin.render import render
from ivr.prompts.build import PromptBuilder, build_languages
from ivr.prompts.catalog import KEY_RE, CatalogError, load_catalog
from ivr.prompts.convert import SUPPORTED, AudioError, AudioInfo
from ivr.prompts.coverage import coverage
from ivr.prompts.store import built_path, built_root, is_playable, load_manifest
from ivr.settings import Settings


def _language(settings: Settings, raw: str | None) -> str:
    return raw if raw in settings.languages else settings.languages[0]


async def _page(request: web.Request, lang: str, *, error: str = "", uploaded: str = "",
                status: int = 200) -> web.Response:
    settings = request.app[SETTINGS]
    try:
        catalog = await asyncio.to_thread(load_catalog, settings.prompts_dir)
    except CatalogError as exc:
        return render(request, "prompts/index.html", {"catalog_error": str(exc)}, status=500)
    rows = await asyncio.to_thread(coverage, settings, catalog)
    manifest = await asyncio.to_thread(load_manifest, built_root(settings))
    selected = next(row for row in rows if row.lang == lang)
    keys: list[dict[str, Any]] = []
    for cell in selected.cells:
        text, english = catalog.text(cell.key, lang), catalog.text(cell.key, "en")
        entry = manifest.get(f"{lang}/{cell.key}", {})
        keys.append({
            "cell": cell,
            "text": text.text if text else "",
            "english": english.text if english else "",
            "version": str(entry.get("hash", ""))[:12],
            "source": entry.get("source", ""),
        })
    ctx = {
        "catalog_error": "", "rows": rows, "lang": lang, "keys": keys, "error": error, "uploaded": uploaded,
        "accept": ",".join(SUPPORTED), "total": len(catalog.keys),
    }
    return render(request, "prompts/index.html", ctx, status=status)


@require_role("admin")
async def prompts_page(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    lang = _language(settings, request.query.get("lang"))
    uploaded = request.query.get("uploaded", "")
    return await _page(request, lang, uploaded=uploaded if KEY_RE.match(uploaded) else "")


def _target(request: web.Request) -> tuple[str, str]:
    settings = request.app[SETTINGS]
    lang, key = request.match_info["lang"], request.match_info["key"]
    if lang not in build_languages(settings) or not KEY_RE.match(key):
        raise web.HTTPNotFound(text="There is no such prompt.")
    return lang, key


@require_role("admin")
async def prompt_audio(request: web.Request) -> web.StreamResponse:
    lang, key = _target(request)
    path = built_path(built_root(request.app[SETTINGS]), lang, key)
    if not is_playable(path):
        raise web.HTTPNotFound(text="This prompt has not been built in this language.")
    # The ?v= in the page's link changes with each build, so the browser may keep a copy.
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, max-age=3600"})


def _replace(settings: Settings, lang: str, key: str, upload: IO[bytes], suffix: str) -> AudioInfo:
    """Spool the upload to a file and install it; in a thread, since `ivr serve` shares its event loop with calls."""
    with tempfile.TemporaryDirectory(prefix="ivr-prompt-upload-") as tmp:
        spooled = Path(tmp) / f"upload{suffix}"
        with spooled.open("wb") as out:
            shutil.copyfileobj(upload, out)
        return PromptBuilder(settings).replace_recording(lang, key, spooled, suffix)


@require_role("admin")
async def upload(request: web.Request) -> web.StreamResponse:
    lang, key = _target(request)
    user = current_user(request)
    settings = request.app[SETTINGS]
    form = await request.post()
    field = form.get("file")
    if not isinstance(field, web.FileField):
        return await _page(request, lang, error=f"{key}: choose a recording to upload first.", status=400)
    suffix = Path(field.filename or "").suffix.lower()
    if suffix not in SUPPORTED:
        kinds = ", ".join(s.lstrip(".") for s in SUPPORTED)
        message = f"{key}: {field.filename or 'the file'} is not a recording format this page takes (use {kinds})."
        return await _page(request, lang, error=message + " The previous prompt is still in place.", status=400)
    try:
        info = await asyncio.to_thread(_replace, settings, lang, key, field.file, suffix)
    except AudioError as exc:
        message = f"The recording was not used: {exc}. The previous prompt is still in place."
        return await _page(request, lang, error=message, status=400)
    await request.app[DATABASE].write(lambda db: audit.record(
        db, user, "prompt.upload", "prompt", f"{lang}/{key}", {"seconds": round(info.duration, 1)}))
    raise web.HTTPSeeOther(f"/prompts?lang={lang}&uploaded={key}#{key}")


def setup(app: web.Application) -> None:
    app.router.add_get("/prompts", prompts_page)
    app.router.add_get("/prompts/{lang}/{key}.wav", prompt_audio)
    app.router.add_post("/prompts/{lang}/{key}", upload)

