"""Call-back numbers: sealed, shown only to the assigned caseworker with a reason, deleted when done.

The last test runs a whole flow through the public functions and then searches the raw
database file, its WAL and every log line for the number in any format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from ivr.db import utcnow
from ivr.db.writer import Database
from ivr.protection import audit, callbacks, casecode
from ivr.protection.callbacks import NotAllowed, NumberGone, ReasonRequired
from ivr.protection.caller import NumberVault, caller_ref
from ivr.protection.retention import Retention
from ivr.settings import Settings

NUMBER = "+66812345678"
FORMS = (b"+66812345678", b"66812345678", b"0812345678", b"812345678", b"81-234-5678", b"812 345 678")


@dataclass(frozen=True)
class Staff:
    id: int
    username: str
    role: str


def _seed(db: sqlite_utils.Database, settings: Settings) -> dict[str, int]:
    now = utcnow()
    ids = {}
    for name, role in (("mai", "caseworker"), ("sok", "caseworker"), ("lead", "supervisor")):
        ids[name] = int(db.execute(
            "insert into users (username, password_hash, role, created_at) values (?, 'x', ?, ?)", [name, role, now]
        ).lastrowid or 0)
    ref = caller_ref(settings.key("caller-ref"), NUMBER)
    db.execute("insert into calls (id, channel_id, started_at, caller_ref) values ('call-1', '1700.1', ?, ?)",
               [now, ref])
    code = casecode.new_code()
    ids["case"] = int(db.execute(
        "insert into cases (caller_ref, source_call_id, code_hash, code_tag, assignee_id, created_at, updated_at)"
        " values (?, 'call-1', ?, ?, ?, ?, ?)",
        [ref, casecode.hash_code(code), casecode.code_tag(settings.key("case-code"), code), ids["mai"], now, now],
    ).lastrowid or 0)
    return ids


@pytest.fixture
def vault(settings: Settings) -> NumberVault:
    return NumberVault(settings.key("callback-number"))


async def test_reveal_only_to_assignee_with_reason_then_done(
    database: Database, settings: Settings, vault: NumberVault
) -> None:
    ids = await database.write(lambda db: _seed(db, settings))
    mai, sok, lead = (Staff(ids[n], n, r) for n, r in (("mai", "caseworker"), ("sok", "caseworker"),
                                                        ("lead", "supervisor")))
    cb = await database.write(lambda db: callbacks.request(
        db, vault, case_id=ids["case"], call_id="call-1", number=NUMBER, window="evening", keep_days=30))
    case = await database.query_one("select callback_requested from cases where id = ?", [ids["case"]])
    assert case == {"callback_requested": 1}

    with pytest.raises(NotAllowed):  # another caseworker
        await database.write(lambda db: callbacks.reveal(db, vault, cb, sok, "calling back now"))
    with pytest.raises(NotAllowed):  # even a supervisor: only the assigned caseworker sees the number
        await database.write(lambda db: callbacks.reveal(db, vault, cb, lead, "calling back now"))
    with pytest.raises(ReasonRequired):
        await database.write(lambda db: callbacks.reveal(db, vault, cb, mai, "   "))
    assert await database.query("select * from audit_log where action = 'callback.reveal'") == []

    number = await database.write(lambda db: callbacks.reveal(db, vault, cb, mai, "calling back in the window"))
    assert number == NUMBER
    row = await database.query_one("select * from audit_log where action = 'callback.reveal'")
    assert row is not None and row["user_id"] == mai.id and row["username"] == "mai"
    assert row["object_id"] == str(ids["case"]) and "calling back in the window" in row["detail"]

    with pytest.raises(NotAllowed):
        await database.write(lambda db: callbacks.mark_done(db, cb, sok))
    await database.write(lambda db: callbacks.mark_done(db, cb, mai))
    stored = await database.query_one("select number_encrypted, state, done_at from callbacks where id = ?", [cb])
    assert stored is not None and stored["number_encrypted"] is None and stored["state"] == "done"
    with pytest.raises(NumberGone):
        await database.write(lambda db: callbacks.reveal(db, vault, cb, mai, "calling back again"))
    listed = await database.read(lambda db: callbacks.for_case(db, ids["case"]))
    assert listed[0]["state"] == "done" and listed[0]["has_number"] is False and "number_encrypted" not in listed[0]
    assert await database.read(audit.verify) == []


async def test_numbers_expire_after_the_set_days(database: Database, settings: Settings, vault: NumberVault) -> None:
    ids = await database.write(lambda db: _seed(db, settings))
    old = datetime.now(UTC) - timedelta(days=31)
    expired = await database.write(lambda db: callbacks.request(
        db, vault, case_id=ids["case"], call_id="call-1", number=NUMBER, window="morning", keep_days=30, now=old))
    fresh = await database.write(lambda db: callbacks.request(
        db, vault, case_id=ids["case"], call_id="call-1", number=NUMBER, window="evening", keep_days=30))
    assert await database.write(callbacks.expire) == [expired]
    rows = {r["id"]: r for r in await database.query("select * from callbacks")}
    assert rows[expired]["number_encrypted"] is None and rows[expired]["state"] == "expired"
    assert rows[fresh]["number_encrypted"] is not None and rows[fresh]["state"] == "requested"
    mai = Staff(ids["mai"], "mai", "caseworker")
    with pytest.raises(NumberGone):
        await database.write(lambda db: callbacks.reveal(db, vault, expired, mai, "calling back now"))


async def test_number_never_in_clear_in_database_file_wal_or_logs(
    database: Database, settings: Settings, vault: NumberVault, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ids = await database.write(lambda db: _seed(db, settings))
    mai = Staff(ids["mai"], "mai", "caseworker")
    first = await database.write(lambda db: callbacks.request(
        db, vault, case_id=ids["case"], call_id="call-1", number=NUMBER, window="evening", keep_days=30))
    second = await database.write(lambda db: callbacks.request(
        db, vault, case_id=ids["case"], call_id="call-1", number=NUMBER, window="weekend", keep_days=30))
    assert await database.write(lambda db: callbacks.reveal(db, vault, first, mai, "calling back now")) == NUMBER
    await database.write(lambda db: callbacks.mark_done(db, first, mai))
    await Retention(settings, database).run(now=datetime.now(UTC) + timedelta(days=31))
    await database.write(lambda db: casecode.record_attempt(db, caller_ref(settings.key("caller-ref"), NUMBER),
                                                           "call-2", False))
    assert (await database.query_one("select state from callbacks where id = ?", [second])) == {"state": "expired"}

    files = [settings.db_path, settings.db_path.with_name(settings.db_path.name + "-wal")]
    blobs = {p.name: p.read_bytes() for p in files if p.exists()}
    assert settings.db_path.name in blobs and len(blobs[settings.db_path.name]) > 0
    for name, blob in blobs.items():
        for form in FORMS:
            assert form not in blob, f"{form!r} found in {name}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "callback=" in logged  # the flow did log, by id
    for form in FORMS:
        assert form.decode() not in logged
        assert form.decode() not in repr([r.args for r in caplog.records])
