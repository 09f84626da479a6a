"""The catalog's words as people edit them in the web UI: every version kept, the newest in use.

The history is the ``prompt_texts`` table (and an audit row per change). What a build and the
pages use is the newest version of each edited text, in ``$IVR_DATA_DIR/prompts/texts.json``
(written atomically), laid over prompts/catalog.yaml by :func:`catalog_for`: a build reads no
database, and the checked-in catalog keeps its comments.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlite_utils

from ivr.db import utcnow
from ivr.prompts.catalog import Catalog, load_catalog
from ivr.prompts.store import built_root, manifest_lock, write_json
from ivr.protection import audit
from ivr.settings import Settings
from ivr.words import N_, ShownError

TEXTS = "texts.json"
MAX_TEXT = 2000


class TextError(ShownError):
    """An edit that cannot be kept: one sentence, shown in the reader's language (``str()`` is the English)."""


def texts_path(settings: Settings) -> Path:
    return built_root(settings) / TEXTS


def catalog_for(settings: Settings) -> Catalog:
    """The catalog with the web UI's edits in place."""
    return load_catalog(settings.prompts_dir, texts_path(settings))


def save_text(db: sqlite_utils.Database, settings: Settings, *, lang: str, key: str, text: str, reviewed: bool,
              user_id: int | None, username: str) -> int:
    """Inside a write transaction: keep a new version of ``key`` in ``lang`` and use it from now on."""
    text = " ".join(text.split())
    if not text:
        raise TextError(N_("%(key)s: the text is empty; nothing was changed."), key=key)
    if len(text) > MAX_TEXT:
        raise TextError(N_("%(key)s: the text is longer than %(n)s characters; nothing was changed."),
                        key=key, n=MAX_TEXT)
    previous = db.execute("select text, reviewed from prompt_texts where lang = ? and key = ? order by id desc "
                          "limit 1", [lang, key]).fetchall()
    version = int(db.execute(
        "insert into prompt_texts (lang, key, text, reviewed, by_id, by_name, at) values (?, ?, ?, ?, ?, ?, ?)",
        [lang, key, text, int(reviewed), user_id, username, utcnow()]).lastrowid or 0)
    audit.append(db, action="prompt.text", user_id=user_id, username=username, object_type="prompt",
                 object_id=f"{lang}/{key}",
                 detail={"version": version, "reviewed": reviewed,
                         "changed": not previous or previous[0][0] != text})
    _write_overlay(settings, f"{key}/{lang}", {"text": text, "reviewed": reviewed, "version": version})
    return version


def history(db: sqlite_utils.Database, lang: str, key: str) -> list[dict[str, Any]]:
    return list(db.query("select * from prompt_texts where lang = ? and key = ? order by id desc", [lang, key]))


def _write_overlay(settings: Settings, name: str, entry: dict[str, Any]) -> None:
    root = built_root(settings)
    with manifest_lock(root):
        path = root / TEXTS
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            data = {}
        found = data.get("texts") if isinstance(data, dict) else None
        texts: dict[str, Any] = found if isinstance(found, dict) else {}
        texts[name] = entry
        write_json(path, {"version": 1, "texts": dict(sorted(texts.items()))})
