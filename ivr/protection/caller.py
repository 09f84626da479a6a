"""The caller's number: a keyed reference for linking calls, and a vault for call-back numbers.

The number itself is never stored. ``caller_ref`` is an HMAC of it under a key derived
from the deployment secret, so repeat calls from one phone can be linked, but someone
holding only the database cannot test "did +66 81 234 5678 call?" without the secret.
A number is kept only when the caller asks to be called back, sealed by ``NumberVault``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken

# What Asterisk (and carriers) put in caller id when the number is withheld.
_ANONYMOUS = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})
_NOT_DIAL_CHARS = re.compile(r"[\s\-().]")


def normalise_number(number: str | None) -> str | None:
    """The number as digits with an optional leading '+', or None when withheld.

    Only formatting is removed; no country code is guessed, so ``0812345678`` and
    ``+66812345678`` are two references (Asterisk presents one carrier's format consistently).
    """
    if number is None:
        return None
    text = _NOT_DIAL_CHARS.sub("", number.strip())
    if text.lower() in _ANONYMOUS:
        return None
    digits = text[1:] if text.startswith("+") else text
    if not digits or not digits.isascii() or not digits.isdigit():
        # Odd caller ids (SIP user names, garbage) are still hashed, never kept.
        return text or None
    return text


def caller_ref(key: bytes, number: str | None) -> str | None:
    """A keyed HMAC-SHA256 (hex) of the caller's number; None when the number is withheld.

    ``key`` is ``settings.key("caller-ref")``.
    """
    normal = normalise_number(number)
    if normal is None:
        return None
    return hmac.new(key, normal.encode(), hashlib.sha256).hexdigest()


class VaultError(Exception):
    """A sealed number could not be opened: wrong key, or the token was altered."""


class NumberVault:
    """Authenticated encryption (Fernet: AES-128-CBC + HMAC-SHA256) for call-back numbers.

    ``key`` is ``settings.key("callback-number")`` (32 bytes, split by Fernet into its
    encryption and signing halves). A changed or truncated token fails to open rather
    than yielding a wrong number.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("NumberVault needs a 32-byte key")
        self._fernet = Fernet(base64.urlsafe_b64encode(key[:32]))

    def seal(self, number: str) -> str:
        if not number or not number.strip():
            raise ValueError("no number to seal")
        return self._fernet.encrypt(number.strip().encode()).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeError, ValueError):
            raise VaultError("the call-back number cannot be opened (wrong key or altered)") from None
