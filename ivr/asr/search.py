"""Searching transcripts (machine and human, every version) through ``transcripts_fts``.

Each search term matches as a prefix, because Korean and many other languages attach
particles to words (여권을 is found by 여권). Scripts written without spaces
(Thai, Burmese, Khmer, Lao, Shan) are also searched by substring, since the FTS
tokenizer sees a whole sentence there as one token.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlite_utils

UNSPACED = ("th", "my", "km", "lo", "shn")


@dataclass(frozen=True)
class Hit:
    transcript_id: int
    recording_id: int
    case_id: int | None
    kind: str
    engine: str
    version: int
    language: str | None
    snippet: str


def _fts_query(terms: list[str]) -> str:
    return " ".join('"' + t.replace('"', '""') + '"*' for t in terms)


def search(db: sqlite_utils.Database, query: str, *, limit: int = 50) -> list[Hit]:
    """Transcripts containing every term of ``query``, best first, at most one hit per transcript."""
    terms = query.split()
    if not terms:
        return []
    cols = ("t.id, t.recording_id, r.case_id, t.kind, t.engine, t.version, t.language")
    rows = list(db.execute(
        f"select {cols}, snippet(transcripts_fts, 0, '[', ']', '…', 12) from transcripts_fts "
        "join transcripts t on t.id = transcripts_fts.rowid join recordings r on r.id = t.recording_id "
        "where transcripts_fts match ? order by rank limit ?", [_fts_query(terms), limit]).fetchall())
    seen = {row[0] for row in rows}
    like = " and ".join("t.text like ? escape '\\'" for _ in terms)
    params = ["%" + t.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for t in terms]
    marks = ",".join("?" for _ in UNSPACED)
    for row in db.execute(
        f"select {cols}, substr(t.text, 1, 120) from transcripts t join recordings r on r.id = t.recording_id "
        f"where t.language in ({marks}) and {like} order by t.id desc limit ?",
        [*UNSPACED, *params, limit]).fetchall():
        if row[0] not in seen and len(rows) < limit:
            rows.append(row)
    return [Hit(*row) for row in rows]
