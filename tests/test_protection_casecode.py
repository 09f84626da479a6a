"""Case codes: format, slow hash, lookup, and the limits on guessing by phone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlite_utils

from ivr.db import connect, utcnow
from ivr.db.schema import migrate
from ivr.protection import casecode
from ivr.protection.caller import caller_ref
from ivr.protection.casecode import (
    DEFAULT_POLICY,
    attempts_left,
    code_tag,
    find_case,
    hash_code,
    is_well_formed,
    new_code,
    record_attempt,
    verify_code,
)

KEY = b"k" * 32
REF_A = caller_ref(b"r" * 32, "+66810000001")
REF_B = caller_ref(b"r" * 32, "+66810000002")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sqlite_utils.Database]:
    database = connect(tmp_path_factory.mktemp("casecode") / "ivr.db")
    migrate(database)
    yield database
    database.conn.close()


@pytest.fixture(scope="module")
def codes(db: sqlite_utils.Database) -> dict[int, str]:
    """Three cases with codes; two share a tag, as many cases do in a real deployment."""
    out: dict[int, str] = {}
    first = new_code()
    same_tag = next(c for c in (new_code() for _ in range(100_000)) if code_tag(KEY, c) == code_tag(KEY, first))
    for code in (first, same_tag, new_code()):
        now = utcnow()
        case_id = db.execute(
            "insert into cases (code_hash, code_tag, caller_ref, created_at, updated_at) values (?, ?, ?, ?, ?)",
            [hash_code(code), code_tag(KEY, code), REF_A, now, now],
        ).lastrowid
        out[int(case_id)] = code
    return out


def test_new_codes_are_eight_random_digits() -> None:
    drawn = {new_code() for _ in range(200)}
    assert len(drawn) == 200
    assert all(is_well_formed(c) for c in drawn)
    assert "12345678" not in drawn and "00000000" not in drawn
    assert casecode._weak("12345678") and casecode._weak("98765432") and casecode._weak("55555555")
    assert not casecode._weak("12345679")


@pytest.mark.parametrize(
    "bad", ["1234567a", "ABCDEFGH", "1234567", "", "123456789", "1234 5678", "1234*678", "١٢٣٤٥٦٧٨", None, 12345678]
)
def test_malformed_codes_are_refused_and_match_nothing(
    bad: object, db: sqlite_utils.Database, codes: dict[int, str]
) -> None:
    assert not is_well_formed(bad)
    if isinstance(bad, str):
        assert find_case(db, KEY, bad) is None
    with pytest.raises(ValueError):
        hash_code(bad)  # type: ignore[arg-type]


def test_hash_is_salted_slow_and_holds_no_code() -> None:
    code = "40718263"
    first, second = hash_code(code), hash_code(code)
    assert first != second  # salted
    assert code not in first
    assert first.startswith(f"scrypt${casecode.SCRYPT_N}$")
    assert verify_code(code, first) and verify_code(code, second)
    assert not verify_code("40718264", first)
    assert not verify_code(code, "garbage")


def test_tag_is_short_keyed_and_shared() -> None:
    assert len(code_tag(KEY, "40718263")) == casecode.TAG_HEX
    samples = ("40718263", "11112222", "90817263", "31415926")
    assert any(code_tag(KEY, c) != code_tag(b"j" * 32, c) for c in samples)


def test_find_case_among_cases_sharing_a_tag(db: sqlite_utils.Database, codes: dict[int, str]) -> None:
    ids = list(codes)
    assert code_tag(KEY, codes[ids[0]]) == code_tag(KEY, codes[ids[1]])
    for case_id, code in codes.items():
        assert find_case(db, KEY, code) == case_id
    wrong = f"{(int(codes[ids[0]]) + 1) % 10**8:08d}"
    assert find_case(db, KEY, wrong) is None


def test_code_works_from_another_phone_but_tries_count_there(
    db: sqlite_utils.Database, codes: dict[int, str]
) -> None:
    """Policy: the code is a bearer secret (a worker's phone may be taken); limits follow the phone used."""
    case_id, code = next(iter(codes.items()))
    assert find_case(db, KEY, code) == case_id  # case was reported from REF_A, entered from REF_B
    record_attempt(db, REF_B, "call-b1", False)
    record_attempt(db, REF_B, "call-b1", True)
    assert attempts_left(db, REF_B, "call-b1") == 2
    assert attempts_left(db, REF_A, "call-a1") == 3


def test_three_wrong_codes_per_call(db: sqlite_utils.Database) -> None:
    ref = caller_ref(b"r" * 32, "+66810000003")
    for left in (3, 2, 1):
        assert attempts_left(db, ref, "call-c1") == left
        record_attempt(db, ref, "call-c1", False)
    assert attempts_left(db, ref, "call-c1") == 0
    assert attempts_left(db, ref, "call-c2") == 3  # a new call gets its three tries


def test_brute_force_across_calls_is_stopped(db: sqlite_utils.Database, codes: dict[int, str]) -> None:
    """An attacker who calls again and again, three guesses a call, is cut off for the day."""
    ref = caller_ref(b"r" * 32, "+66810000004")
    guesses = iter(f"{n:08d}" for n in range(10**8))
    tried = 0
    for call in range(20):
        call_id = f"brute-{call}"
        while attempts_left(db, ref, call_id) > 0:
            guess = next(guesses)
            record_attempt(db, ref, call_id, find_case(db, KEY, guess) is not None)
            tried += 1
    assert tried == DEFAULT_POLICY.per_ref
    # A day later the phone may try again, a little.
    tomorrow = datetime.now(UTC) + DEFAULT_POLICY.window + timedelta(minutes=1)
    assert attempts_left(db, ref, "brute-next-day", now=tomorrow) == DEFAULT_POLICY.per_call


def test_withheld_numbers_share_one_limited_bucket(db: sqlite_utils.Database) -> None:
    """Hiding the number must not give unlimited guesses."""
    for call in range(DEFAULT_POLICY.anonymous):
        if attempts_left(db, None, f"anon-{call // 3}") == 0:
            break
        record_attempt(db, None, f"anon-{call // 3}", False)
    assert attempts_left(db, None, "anon-fresh") == 0
    assert attempts_left(db, REF_A, "named-fresh") == 3  # other phones are unaffected


def test_success_does_not_reset_failures(db: sqlite_utils.Database) -> None:
    ref = caller_ref(b"r" * 32, "+66810000005")
    for call in range(5):
        record_attempt(db, ref, f"mix-{call}", False)
        record_attempt(db, ref, f"mix-{call}", False)
        record_attempt(db, ref, f"mix-{call}", True)
    assert attempts_left(db, ref, "mix-fresh") == 0
    rows = list(db.query("select * from code_attempts where caller_ref = ?", [ref]))
    assert set(rows[0]) == {"id", "caller_ref", "call_id", "at", "success"}  # nothing like the code


def test_many_phones_guessing_raise_an_alert(db: sqlite_utils.Database, caplog: pytest.LogCaptureFixture) -> None:
    """A distributed attack is not blocked (that would lock out workers) but operators are told."""
    policy = casecode.CodePolicy(alert_every=5)
    wrong_so_far = db.execute("select count(*) from code_attempts where success = 0").fetchall()[0][0]
    for n in range(1, 12):
        casecode.record_attempt(db, f"ref-sim-{n}", f"sim-{n}", False, policy=policy)
    alerts = [r.getMessage() for r in caplog.records if "case-code guessing" in r.getMessage()]
    assert len(alerts) == (wrong_so_far + 11) // 5 - wrong_so_far // 5 >= 2
    assert all("ref-sim" not in a for a in alerts)
