"""Do the stored recordings still hold what their rows say? (`ivr check`, and the engine at start-up.)

A recording row records the size and sha256 its file was verified with when it was brought home.
A file that is missing, or whose bytes changed since (a bad disk, a restore from the wrong backup,
a bug that wrote over it), is a message a caseworker may never hear: say so, one line per row.
`ivr check` hashes every file; the engine's start-up check only compares sizes, so it stays fast.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from ivr.checks import check
from ivr.db.connect import readonly_uri
from ivr.engine.recordings import file_sha256
from ivr.settings import Settings

log = logging.getLogger(__name__)

ROWS = ("select id, case_id, path, size_bytes, sha256 from recordings"
        " where state in ('stored', 'empty') and path is not null order by id")


def recording_problems(db_path: Path, data_dir: Path, *, full: bool = True) -> list[str]:
    """One line per recording row whose file is missing or differs (``full``: by sha256, else by size)."""
    if not db_path.is_file():
        return []
    con = sqlite3.connect(readonly_uri(db_path), uri=True)
    try:
        rows = con.execute(ROWS).fetchall()
    except sqlite3.OperationalError:
        return []   # not migrated yet: no recordings to check
    finally:
        con.close()
    problems: list[str] = []
    for rec_id, case_id, rel, size, digest in rows:
        path = data_dir / rel
        where = f"recording {rec_id} (case {case_id if case_id is not None else '-'}): {rel}"
        try:
            actual = path.stat().st_size
        except OSError:
            problems.append(f"{where} is missing")
            continue
        if size is not None and actual != size:
            problems.append(f"{where} has {actual} bytes, the row says {size}: the file changed after it was stored")
        elif full and digest and file_sha256(path) != digest:
            problems.append(f"{where} no longer matches its sha256: the file changed after it was stored")
    return problems


@check("recordings")
def check_recordings(settings: Settings) -> list[str]:
    return recording_problems(settings.db_path, settings.data_dir)


def log_problems(settings: Settings) -> int:
    """The engine's start-up check (sizes only); returns how many rows are affected."""
    problems = recording_problems(settings.db_path, settings.data_dir, full=False)
    for problem in problems:
        log.error("stored recording damaged: %s (run `ivr check`)", problem)
    return len(problems)
