"""The web UI serves its own fonts for the scripts it shows: Myanmar, Khmer, Lao, Thai and Devanagari.

A laptop without these fonts would show boxes for names and transcripts. The WOFF2 files are
Noto Sans from npm's @fontsource packages (web/package.json; scripts/setup.sh installs them),
served from the app itself, never a CDN (and embedded in the PDFs it prints: brand reports, the
voice-talent kit's script). ``/fonts/fonts.css`` holds their @font-face rules,
each limited by unicode-range to its script, so a page downloads only the scripts it shows.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from aiohttp import web

from ivr.admin.auth import public
from ivr.words import N_

log = logging.getLogger(__name__)

FONTSOURCE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "@fontsource"
# package -> its script subset (fontsource's file names)
FAMILIES = {
    "noto-sans-myanmar": "myanmar",
    "noto-sans-khmer": "khmer",
    "noto-sans-lao": "lao",
    "noto-sans-thai": "thai",
    "noto-sans-devanagari": "devanagari",  # Nepali
}
WEIGHTS = (400, 700)
_FILE = re.compile(r"^[a-z0-9-]+\.woff2$")
_URL = re.compile(r"url\(\./files/([a-z0-9-]+\.woff2)\) format\('woff2'\)(, url\([^)]*\) format\('woff'\))?")


def stylesheet(root: Path = FONTSOURCE, *, files: bool = False) -> str:
    """The @font-face rules for every installed family, pointing at /fonts/… (or, with ``files``, at the
    files themselves, for a page Chromium prints to PDF from disk); empty when none is installed."""
    rules: list[str] = []
    for package, subset in FAMILIES.items():
        for weight in WEIGHTS:
            rule = _script_rule(root / package / f"{weight}.css", f"{package}-{subset}-{weight}-normal")
            if rule is None:
                continue
            def url(m: re.Match[str], p: str = package) -> str:
                where = (root / p / "files" / m.group(1)).as_uri() if files else f"/fonts/{p}/{m.group(1)}"
                return f"url({where}) format('woff2')"

            rules.append(_URL.sub(url, rule))
    return "\n".join(rules)


def _script_rule(css: Path, name: str) -> str | None:
    """The @font-face rule of one script subset from fontsource's ``<weight>.css``, with its
    unicode-range (the per-subset files leave it out: a face without one claims every character,
    so each page fetched every script's font and a browser could draw Latin or Burmese with the
    wrong face, showing boxes until it re-laid the text)."""
    if not css.is_file():
        return None
    for block in css.read_text(encoding="utf-8").split("/* ")[1:]:
        if block.startswith(name + " */") and "unicode-range" in block:
            return "/* " + block.strip()
    return None


@public
async def font_file(request: web.Request) -> web.StreamResponse:
    package, name = request.match_info["package"], request.match_info["file"]
    path = FONTSOURCE / package / "files" / name
    if package not in FAMILIES or not _FILE.match(name) or not path.is_file():
        raise web.HTTPNotFound(text=N_("There is no such font."))
    return web.FileResponse(path, headers={"Content-Type": "font/woff2", "Cache-Control": "public, max-age=604800"})


def setup(app: web.Application) -> None:
    css = stylesheet()
    if not css:
        log.warning("the web UI's fonts are not installed (run scripts/setup.sh): pages use the system's fonts")

    @public
    async def fonts_css(request: web.Request) -> web.StreamResponse:
        return web.Response(text=css, content_type="text/css", headers={"Cache-Control": "public, max-age=3600"})

    app.router.add_get("/fonts/fonts.css", fonts_css)
    app.router.add_get("/fonts/{package}/{file}", font_file)
