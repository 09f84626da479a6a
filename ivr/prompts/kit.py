"""The voice-talent kit: everything a native speaker needs to record one language's prompts.

`ivr prompts kit --lang km --out DIR` (and the download on the prompts page) writes:

- ``km-script.pdf`` and ``km-script.csv``: per key, the English source, the text to read, where in
  the call it plays, the longest it may last, and the exact file name to save it as;
- ``reference/<key>.wav``: the English prompt as callers hear it, to match pace and tone;
- ``km/``: the folder to save the recordings in, which `ivr prompts import DIR --lang km` reads back;
- ``kit.json``: the language and the limits, for the import.

The PDF is printed by headless Chromium with the Noto fonts of every script embedded
(ivr.admin.fonts, as the brand reports are).
"""

from __future__ import annotations

import csv
import html
import json
import math
import wave
from dataclasses import asdict, dataclass
from pathlib import Path

from ivr.flows.check import ENGINE_PROMPTS, prompt_keys
from ivr.flows.model import Flow
from ivr.languages import LANGUAGES
from ivr.prompts.catalog import SOURCE_LANGUAGE, Catalog
from ivr.prompts.convert import PROMPT_MAX_SECONDS
from ivr.prompts.readiness import load_hotline_flow
from ivr.prompts.standins import COUNTING_KEY
from ivr.prompts.store import built_path, built_root, is_playable
from ivr.settings import Settings

KIT_FILE = "kit.json"
# On the staff prompt line (ivr/prompts/line.py) a language is keyed by its place here, a prompt by its
# place in the catalog; the script prints both.
PHONE_LANGUAGES = tuple(LANGUAGES)
SAVE_AS = ".wav"  # any common format is taken back; WAV is what we ask for
# The longest a recording may last: the English prompt's length times this, plus a little, so a slower
# language or speaker fits while a take with a minute of room noise after it does not.
SLOWER = 2.0
SPARE_SECONDS = 2.0
MIN_SECONDS = 4.0
CHARS_PER_SECOND = 12.0  # for a key with no English audio yet: a careful reading pace


@dataclass(frozen=True)
class KitLine:
    key: str
    save_as: str       # e.g. km/greeting.wav
    english: str
    text: str          # what to read, in the kit's language
    where: str         # where in the call it plays
    max_seconds: float
    reviewed: bool     # a native speaker checked the text
    phone: str = ""    # what to key on the staff prompt line: language number, prompt number


def max_seconds(settings: Settings, catalog: Catalog, key: str) -> float:
    """The longest a recording of ``key`` may last, in any language."""
    reference = built_path(built_root(settings), SOURCE_LANGUAGE, key)
    seconds: float | None = None
    if is_playable(reference):
        try:
            with wave.open(str(reference), "rb") as w:
                seconds = w.getnframes() / w.getframerate()
        except (OSError, wave.Error, EOFError):
            seconds = None
    if seconds is None:
        english = catalog.text(key, SOURCE_LANGUAGE)
        seconds = len(english.text) / CHARS_PER_SECOND if english else MIN_SECONDS
    return float(min(PROMPT_MAX_SECONDS, max(MIN_SECONDS, math.ceil(seconds * SLOWER + SPARE_SECONDS))))


def where_it_plays(flow: Flow | None) -> dict[str, str]:
    """key -> a short description of where in the call it plays, from the flow."""
    places: dict[str, list[str]] = {}
    if flow is not None:
        engine = {key: kind for kind, keys in ENGINE_PROMPTS.items() for key in keys}
        for node in flow.nodes.values():
            for key in prompt_keys(node):
                label = "the language menu" if engine.get(key) == "language_menu" else f"step {node.id}"
                if label not in places.setdefault(key, []):
                    places[key].append(label)
        for name in ("invalid_prompt", "no_input_prompt"):
            if name in flow.defaults:
                places.setdefault(str(flow.defaults[name]), []).append("after a wrong key or no answer")
    return {key: ", ".join(labels) for key, labels in places.items()}


def kit_lines(settings: Settings, catalog: Catalog, lang: str) -> list[KitLine]:
    places = where_it_plays(load_hotline_flow(settings))
    lines = []
    lang_no = PHONE_LANGUAGES.index(lang) + 1
    for number, key in enumerate(catalog.keys, start=1):
        english, text = catalog.text(key, SOURCE_LANGUAGE), catalog.text(key, lang)
        where = places.get(key) or ("reading back a case or workplace code" if COUNTING_KEY.match(key)
                                    else "not in the current call flow")
        lines.append(KitLine(
            key=key, save_as=f"{lang}/{key}{SAVE_AS}", english=english.text if english else "",
            text=text.text if text else "", where=where, max_seconds=max_seconds(settings, catalog, key),
            reviewed=bool(text and not text.review), phone=f"{lang_no}# {number}#"))
    return lines


def write_files(settings: Settings, catalog: Catalog, lang: str, out: Path) -> list[KitLine]:
    """Everything but the PDF (which needs Chromium: :func:`script_html` and ivr.supply.pdf)."""
    lines = kit_lines(settings, catalog, lang)
    out.mkdir(parents=True, exist_ok=True)
    (out / lang).mkdir(exist_ok=True)
    with (out / f"{lang}-script.csv").open("w", encoding="utf-8-sig", newline="") as f:   # BOM: Excel reads UTF-8
        writer = csv.writer(f)
        writer.writerow(["key", "save as", "English", LANGUAGES[lang].english, "where it plays", "longest (seconds)",
                         "text checked by a native speaker", "phone line keys"])
        for line in lines:
            writer.writerow([line.key, line.save_as, line.english, line.text, line.where, f"{line.max_seconds:.0f}",
                             "yes" if line.reviewed else "no", line.phone])
    reference = out / "reference"
    reference.mkdir(exist_ok=True)
    for line in lines:
        src = built_path(built_root(settings), SOURCE_LANGUAGE, line.key)
        if is_playable(src):
            (reference / f"{line.key}.wav").write_bytes(src.read_bytes())
    (out / KIT_FILE).write_text(json.dumps({"version": 1, "language": lang, "keys": {
        line.key: asdict(line) for line in lines}}, ensure_ascii=False, indent=1), encoding="utf-8")
    return lines


def script_html(lang: str, lines: list[KitLine], fonts_css: str) -> str:
    """The speaker's script as a printable page (A4, a row per key)."""
    name = LANGUAGES[lang]
    rows = "\n".join(
        f"<tr><td><code>{html.escape(line.save_as)}</code></td>"
        f"<td lang=\"{lang}\" class=\"read\">{html.escape(line.text) or '<em>(no text yet)</em>'}</td>"
        f"<td lang=\"en\">{html.escape(line.english)}</td><td>{html.escape(line.where)}</td>"
        f"<td>{line.max_seconds:.0f} s</td><td>{html.escape(line.phone)}</td></tr>" for line in lines)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{html.escape(name.english)} prompts: script for the speaker</title>
<style>{fonts_css}
body {{ font-family: "Noto Sans", "Noto Sans Khmer", "Noto Sans Lao", "Noto Sans Thai", "Noto Sans Myanmar",
  "Noto Sans Devanagari", "DejaVu Sans", sans-serif; font-size: 10pt; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #999; padding: 4px; vertical-align: top; text-align: left; }}
td.read {{ font-size: 13pt; }}
@page {{ size: A4; margin: 12mm; }}
</style></head><body>
<h1>{html.escape(name.english)} ({html.escape(name.native)}): prompts to record</h1>
<p>Read each text in your own natural voice, in a quiet room, about 20 cm from the microphone. Save each
recording under the exact name in the first column, in the folder <code>{lang}/</code>. Any common audio
format will do (WAV, MP3, M4A, OGG, FLAC). Keep each one shorter than the time given. Listen to the English
reference (<code>reference/&lt;key&gt;.wav</code>) for the pace. A second person who speaks the language
checks every recording before callers hear it.</p>
<p>Or record by phone: from a staff phone dial 1700 (from elsewhere, the prompt line's number and its PIN), then
key the numbers in the last column.</p>
<table><thead><tr><th>Save as</th><th>Read this</th><th>English</th><th>Where it plays</th><th>Longest</th>
<th>Phone line keys</th></tr>
</thead><tbody>
{rows}
</tbody></table></body></html>"""


async def make_kit(settings: Settings, catalog: Catalog, lang: str, out: Path) -> list[KitLine]:
    """The whole kit in ``out``; raises ivr.supply.pdf.PdfError (after writing the rest) when no PDF can be made."""
    import asyncio

    from ivr.admin.fonts import stylesheet
    from ivr.supply.pdf import html_to_pdf

    lines = await asyncio.to_thread(write_files, settings, catalog, lang, out)
    pdf = await html_to_pdf(script_html(lang, lines, stylesheet(files=True)))
    (out / f"{lang}-script.pdf").write_bytes(pdf)
    return lines
