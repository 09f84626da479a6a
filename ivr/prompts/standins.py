"""Stand-ins: "Khmer plays Thai" is a choice an administrator makes per language, never a default.

A language with a stand-in plays the stand-in language's prompt for a key it has no audio of
its own for (and the catalog's ``stand_in`` text, e.g. "For Khmer, press" said in Thai, for the
language menu). Without one, a key with no audio in the caller's language plays nothing of
another language's words: the resolver falls to English only as a last resort, logs it, and
`ivr check` fails for that language. Digits are the exception: they follow the caller's fallback
chain (ivr.languages) until they are recorded, and `ivr check` says so.

The choice lives in ``$IVR_DATA_DIR/prompts/languages.json`` (read by the engine, the build and
the checks without a database) and every change is a row in the audit log, written in the same
transaction by :func:`set_stand_in` (`ivr prompts stand-in`, or the prompts page).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import sqlite_utils

from ivr.languages import LANGUAGES, fallback_chain, language_words
from ivr.prompts.store import built_root, manifest_lock, write_json
from ivr.protection import audit
from ivr.settings import Settings
from ivr.words import N_, ShownError

LANGUAGES_FILE = "languages.json"
# Keys read one digit or one small number at a time: they follow the fallback chain until recorded.
COUNTING_KEY = re.compile(r"^(digit_[0-9]|number_[0-9]+)$")


class StandInError(ShownError):
    """A stand-in that cannot be set: one sentence, shown in the reader's language (``str()`` is the English,
    for `ivr prompts stand-in`)."""


def languages_path(settings: Settings) -> Path:
    return built_root(settings) / LANGUAGES_FILE


def stand_ins(settings: Settings) -> dict[str, str]:
    """lang -> the language whose prompts play in its place, for every language that has one."""
    return read_stand_ins(languages_path(settings))


def read_stand_ins(path: Path) -> dict[str, str]:
    return {str(lang): str(entry["stand_in"]) for lang, entry in _read(path).items()
            if isinstance(entry, dict) and entry.get("stand_in") in LANGUAGES and lang in LANGUAGES}


def chain(lang: str, key: str, standing: dict[str, str]) -> list[str]:
    """The languages whose audio may play for ``key`` to a caller in ``lang``, in order (English last)."""
    if COUNTING_KEY.match(key):
        return fallback_chain(lang)
    out = [lang]
    other = standing.get(lang)
    if other and other not in out:
        out.append(other)
    if "en" not in out:
        out.append("en")
    return out


def set_stand_in(db: sqlite_utils.Database, settings: Settings, lang: str, other: str | None, *,
                 user_id: int | None, username: str) -> bool:
    """Inside a write transaction: make ``other`` (None: nobody) stand in for ``lang``. True if it changed."""
    if lang not in LANGUAGES:
        raise StandInError(N_("Unknown language code “%(code)s”."), code=lang)
    if other is not None and (other not in LANGUAGES or other == lang):
        raise StandInError(N_("“%(other)s” cannot stand in for %(language)s."), other=other,
                           language=language_words(lang))
    if other is not None and stand_ins(settings).get(other):
        raise StandInError(N_("%(other)s itself plays %(plays)s; choose a language with its own prompts."),
                           other=language_words(other), plays=language_words(stand_ins(settings)[other]))
    path = languages_path(settings)
    with manifest_lock(path.parent):
        data = _read(path)
        entry = data.setdefault(lang, {})
        before = entry.get("stand_in")
        if before == other:
            return False
        if other is None:
            entry.pop("stand_in", None)
        else:
            entry["stand_in"] = other
        audit.append(db, action="prompt.stand_in", user_id=user_id, username=username, object_type="language",
                     object_id=lang, detail={"from": before, "to": other})
        write_json(path, {"version": 1, "languages": dict(sorted(data.items()))})
    return True


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError, UnicodeDecodeError):
        return {}
    languages = data.get("languages") if isinstance(data, dict) else None
    return languages if isinstance(languages, dict) else {}
