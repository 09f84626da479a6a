"""Password hashing with argon2id (memory-hard), and the rules a new password must meet.

Length alone lets ``aaaaaaaaaa`` and ``password12`` through, so a new password must also pass
zxcvbn (a maintained estimator that knows common passwords, words, names, keyboard patterns,
repeats and sequences): a score of at least :data:`MIN_SCORE` of 4, roughly 10^8 guesses.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from ivr.words import N_, Joined, ShownError, Words

MIN_LENGTH = 10
MIN_SCORE = 3

_hasher = PasswordHasher()

# Verifying against this when the username is unknown makes both answers take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")


# zxcvbn words its hints in English, from a fixed set (zxcvbn/feedback.py): each is marked here so the
# catalogs translate it. A test checks this against the installed zxcvbn, so a new release's new hint is
# noticed; until then an unknown hint is shown as UNKNOWN_HINT.
HINTS = {hint: hint for hint in (
    N_("Use a few words, avoid common phrases."),
    N_("No need for symbols, digits, or uppercase letters."),
    N_("Add another word or two. Uncommon words are better."),
    N_("Straight rows of keys are easy to guess."),
    N_("Short keyboard patterns are easy to guess."),
    N_("Use a longer keyboard pattern with more turns."),
    N_('Repeats like "aaa" are easy to guess.'),
    N_('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    N_("Avoid repeated words and characters."),
    N_('Sequences like "abc" or "6543" are easy to guess.'),
    N_("Avoid sequences."),
    N_("Recent years are easy to guess."),
    N_("Avoid recent years."),
    N_("Avoid years that are associated with you."),
    N_("Dates are often easy to guess."),
    N_("Avoid dates and years that are associated with you."),
    N_("This is a top-10 common password."),
    N_("This is a top-100 common password."),
    N_("This is a very common password."),
    N_("This is similar to a commonly used password."),
    N_("A word by itself is easy to guess."),
    N_("Names and surnames by themselves are easy to guess."),
    N_("Common names and surnames are easy to guess."),
    N_("Capitalization doesn't help very much."),
    N_("All-uppercase is almost as easy to guess as all-lowercase."),
    N_("Reversed words aren't much harder to guess."),
    N_("Predictable substitutions like '@' instead of 'a' don't help very much."),
)}
UNKNOWN_HINT = N_("Use a longer password: a few uncommon words together are easy to remember and hard to guess.")


def hints(feedback: Mapping[str, Any]) -> list[Words]:
    """zxcvbn's warning and suggestions as marked words, in its order, each once."""
    said = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
    found: list[str] = []
    for hint in said:
        text = HINTS.get(str(hint), UNKNOWN_HINT) if hint else ""
        if text and text not in found:
            found.append(text)
    return [Words(text) for text in found]


class WeakPassword(ShownError, ValueError):
    """The password does not meet the rules; the message says which, in plain words."""


def check_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(N_("The password must have at least %(n)s characters."), n=MIN_LENGTH)
    if username and password.lower() == username.lower():
        raise WeakPassword(N_("The password must not be the same as the username."))
    if not password.strip():
        raise WeakPassword(N_("The password must not be only spaces."))
    # zxcvbn's run time grows with length; its first 100 characters are what an attacker guesses at.
    result = zxcvbn(password[:100], user_inputs=[username, "ivr", "hotline"] if username else ["ivr", "hotline"])
    if result["score"] < MIN_SCORE:
        reasons = hints(result.get("feedback") or {})
        if reasons:
            raise WeakPassword(N_("This password is too easy to guess: %(reason)s"), reason=Joined(reasons))
        raise WeakPassword(N_("This password is too easy to guess."))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; ``stored`` None or "" (no password set yet) spends the
    same time and fails."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and bool(stored)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
