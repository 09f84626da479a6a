"""Only ``ivr/cases/`` writes a case: no other module of ``ivr/`` inserts, updates or deletes ``cases`` or
``case_notes`` (the table only cases use). The schema's migrations (``ivr/db/schema.py``) are the one
other place, since they create these tables and their triggers."""

from __future__ import annotations

import re
from pathlib import Path

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
