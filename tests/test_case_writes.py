"""Only ``ivr/cases/`` writes a case: no other module of ``ivr/`` inserts, updates or deletes ``cases`` or
``case_notes`` (the table only cases use). The schema's migrations (``ivr/db/schema.py``) are the one
other place, since they create these tables; but no trigger the schema leaves may write them either (a
trigger changes a case with no audit row and no rule checked), which a migrated database shows."""

from __future__ import annotations

import re
from pathlib import Path

import sqlite_utils

from ivr.db import connect
from ivr.db.schema import migrate

PACKAGE = Path(__file__).resolve().parents[1] / "ivr"
# Between the verb and the table: whitespace, or the gap between adjacent string literals ("insert into "
# "cases ..."), so a statement split over lines is still seen.
CASE_WRITE = re.compile(r"\b(insert\s+into|update|delete\s+from)(?:\s|[\"']\s*f?[\"'])+(cases|case_notes)\b",
                        re.IGNORECASE)
ALLOWED = {PACKAGE / "cases", PACKAGE / "db" / "schema.py"}


def case_writes(root: Path, allowed: set[Path]) -> list[str]:
    """``path:line: statement`` for every write to a case table outside ``allowed``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if any(path == a or a in path.parents for a in allowed):
            continue
        text = path.read_text()
        for match in CASE_WRITE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{path.relative_to(root.parent)}:{line}: {match.group(0)}")
    return found


def test_only_ivr_cases_writes_cases() -> None:
    assert len(list(PACKAGE.rglob("*.py"))) > 100, "the scan found too few modules: is PACKAGE right?"
    assert case_writes(PACKAGE, ALLOWED) == []


def test_the_scan_finds_a_write(tmp_path: Path) -> None:
    """The scan itself can fail: writes in either case, split across lines or literals, are found."""
    pkg = tmp_path / "ivr"
    (pkg / "cases").mkdir(parents=True)
    (pkg / "cases" / "lifecycle.py").write_text('db.execute("update cases set status = ?")\n')
    (pkg / "admin.py").write_text(
        'db.execute("""UPDATE\n  cases set x = 1""")\n'
        'db.execute("insert into "\n           "case_notes (body) values (?)")\n'
        'db.execute("select * from cases")\n'
        'db.execute("delete from cases_archive")\n'
    )
    assert case_writes(pkg, {pkg / "cases"}) == [
        "ivr/admin.py:1: UPDATE\n  cases",
        'ivr/admin.py:3: insert into "\n           "case_notes',
    ]


def case_triggers(db: sqlite_utils.Database) -> list[str]:
    """``name: statement`` for every trigger whose body writes a case table."""
    found = []
    for name, sql in db.execute("select name, sql from sqlite_master where type = 'trigger' order by name"):
        body = re.split(r"\bbegin\b", sql, maxsplit=1, flags=re.IGNORECASE)[-1]   # not the "on cases" head
        found += [f"{name}: {m.group(0)}" for m in CASE_WRITE.finditer(body)]
    return found


def test_no_trigger_writes_cases(tmp_path: Path) -> None:
    db = connect(tmp_path / "ivr.db")
    migrate(db)
    triggers = [r[0] for r in db.execute("select name from sqlite_master where type = 'trigger'")]
    assert any("case" in t for t in triggers), "no trigger on cases at all: is this the hotline's schema?"
    assert case_triggers(db) == []


def test_the_trigger_scan_finds_a_write(tmp_path: Path) -> None:
    db = connect(tmp_path / "ivr.db")
    db.execute("create table cases (id integer primary key, n integer)")
    db.execute("create table case_notes (case_id integer, body text)")
    db.execute("create table case_search (rowid integer, body text)")
    db.execute("create trigger reads_only after update on cases begin "
               "insert into case_search values (new.id, 'x'); end")   # "on cases" is not a write
    db.execute("create trigger links after insert on cases when new.n is null begin\n"
               "  UPDATE cases set n = 1 where id = new.id; end")
    db.execute("create trigger notes after delete on cases begin delete from case_notes where case_id = old.id; end")
    assert case_triggers(db) == ["links: UPDATE cases", "notes: delete from case_notes"]
