"""Workplace codes: the Damm check digit catches every single-digit error and adjacent swap."""

from __future__ import annotations

import pytest

from ivr.supply import codes


def test_known_damm_value() -> None:
    # The worked example from Damm's algorithm description: 572 -> check digit 4.
    assert codes.check_digit("572") == "4"
    assert codes.make_code(572) == "005724"  # leading zeros leave the Damm digit unchanged


def test_every_single_digit_error_and_adjacent_transposition_is_caught() -> None:
    # Exhaustive over a range of 2,000 codes (spread across the code space).
    for n in range(0, codes.LAST_NUMBER + 1, 50):
        code = codes.make_code(n)
        assert codes.is_valid(code), code
        for i in range(codes.CODE_LENGTH):
            for d in "0123456789":
                if d != code[i]:
                    wrong = code[:i] + d + code[i + 1:]
                    assert not codes.is_valid(wrong), (code, wrong)
        for i in range(codes.CODE_LENGTH - 1):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2:]
                assert not codes.is_valid(swapped), (code, swapped)


def test_exactly_one_check_digit_per_body() -> None:
    for n in range(0, 2000):
        body = f"{n:05d}"
        valid = [d for d in "0123456789" if codes.is_valid(body + d)]
        assert valid == [codes.make_code(n)[-1]]


@pytest.mark.parametrize(("code", "words"), [
    ("", "must be 6 digits"),
    ("12345", "not 5"),
    ("1234567", "not 7"),
    ("12a456", "digits 0-9"),
    ("１２３４５６", "digits 0-9"),   # full-width digits are not keypad input
    ("12345²", "digits 0-9"),
])
def test_problem_names_what_is_wrong(code: str, words: str) -> None:
    message = codes.problem(code)
    assert message is not None and words in message


def test_wrong_check_digit_message() -> None:
    good = codes.make_code(12345)
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)
    message = codes.problem(bad)
    assert message is not None and "check digit" in message
    assert codes.problem(good) is None


def test_make_code_range_and_next_code() -> None:
    with pytest.raises(ValueError):
        codes.make_code(-1)
    with pytest.raises(ValueError):
        codes.make_code(100000)
    first = codes.next_code(frozenset())
    assert first == codes.make_code(codes.FIRST_NUMBER) and not first.startswith("0")
    assert codes.next_code({first}) == codes.make_code(codes.FIRST_NUMBER + 1)
