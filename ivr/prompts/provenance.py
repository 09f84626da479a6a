"""Whether prompt audio on disk is what people approved, or a file someone put there by hand.

Four eyes (ivr/prompts/review.py) holds only if callers' prompts come through it. A recording
copied by hand into ``prompts/<lang>/`` (IVR_PROMPTS_DIR), or a file copied over a built prompt in
``$IVR_DATA_DIR/prompts/<lang>/``, never passed a second person. Such a file still plays, so an
upgrade or a careless copy never silences a language that callers use, but it is reported as an
**unreviewed file** (ivr/prompts/coverage.py) and does not count towards a language being ready
(`ivr check` names it). ``ivr prompts import`` makes such files drafts that a second person approves.

A source recording is approved when its bytes are those of an approved draft (``sha256`` on its row). A built file is
intact when its bytes are those the build wrote (``sha256`` in its manifest entry; entries written
before that was recorded are trusted). Hashes are kept per file size and time, so a page that
looks at every prompt reads only files that changed.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from ivr.settings import Settings

DRAFTS = "prompt-drafts"
_HASHES: dict[Path, tuple[int, int, str]] = {}


def drafts_root(settings: Settings) -> Path:
    return (settings.data_dir / DRAFTS).resolve()


def file_sha256(path: Path) -> str | None:
    """The file's SHA-256 (hex), read again only when its size or time changed; None when it cannot be read."""
    try:
        st = path.stat()
        known = _HASHES.get(path)
        if known is not None and known[:2] == (st.st_size, st.st_mtime_ns):
            return known[2]
        digest = hashlib.sha256()
        with open(path, "rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                digest.update(chunk)
    except OSError:
        return None
    _HASHES[path] = (st.st_size, st.st_mtime_ns, digest.hexdigest())
    return digest.hexdigest()


def approved_contents(settings: Settings) -> dict[tuple[str, str], set[str]]:
    """(lang, key) -> the SHA-256 of each approved recording (the installed source is a byte copy of it).
    Nothing when there is no database yet, or it is not migrated."""
    if not settings.db_path.exists():
        return {}
    from ivr.db import connect

    db = connect(settings.db_path)
    try:
        rows = _approved_rows(db.conn)
    finally:
        db.conn.close()
    root = drafts_root(settings)
    out: dict[tuple[str, str], set[str]] = {}
    for lang, key, name, known in rows:
        digest = known or file_sha256(root / str(name))   # approved before m1952 recorded it: the kept file
        if digest is not None:
            out.setdefault((str(lang), str(key)), set()).add(digest)
    return out


def built_intact(path: Path, entry: dict[str, Any]) -> bool:
    """The built file is the one the build (or an approval) wrote, as its manifest entry recorded."""
    known = entry.get("sha256")
    return not isinstance(known, str) or file_sha256(path) == known


def _approved_rows(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """(lang, key, file, sha256) of every approved recording; a database not migrated yet (`ivr check` run
    before `ivr db migrate` in an upgrade) still counts the approvals it has."""
    for sql in ("select lang, key, file, sha256 from prompt_recordings where state = 'approved'",
                "select lang, key, file, null from prompt_recordings where state = 'approved'"):
        try:
            return conn.execute(sql).fetchall()
        except sqlite3.OperationalError:
            continue   # no sha256 column (before m1952), or no table at all (before m1701)
    return []
