"""Password hashing with argon2id (memory-hard), and the rules a new password must meet."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 10

_hasher = PasswordHasher()

# Verifying against this when the username is unknown makes both answers take as long.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")


class WeakPassword(ValueError):
    """The password does not meet the rules; the message says which, in plain words."""


def check_strength(password: str, username: str = "") -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"The password must have at least {MIN_LENGTH} characters.")
    if username and password.lower() == username.lower():
        raise WeakPassword("The password must not be the same as the username.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored``; ``stored`` None spends the same time and fails."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)
