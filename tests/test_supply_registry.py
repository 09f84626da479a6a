"""The registry and the link from a case to the workplace its caller keyed in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from ivr.cases import lifecycle
from ivr.db import connect, transaction
from ivr.db.schema import migrate
from ivr.supply import codes, registry
from ivr.supply.registry import RegistryError, Workplace


@pytest.fixture
def db(tmp_path: Path) -> Iterator[sqlite_utils.Database]:
    conn = connect(tmp_path / "ivr.db")
    migrate(conn)
    yield conn
    conn.conn.close()


def _case(db: sqlite_utils.Database, code: str | None) -> int:
    """A case whose caller keyed ``code``, opened as the engine opens one."""
    with transaction(db):
        return lifecycle.open_case(db, call_id=None, caller_ref=None, language="en", category=None,
                                   workplace_code=code, workplace_id=None, code_hash=None, code_tag=None)


def test_workplace_id_for_code_and_auto_link(db: sqlite_utils.Database) -> None:
    registry.add_supplier(db, "Golden Thread Co")
    code = codes.make_code(20001)
    wp_id = registry.save_workplace(db, Workplace(code, "Factory A", "Mae Sot", "garments",
                                                  "golden thread co", ("Acme", "Bolt")))
    assert registry.workplace_id_for_code(db, code) == wp_id
    assert registry.workplace_id_for_code(db, code[:-1] + str((int(code[-1]) + 1) % 10)) is None
    assert registry.workplace_id_for_code(db, None) is None
    assert registry.workplace_id_for_code(db, codes.make_code(20002)) is None

    case = _case(db, code)
    # Opening it links it at once (ivr.cases.lifecycle.open_case), whichever part opened the case.
    assert db.execute("select workplace_id, workplace_confirmed from cases where id = ?", [case]).fetchone() == (
        wp_id, 0)
    db.execute("update cases set workplace_id = null where id = ?", [case])
    with transaction(db):  # every change to a case writes its audit row, inside the writer's transaction
        assert registry.link_case_from_code(db, case) == wp_id
    row = db.execute("select workplace_id, workplace_confirmed from cases where id = ?", [case]).fetchone()
    assert row == (wp_id, 0)

    # A case reported before its workplace was registered is linked after the import.
    other_code = codes.make_code(20003)
    late = _case(db, other_code)
    assert registry.link_case_from_code(db, late) is None
    other = registry.save_workplace(db, Workplace(other_code, "Factory B"))
    with transaction(db):
        assert lifecycle.link_unlinked_to_workplaces(db) == 1
    assert db.execute("select workplace_id from cases where id = ?", [late]).fetchone()[0] == other

    # The caseworker corrects the link; the caller's code no longer overrides it.
    with transaction(db):
        registry.set_case_workplace(db, case, other, by="registry")
    assert registry.link_case_from_code(db, case) is None
    assert db.execute("select workplace_id, workplace_confirmed from cases where id = ?",
                      [case]).fetchone() == (other, 1)

    rows = registry.list_workplaces(db)
    assert [(r["code"], r["supplier"], r["brands"]) for r in rows] == [
        (code, "Golden Thread Co", "Acme;Bolt"), (other_code, "", "")]
    assert registry.get_workplace(db, other) == next(r for r in rows if r["id"] == other)
    assert registry.get_workplace(db, other + 100) is None


def test_registry_rejections(db: sqlite_utils.Database) -> None:
    code = codes.make_code(30000)
    with pytest.raises(RegistryError, match="unknown supplier 'Nobody'"):
        registry.save_workplace(db, Workplace(code, "X", supplier="Nobody"))
    with pytest.raises(RegistryError, match="check digit"):
        registry.save_workplace(db, Workplace(code[:-1] + str((int(code[-1]) + 3) % 10), "X"))
    registry.save_workplace(db, Workplace(code, "X"))
    with pytest.raises(RegistryError, match="already used"):
        registry.save_workplace(db, Workplace(code, "Y"))
    with pytest.raises(RegistryError, match="no workplace"):
        registry.set_case_workplace(db, _case(db, None), 999, by="registry")
    registry.add_supplier(db, "S")
    with pytest.raises(RegistryError, match="already exists"):
        registry.add_supplier(db, "s")
