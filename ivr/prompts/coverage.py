"""What a caller hears for each prompt in each enabled language: recorded (and approved), placeholder,
an unreviewed file (put in place by hand: ivr/prompts/provenance.py), or missing.

Shared by `ivr prompts status`, `ivr check` and the web UI's prompts page.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ivr.prompts.build import FAILED, FAILED_WORDS, PLACEHOLDER, RECORDED
from ivr.prompts.catalog import Catalog
from ivr.prompts.provenance import approved_contents, built_intact, file_sha256
from ivr.prompts.sources import find_sources, recording_digest, stat_signature
from ivr.prompts.standins import chain, stand_ins
from ivr.prompts.store import built_path, built_root, entry_name, is_playable, load_manifest
from ivr.settings import Settings
from ivr.words import Words, words_from_data

MISSING = "missing"
UNREVIEWED = "unreviewed"   # plays, but nobody approved it: a recording or built file placed by hand


@dataclass(frozen=True)
class Cell:
    lang: str
    key: str
    state: str  # RECORDED (approved), PLACEHOLDER, UNREVIEWED or MISSING (no audio of its own in this language)
    plays: str | None  # the language whose audio a caller hears; None: nothing at all
    stand_in: bool  # a caller hears the stand-in language an admin chose (its audio, or its voice)
    review: bool  # the catalog text is a machine draft (or absent)
    stale: bool  # the recording changed (or appeared) since the last build
    error: str | None  # why the last build of this prompt failed (English: the command line)
    path: Path | None  # the built file, when there is one
    # The same reason as words to translate (ivr.words); None from a manifest written before they were kept.
    error_words: Words | None = None


@dataclass
class LanguageCoverage:
    lang: str
    recorded: int = 0   # approved human recordings
    placeholder: int = 0
    unreviewed: int = 0
    missing: int = 0
    stand_in: int = 0
    review: int = 0
    stale: int = 0
    errors: int = 0
    silent: int = 0  # keys with no audio in this language or any fallback
    cells: list[Cell] = field(default_factory=list)


def coverage(settings: Settings, catalog: Catalog, languages: tuple[str, ...] | None = None) -> list[LanguageCoverage]:
    root = built_root(settings)
    manifest = load_manifest(root)
    out = []
    standing = stand_ins(settings)
    approved = approved_contents(settings)
    for lang in languages or settings.languages:
        sources = find_sources(settings.prompts_dir, lang).by_key
        row = LanguageCoverage(lang)
        for key in catalog.keys:
            entry = manifest.get(entry_name(lang, key), {})
            cell = _cell(root, lang, key, entry, sources.get(key), catalog, standing,
                         approved.get((lang, key), set()))
            row.cells.append(cell)
            row.recorded += cell.state == RECORDED
            row.placeholder += cell.state == PLACEHOLDER
            row.unreviewed += cell.state == UNREVIEWED
            row.missing += cell.state == MISSING
            row.stand_in += cell.stand_in
            row.review += cell.review
            row.stale += cell.stale
            row.errors += cell.error is not None
            row.silent += cell.plays is None
        out.append(row)
    return out


def _cell(root: Path, lang: str, key: str, entry: dict[str, Any], source: Path | None, catalog: Catalog,
          standing: dict[str, str], approved: set[str]) -> Cell:
    path = built_path(root, lang, key)
    text = catalog.text(key, lang)
    review = text is None or text.review
    if is_playable(path):
        state = str(entry.get("kind") or UNREVIEWED)   # no build wrote it: it was copied there by hand
        if not built_intact(path, entry):
            state = UNREVIEWED   # copied over what the build wrote
        elif state == RECORDED and (source is None or file_sha256(source) not in approved):
            state = UNREVIEWED   # a recording nobody approved (or no longer the approved one)
        plays: str | None = lang
    else:
        state, plays = MISSING, next(
            (code for code in chain(lang, key, standing)[1:] if is_playable(built_path(root, code, key))), None
        )
    stand_in = bool(entry.get("stand_in")) if plays == lang else (plays is not None and plays == standing.get(lang))
    if source is not None:
        # The prompts page and `ivr check` look at every key in every language: only a recording whose
        # size or time changed is read and hashed again.
        digest = recording_digest(source, stat_signature(source), entry)
        stale = entry.get("kind") != RECORDED or entry.get("hash") != digest
    else:
        stale = entry.get("kind") == RECORDED   # built from a recording that is gone
    error = entry.get(FAILED)
    return Cell(lang, key, state, plays, stand_in, review, stale, None if error is None else str(error),
                path if plays == lang else None,
                words_from_data(entry.get(FAILED_WORDS)) if error is not None else None)
