"""Password hashing with argon2id (memory-hard), and the rules a new password must meet.

Length alone lets ``aaaaaaaaaa`` and ``password12`` through, so a new password must also pass
zxcvbn (a maintained estimator that knows common passwords, words, names, keyboard patterns,
repeats and sequences): a score of at least :data:`MIN_SCORE` of 4, roughly 10^8 guesses.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from zxcvbn import zxcvbn

from ivr.words import N_, ShownError

MIN_LENGTH = 10
MIN_SCORE = 3

_hasher = PasswordHasher()

# Verifying against this when the username is unknown makes both answers take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")


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
        feedback = result.get("feedback") or {}
        # zxcvbn words its own reasons, in English: they are kept as they are, after our sentence.
        reason = " ".join([str(feedback.get("warning") or ""), *(feedback.get("suggestions") or [])]).strip()
        if reason:
            raise WeakPassword(N_("This password is too easy to guess: %(reason)s"), reason=reason)
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
