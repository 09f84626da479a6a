"""Case codes: the 8-digit secret a caller uses to follow up on their report by phone.

Storage. Only ``hash_code(code)`` (scrypt, random salt) and ``code_tag(key, code)`` (a
3-hex-digit keyed tag) are stored on the case; the code itself is in no table and no log.
The tag only narrows the lookup to the few cases sharing it (4096 tags). Without the
deployment secret the tag says nothing about the code.

Cost. scrypt with N=2**14, r=8, p=1 (16 MiB) takes ~45-90 ms (load-dependent) on the 2-core
development machine (see ``bench/protection.py``): cheap once per call. Someone who copies the
database but not the secret must try 10**8 codes per case at that cost (two to three months of
one core per case). Someone who has the secret as well can use the tag to cut that to ~24,000
codes, about half an hour per case: keep the secret off the database's backups.

Guessing by phone (``CodePolicy``). Wrong codes are limited twice over; both limits must allow a try:
- ``per_call`` (3) wrong codes per call; then the flow plays "too many tries" and moves on.
- ``per_ref`` (10) wrong codes per caller reference in ``window`` (24 h), across calls.
- Callers with a withheld number (``caller_ref`` None) share one reference bucket with the
  limit ``anonymous`` (20) per window. An attacker could hide their number to escape the
  per-phone limit, so withheld numbers must not be unlimited; sharing a bucket means such an
  attacker can lock out other withheld-number callers from *following up* for a day, which we
  accept: they can still leave a new report, and nothing they say is lost.
- Many phones guessing at once are not blocked (that would lock out every worker), but each
  ``alert_every`` (200) wrong codes a day across all phones log a warning for the operators.
- Successes never reset failures, so a person holding one real code cannot use it to keep
  guessing others.

Another phone. The code is a bearer secret: it works from any phone, because a worker's own
phone may be taken by the employer or they may have to borrow one. Wrong tries count against
the phone (caller reference) they are made from, so borrowing phones does not multiply an
attacker's budget for any single phone, and ``code_attempts`` never holds the code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlite_utils

from ivr.protection.times import stamp

log = logging.getLogger(__name__)

CODE_LENGTH = 8
TAG_HEX = 3  # 16**3 = 4096 tags

_WELL_FORMED = re.compile(rf"[0-9]{{{CODE_LENGTH}}}")

# scrypt cost; stored with each hash so it can be raised later without breaking old codes.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True)
class CodePolicy:
    per_call: int = 3
    per_ref: int = 10
    anonymous: int = 20
    window: timedelta = timedelta(hours=24)
    # Many phones guessing at once (a distributed attack) is not blocked, which would lock
    # out every worker; each time the day's wrong codes across all phones pass a multiple
    # of this, a warning is logged for the operators.
    alert_every: int = 200


DEFAULT_POLICY = CodePolicy()
ANONYMOUS_REF = None  # code_attempts.caller_ref for withheld numbers


def _weak(code: str) -> bool:
    """Codes a guesser tries first: one repeated digit, or a run up or down (12345678, 98765432)."""
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(code)}
    return len(steps) == 1 and steps <= {0, 1, 9}


def new_code() -> str:
    """Eight random digits from the OS's secure generator (never a trivially guessed one)."""
    while True:
        code = f"{secrets.randbelow(10**CODE_LENGTH):0{CODE_LENGTH}d}"
        if not _weak(code):
            return code


def is_well_formed(code: object) -> bool:
    """Exactly eight ASCII digits (letters, '*', '#', Unicode digits and wrong lengths fail)."""
    return isinstance(code, str) and _WELL_FORMED.fullmatch(code) is not None


def _scrypt(code: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(code.encode("ascii"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def hash_code(code: str) -> str:
    """``scrypt$N$r$p$salt$hash`` with a fresh 16-byte salt."""
    if not is_well_formed(code):
        raise ValueError("a case code is eight digits")
    salt = secrets.token_bytes(16)
    digest = _scrypt(code, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_code(code: str, stored: str) -> bool:
    """True when ``code`` is the code behind ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(code, _unb64(salt), int(n), int(r), int(p))
        return hmac.compare_digest(actual, _unb64(digest))
    except (ValueError, UnicodeError):
        return False


def code_tag(key: bytes, code: str) -> str:
    """A short keyed tag (3 hex digits) of the code; ``key`` is ``settings.key("case-code")``."""
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()[:TAG_HEX]


def find_case(db: sqlite_utils.Database, key: bytes, code: str) -> int | None:
    """The id of the case whose code this is, or None. Malformed codes match nothing.

    Every candidate sharing the tag is checked, newest first, and the first match wins.
    Each check is a slow hash: callers holding a write transaction should instead read
    :func:`candidates` and run :func:`first_match` outside it.
    """
    return first_match(code, candidates(db, key, code))


def candidates(db: sqlite_utils.Database, key: bytes, code: str) -> list[tuple[int, str]]:
    """(case id, stored hash) of the cases whose tag matches ``code``, newest first."""
    if not is_well_formed(code):
        return []
    rows = db.execute(
        "select id, code_hash from cases where code_tag = ? and code_hash is not null order by id desc",
        [code_tag(key, code)],
    ).fetchall()
    return [(int(case_id), str(stored)) for case_id, stored in rows]


def first_match(code: str, rows: list[tuple[int, str]]) -> int | None:
    """The first case among ``rows`` whose stored hash is ``code``'s (slow: one hash per row)."""
    for case_id, stored in rows:
        if verify_code(code, stored):
            return case_id
    return None


def _since(now: datetime | None, window: timedelta) -> str:
    return stamp((now or datetime.now(UTC)) - window)


def attempts_left(
    db: sqlite_utils.Database,
    caller_ref: str | None,
    call_id: str,
    *,
    policy: CodePolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> int:
    """How many more codes this caller may try now: the smaller of the per-call and per-phone budgets."""
    in_call = db.execute(
        "select count(*) from code_attempts where call_id = ? and success = 0", [call_id]
    ).fetchall()[0][0]
    since = _since(now, policy.window)
    if caller_ref is None:
        limit = policy.anonymous
        recent = db.execute(
            "select count(*) from code_attempts where caller_ref is null and success = 0 and at >= ?", [since]
        ).fetchall()[0][0]
    else:
        limit = policy.per_ref
        recent = db.execute(
            "select count(*) from code_attempts where caller_ref = ? and success = 0 and at >= ?",
            [caller_ref, since],
        ).fetchall()[0][0]
    return max(0, min(policy.per_call - in_call, limit - recent))


def record_attempt(
    db: sqlite_utils.Database,
    caller_ref: str | None,
    call_id: str,
    success: bool,
    *,
    policy: CodePolicy = DEFAULT_POLICY,
    now: datetime | None = None,
) -> None:
    """Note one code entry (never the code). Call it inside a write transaction."""
    moment = now or datetime.now(UTC)
    db.execute(
        "insert into code_attempts (caller_ref, call_id, at, success) values (?, ?, ?, ?)",
        [caller_ref, call_id, stamp(moment), 1 if success else 0],
    )
    if not success:
        wrong = db.execute(
            "select count(*) from code_attempts where success = 0 and at >= ?", [_since(moment, policy.window)]
        ).fetchall()[0][0]
        if wrong % policy.alert_every == 0:
            log.warning("case-code guessing: %d wrong codes in the last %s across all phones", wrong, policy.window)
