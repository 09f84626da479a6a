"""Every change to a case writes one audit row (ivr.cases.lifecycle), naming who made it: a user, or a
system actor such as the engine or transcription. The rows hold ids and keys only, the chain still
verifies (as `ivr audit verify` checks it), and the case page's activity panel reads them as sentences
in the reader's language."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import TEST_SECRET

from ivr.admin import history
from ivr.admin.i18n import Translations
from ivr.cases import lifecycle
from ivr.cli import main
from ivr.db import connect, transaction
from ivr.db.schema import migrate
from ivr.protection import audit, callbacks
from ivr.protection.caller import NumberVault
from ivr.supply import codes

T = TypeVar("T")
CALLER_REF = "ref-9f2c-secret"
NUMBER = "+66812345678"
WORKPLACE_CODE, LATER_CODE = codes.make_code(1001), codes.make_code(1002)
NOW = "2026-01-01T00:00:00.000000Z"


@dataclass(frozen=True)
class Person:
    id: int
    username: str


MALI = Person(1, "mali")


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path / "var"


@pytest.fixture
def db(data: Path) -> Iterator[sqlite_utils.Database]:
    conn = connect(data / "ivr.db")
    migrate(conn)
    conn.execute("insert into users (id, username, password_hash, role, created_at) values "
                 "(1, 'mali', 'x', 'caseworker', '2026-01-01T00:00:00.000000Z')")
    conn.execute("insert into workplaces (id, code, name, active, created_at, updated_at) "
                 "values (7, ?, 'Big Mill', 1, ?, ?)",
                 [WORKPLACE_CODE, NOW, NOW])
    yield conn
    conn.conn.close()


def w(operation: Callable[..., T], db: sqlite_utils.Database, *args: Any, **kwargs: Any) -> T:
    """One operation as the writer thread runs it: in its own write transaction."""
    with transaction(db):
        return operation(db, *args, **kwargs)


def _call(db: sqlite_utils.Database, call_id: str) -> str:
    db.execute("insert into calls (id, channel_id, started_at, flow, flow_version) values "
               "(?, ?, '2026-01-01T00:00:00.000000Z', 'hotline', '1')", [call_id, "ch-" + call_id])
    return call_id


def _open(db: sqlite_utils.Database, **fields: Any) -> int:
    args: dict[str, Any] = {"call_id": None, "caller_ref": CALLER_REF, "language": "th", "category": "wages",
                            "workplace_code": None, "workplace_id": None, "code_hash": None, "code_tag": None}
    return w(lifecycle.open_case, db, **{**args, **fields})


def rows(db: sqlite_utils.Database, case_id: int) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(r["action"], r["username"], json.loads(r["detail"])) for r in db.query(
        "select action, username, detail from audit_log where object_type = 'case' and object_id = ? order by id",
        [str(case_id)])]


def _chain_verifies(db: sqlite_utils.Database, data: Path) -> None:
    """The chain is whole, and what is written never names the caller."""
    assert audit.verify(db) == []
    config = data.parent / "ivr.toml"
    config.write_text("")
    result = CliRunner().invoke(main, ["--config", str(config), "--data-dir", str(data), "audit", "verify"],
                                env={"IVR_SECRET_KEY": TEST_SECRET}, catch_exceptions=False)
    assert result.exit_code == 0 and "audit log: ok" in result.output, result.output
    for row in db.query("select username, detail from audit_log"):
        for secret in (CALLER_REF, NUMBER, "my boss took my passport"):
            assert secret not in (row["username"] or "") + row["detail"]


def test_opening_a_case_is_on_record_by_what_opened_it(db: sqlite_utils.Database, data: Path) -> None:
    call = _call(db, "call-1")
    from_call = _open(db, call_id=call, emergency=True, workplace_code=WORKPLACE_CODE, callback=True)
    assert rows(db, from_call) == [("case.open", "(engine)", {
        "source": "call", "call": "call-1", "emergency": True, "callback": True, "category": "wages",
        "workplace_id": 7}),  # linked from the caller's code as the case was opened, by the registry's record
        ("case.workplace", "(registry)", {"workplace_id": 7, "confirmed": False})]
    fallback = w(lifecycle.open_fallback_case, db, language="km")
    assert rows(db, fallback) == [("case.open", "(fallback)", {
        "source": "fallback", "call": None, "emergency": False, "callback": False, "category": None,
        "workplace_id": None})]
    past = w(lifecycle.open_past_case, db, language="my", category="debt", workplace_id=7,
             at="2025-03-01T00:00:00.000000Z")
    assert [(a, u) for a, u, _ in rows(db, past)] == [("case.open", "(demo)")]
    # A later call about the case: on record, with the reopening.
    for status in ("acknowledged", "in_progress", "resolved"):
        w(lifecycle.move_status, db, from_call, status, by=MALI)
    w(lifecycle.follow_up, db, from_call)
    assert rows(db, from_call)[-1] == ("case.followup", "(engine)", {"from": "resolved", "to": "in_progress"})
    w(lifecycle.emergency_from_call, db, from_call, reason="pressed_9", call_id=call)
    assert rows(db, from_call)[-1] == ("alert.emergency", "(engine)", {"reason": "pressed_9", "call": "call-1"})
    _chain_verifies(db, data)


def test_what_transcription_noticed_is_on_record(db: sqlite_utils.Database, data: Path) -> None:
    case_id = _open(db)
    w(lifecycle.suggest_categories, db, case_id, ["documents", "wages"])
    w(lifecycle.needs_human_transcript, db, case_id)
    w(lifecycle.needs_human_transcript, db, case_id)  # already asked for: no second row
    w(lifecycle.emergency_from_words, db, case_id)
    w(lifecycle.emergency_from_words, db, case_id)  # already an emergency: no second row
    assert rows(db, case_id)[1:] == [
        ("case.suggest", "(transcription)", {"categories": ["documents", "wages"]}),
        ("case.needs_transcript", "(transcription)", {}),
        ("alert.keywords", "(transcription)", {"source": "transcript"})]
    _chain_verifies(db, data)


def test_workplace_links_are_on_record(db: sqlite_utils.Database, data: Path) -> None:
    keyed = _open(db, workplace_code=LATER_CODE)  # not registered yet: nothing linked
    assert rows(db, keyed)[0][2]["workplace_id"] is None
    db.execute("insert into workplaces (id, code, name, active, created_at, updated_at) "
               "values (8, ?, 'Small Shop', 1, ?, ?)",
               [LATER_CODE, NOW, NOW])
    assert w(lifecycle.link_unlinked_to_workplaces, db) == 1
    assert rows(db, keyed)[-1] == ("case.workplace", "(registry)", {"workplace_id": 8, "confirmed": False})
    db.execute("update cases set workplace_id = null where id = ?", [keyed])
    assert w(lifecycle.link_workplace_from_code, db, keyed, lambda code: 8) == 8
    assert rows(db, keyed)[-1] == ("case.workplace", "(registry)", {"workplace_id": 8, "confirmed": False})
    w(lifecycle.confirm_workplace, db, keyed, 7, by=MALI)
    assert rows(db, keyed)[-1] == ("case.workplace", "mali", {"workplace_id": 7, "confirmed": True})
    assert w(lifecycle.link_workplace_from_code, db, keyed, lambda code: 8) is None  # decided: no change, no row
    assert len(rows(db, keyed)) == 4
    _chain_verifies(db, data)


def test_a_workplace_registered_after_the_call_links_the_case_on_record(db: sqlite_utils.Database,
                                                                       data: Path) -> None:
    """The caller keyed a code the registry did not have yet: `ivr workplaces add` with that code links the
    case (unconfirmed, under the registry's name); the trigger that once did this at insert time is gone."""
    keyed = _open(db, workplace_code=LATER_CODE)
    other = _open(db, workplace_code=codes.make_code(1003))   # a code nobody registers: left alone
    assert db.execute("select workplace_id from cases where id = ?", [keyed]).fetchone()[0] is None
    assert db.execute("select name from sqlite_master where type = 'trigger' and name = 'cases_link_workplace'"
                      ).fetchall() == []
    config = data.parent / "ivr.toml"
    config.write_text("")
    result = CliRunner().invoke(main, ["--config", str(config), "--data-dir", str(data), "workplaces", "add",
                                       "--name", "Small Shop", "--code", LATER_CODE],
                                env={"IVR_SECRET_KEY": TEST_SECRET}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    added = db.execute("select id from workplaces where code = ?", [LATER_CODE]).fetchone()[0]
    linked = {r[0]: r[1:] for r in db.execute("select id, workplace_id, workplace_confirmed from cases")}
    assert linked[keyed] == (added, 0) and linked[other] == (None, 0)
    assert rows(db, keyed)[-1] == ("case.workplace", "(registry)", {"workplace_id": added, "confirmed": False})
    assert [a for a, _, _ in rows(db, other)] == ["case.open"]
    english = history.case_history(db, keyed)[0]
    assert english["text"] == "Linked to a workplace from the code the caller keyed in (not yet confirmed)"
    _chain_verifies(db, data)


def test_retention_and_call_backs_are_on_record(db: sqlite_utils.Database, data: Path) -> None:
    first, second = _open(db), _open(db)
    assert w(lifecycle.anonymise, db, [first, second]) == 2
    assert w(lifecycle.anonymise, db, [first]) == 0  # already forgotten: nothing to record
    assert [r[:2] for r in rows(db, first)] == [("case.open", "(engine)"), ("case.anonymise", "(retention)")]
    assert [r[:2] for r in rows(db, second)][-1] == ("case.anonymise", "(retention)")
    vault = NumberVault(b"k" * 32)
    callback_id = w(callbacks.request, db, vault, case_id=second, call_id=None, number=NUMBER, window="evening",
                    keep_days=30)
    assert rows(db, second)[-1] == ("callback.request", "(engine)", {"callback_id": callback_id,
                                                                     "window": "evening"})
    assert [a for a, _, _ in rows(db, second)].count("callback.request") == 1
    _chain_verifies(db, data)


def test_a_system_actor_is_one_of_the_named_ones(db: sqlite_utils.Database) -> None:
    with pytest.raises(ValueError, match="not a system actor"):
        _open(db, by="someone")
    assert db.execute("select count(*) from cases").fetchone()[0] == 0  # the transaction was rolled back


def test_the_activity_panel_says_what_the_hotline_did_in_the_readers_language(db: sqlite_utils.Database) -> None:
    case_id = _open(db, call_id=_call(db, "call-2"))
    w(lifecycle.suggest_categories, db, case_id, ["documents"])
    w(lifecycle.emergency_from_words, db, case_id)
    w(lifecycle.needs_human_transcript, db, case_id)
    w(lifecycle.assign, db, case_id, 1, by=MALI)
    thai = Translations().get("th").gettext
    entries = {e["action"]: e for e in history.case_history(db, case_id, _=thai)}
    assert entries["case.open"]["text"] == "เปิดจากการโทร"  # "Opened by a call"
    assert entries["case.open"]["who"] == "สายด่วน (ระหว่างการโทร)"  # "the hotline (during a call)"
    assert entries["alert.keywords"]["text"] == "ตั้งเป็นเหตุฉุกเฉินจากคำพูดของผู้โทร"
    assert entries["alert.keywords"]["who"] == "สายด่วน (การถอดความ)"
    assert entries["case.suggest"]["text"] == "ปัญหาที่แนะนำจากคำพูดของผู้โทร: นายจ้างยึดเอกสาร"
    assert entries["case.needs_transcript"]["text"] == "เครื่องถอดความข้อความได้ไม่ดี: ควรให้คนถอดความ"
    assert entries["case.assign"]["who"] == "mali"
    english = {e["action"]: e for e in history.case_history(db, case_id)}
    assert english["case.open"]["text"] == "Opened by a call"
    assert english["alert.keywords"]["text"] == "Flagged as an emergency from the caller's words"
    # Every action a lifecycle operation writes has words of its own on the panel.
    for action, _, detail in rows(db, case_id):
        assert action in history.CASE_ACTIONS
        assert history.describe(action, detail, {}) != action
    for action in history.CASE_ACTIONS:  # and so does every action the panel lists
        assert history.describe(action, {}, {}) != action, action
        assert history.describe(action, {}, {}, _=thai) != history.describe(action, {}, {}), action
