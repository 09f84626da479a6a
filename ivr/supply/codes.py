"""Workplace codes: the short numbers a caller keys in to say where they work.

A code is five digits followed by one Damm check digit. The Damm algorithm catches
every single-digit error and every transposition of two adjacent digits, which are
the two mistakes people make most on a keypad, so a mistyped code is caught during
the call instead of linking a report to the wrong workplace.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Final

from ivr.words import N_, Words

BODY_LENGTH: Final = 5
CODE_LENGTH: Final = BODY_LENGTH + 1
# Codes are allocated from here up so none starts with 0: spreadsheets strip a
# leading zero from a CSV column, and "012345" would come back as "12345".
FIRST_NUMBER: Final = 10**(BODY_LENGTH - 1)
LAST_NUMBER: Final = 10**BODY_LENGTH - 1

# A totally anti-symmetric quasigroup of order 10 with a zero diagonal (Damm, 2004).
_DAMM: Final = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def _interim(digits: str) -> int:
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return interim


def _all_digits(text: str) -> bool:
    # str.isdigit() also accepts "²" and other Unicode digits; a keypad only sends 0-9.
    return bool(text) and all("0" <= ch <= "9" for ch in text)


def check_digit(body: str) -> str:
    """The Damm check digit for a string of decimal digits."""
    if not _all_digits(body):
        raise ValueError(f"{body!r} is not a string of digits 0-9")
    return str(_interim(body))


def make_code(n: int) -> str:
    """The workplace code for the number ``n`` (0 <= n <= 99999): ``n`` zero-padded plus its check digit."""
    if not 0 <= n <= LAST_NUMBER:
        raise ValueError(f"workplace numbers run from 0 to {LAST_NUMBER}, not {n}")
    body = f"{n:0{BODY_LENGTH}d}"
    return body + check_digit(body)


def problem_words(code: str) -> Words | None:
    """Why ``code`` is not a workplace code, in words a caseworker can act on (translated when shown);
    None when it is one."""
    if not _all_digits(code):
        return Words(N_("workplace code '%(code)s' must be %(n)s digits 0-9"), code=code, n=CODE_LENGTH)
    if len(code) != CODE_LENGTH:
        return Words(N_("workplace code '%(code)s' must be %(n)s digits, not %(found)s"), code=code, n=CODE_LENGTH,
                     found=len(code))
    if _interim(code) != 0:
        return Words(N_("workplace code '%(code)s' has a wrong check digit (a digit is mistyped or two are "
                        "swapped)"), code=code)
    return None


def problem(code: str) -> str | None:
    """:func:`problem_words` in English (the command line, CSV import reports)."""
    words = problem_words(code)
    return None if words is None else str(words)


def is_valid(code: str) -> bool:
    """True when ``code`` is six digits whose last is the Damm check digit of the first five."""
    return problem(code) is None


def free_codes(used: Collection[str]) -> Iterator[str]:
    """The codes not in ``used``, lowest first, from :data:`FIRST_NUMBER` up."""
    for n in range(FIRST_NUMBER, LAST_NUMBER + 1):
        code = make_code(n)
        if code not in used:
            yield code


def next_code(used: Collection[str]) -> str:
    """The lowest free code at or above :data:`FIRST_NUMBER`; raises ValueError when all are taken."""
    for code in free_codes(used):
        return code
    raise ValueError("every workplace code is taken")
