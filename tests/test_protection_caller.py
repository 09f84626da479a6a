"""Caller references and the call-back number vault."""

from __future__ import annotations

import pytest

from ivr.protection.caller import NumberVault, VaultError, caller_ref, normalise_number
from ivr.settings import Settings


def test_caller_ref_is_keyed_stable_and_hides_the_number(settings: Settings) -> None:
    key = settings.key("caller-ref")
    ref = caller_ref(key, "+66 81-234-5678")
    assert ref is not None and len(ref) == 64
    assert "812345678" not in ref
    # Formatting does not split one phone into two references.
    assert caller_ref(key, "+66812345678") == ref
    # Another deployment's secret gives another reference: the database alone cannot be tested.
    assert caller_ref(b"x" * 32, "+66812345678") != ref
    assert caller_ref(key, "+66812345679") != ref


@pytest.mark.parametrize("withheld", [None, "", "  ", "anonymous", "Anonymous", "unknown", "Restricted"])
def test_withheld_numbers_have_no_reference(settings: Settings, withheld: str | None) -> None:
    assert caller_ref(settings.key("caller-ref"), withheld) is None
    assert normalise_number(withheld) is None


def test_vault_round_trip_and_refuses_other_keys_and_tampering(settings: Settings) -> None:
    vault = NumberVault(settings.key("callback-number"))
    token = vault.seal("+66812345678")
    assert "812345678" not in token
    assert vault.open(token) == "+66812345678"
    assert vault.seal("+66812345678") != token  # random IV: equal numbers do not look equal
    with pytest.raises(VaultError):
        NumberVault(settings.key("caller-ref")).open(token)
    flipped = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    with pytest.raises(VaultError):
        vault.open(flipped)
    with pytest.raises(ValueError):
        vault.seal("  ")
