"""The tamper-evident audit log: who looked at or changed what, and when.

Each row carries ``prev_hash`` (the previous row's ``row_hash``) and ``row_hash``, the
SHA-256 of a canonical JSON serialisation of its own fields (id included) and
``prev_hash``. Changing, inserting or deleting a row therefore breaks the chain at that
point, and :func:`verify` names the rows.

The hash is deliberately *not* keyed: anyone (an auditor, an NGO partner) can verify a
copy of the database without the deployment secret. The price is that someone with write
access who recomputes every later hash, or who cuts rows off the end, leaves a valid
chain. Against that, the chain's head (id and hash, no personal data) is logged by every
retention run and printed by ``ivr audit verify``; keep those lines elsewhere and check
an old head with ``ivr audit verify --head ID:HASH``. A trigger (migration
m0301_audit_append_only) also refuses UPDATE and DELETE so that application code cannot
change history by mistake.

``detail`` is JSON for ids, reasons and counts; never a phone number, case code,
transcript text or a caller's name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ivr.db import utcnow

GENESIS = "0" * 64
_FIELDS = ("id", "at", "user_id", "username", "action", "object_type", "object_id", "detail", "prev_hash")


def row_hash(row: Mapping[str, Any]) -> str:
    """SHA-256 hex over the row's fields (``detail`` as its stored JSON text) and ``prev_hash``."""
    canonical = json.dumps([row[f] for f in _FIELDS], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _last(db: sqlite_utils.Database) -> tuple[int, str] | None:
    # fetchall, not fetchone: an unfinished statement would hold a read transaction open.
    rows = db.execute("select id, row_hash from audit_log order by id desc limit 1").fetchall()
    return (int(rows[0][0]), str(rows[0][1])) if rows else None


def append(
    db: sqlite_utils.Database,
    *,
    action: str,
    user_id: int | None = None,
    username: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Add one row to the log and return its id.

    Call it inside a write transaction (a function given to ``Database.write``), the same
    one as the change it records, so the row exists exactly when the change does and two
    writers can never both chain onto the same previous row.
    """
    if not db.conn.in_transaction:
        raise RuntimeError("audit.append must run inside a write transaction (use Database.write)")
    if not action:
        raise ValueError("an audit row needs an action")
    last = _last(db)
    row: dict[str, Any] = {
        "id": (last[0] + 1) if last else 1,
        "at": utcnow(),
        "user_id": user_id,
        "username": username,
        "action": action,
        "object_type": object_type,
        "object_id": None if object_id is None else str(object_id),
        "detail": json.dumps(dict(detail or {}), ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        "prev_hash": last[1] if last else GENESIS,
    }
    row["row_hash"] = row_hash(row)
    db.execute(
        f"insert into audit_log ({', '.join(row)}) values ({', '.join('?' for _ in row)})", list(row.values())
    )
    return int(row["id"])


@dataclass(frozen=True)
class Head:
    id: int
    row_hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.row_hash}"

    @classmethod
    def parse(cls, text: str) -> Head:
        ident, sep, digest = text.partition(":")
        if not sep or not ident.isdigit() or len(digest) != 64:
            raise ValueError(f"{text!r} is not ID:HASH (a row id and its 64-hex-digit row hash)")
        return cls(int(ident), digest.lower())


def head(db: sqlite_utils.Database) -> Head | None:
    """The newest row's id and hash (safe to log: no personal data)."""
    row = _last(db)
    return Head(int(row[0]), str(row[1])) if row else None


def _ids(ids: list[int]) -> str:
    return f"row {ids[0]}" if len(ids) == 1 else f"rows {ids[0]}-{ids[-1]}"


def verify(db: sqlite_utils.Database, *, expect: Head | None = None) -> list[str]:
    """Problems found in the chain, one line each naming the row ids; empty when intact.

    ``expect`` is a head recorded earlier: it must still be in the chain unchanged.
    """
    cursor = db.execute(f"select {', '.join(_FIELDS)}, row_hash from audit_log order by id")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
    problems: list[str] = []
    position = {r["row_hash"]: i for i, r in enumerate(rows)}
    position[GENESIS] = -1
    for i, row in enumerate(rows):
        if row_hash(row) != row["row_hash"]:
            problems.append(f"row {row['id']}: edited (its contents do not match its hash)")
        prev = rows[i - 1] if i else None
        expected_prev = prev["row_hash"] if prev else GENESIS
        if row["prev_hash"] == expected_prev:
            if prev is not None and row["id"] != prev["id"] + 1:
                problems.append(f"row {row['id']}: ids jump from {prev['id']} (renumbered)")
            continue
        prev_id = prev["id"] if prev else 0
        linked = position.get(row["prev_hash"])
        if linked is not None and linked < i - 1:
            inserted = [r["id"] for r in rows[linked + 1 : i]]
            problems.append(f"{_ids(inserted)}: inserted (row {row['id']} chains to the row before)")
        elif row["id"] > prev_id + 1:
            problems.append(f"{_ids(list(range(prev_id + 1, row['id'])))}: deleted (chain broken at row {row['id']})")
        else:
            problems.append(
                f"row {row['id']}: does not follow row {prev_id} (a row before it was deleted or replaced)"
            )
    triggers = {r[0] for r in db.execute("select name from sqlite_master where type = 'trigger'")}
    for name in ("audit_log_no_update", "audit_log_no_delete"):
        if name not in triggers:
            problems.append(f"trigger {name} is missing: someone removed the append-only guard")
    if expect is not None:
        found = next((r for r in rows if r["id"] == expect.id), None)
        if found is None:
            problems.append(f"row {expect.id}: deleted (the recorded head {expect} is gone)")
        elif found["row_hash"] != expect.row_hash:
            problems.append(f"row {expect.id}: differs from the recorded head (history was rewritten)")
    return problems
