"""prompts/catalog.yaml: every agreed key in every language, drafts marked, and clear errors for a bad catalog."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO

from ivr.prompts.catalog import CatalogError, load_catalog

AGREED = """greeting choose_language main_menu category_menu workplace_code workplace_code_invalid
record_instructions review_menu message_saved case_code_intro case_code_repeat case_code_keep callback_consent
callback_window callback_confirmed followup_enter_code followup_invalid_code followup_too_many followup_no_message
followup_message_intro followup_add_message emergency transfer_connecting transfer_unavailable invalid_input
no_input goodbye apology office_closed you_pressed""".split()
NUMBERS = [f"digit_{d}" for d in range(10)] + [f"number_{n}" for n in range(10, 21)]
LANGUAGES = ("en", "my", "km", "lo", "th", "ne", "vi", "shn")


def test_every_agreed_key_and_number_in_every_language_with_drafts_marked() -> None:
    catalog = load_catalog(REPO / "prompts")
    missing = [(k, lang) for k in AGREED + NUMBERS for lang in LANGUAGES if catalog.text(k, lang) is None]
    assert missing == []
    for key in catalog.keys:
        assert not catalog.text(key, "en").review
        for lang in LANGUAGES[1:]:
            text = catalog.text(key, lang)
            assert text is None or text.review, f"{key}.{lang}: a machine draft must say review: needed"


@pytest.mark.parametrize("body, expected", [
    ("prompts:\n  a:\n    en: x\n  a:\n    en: y\n", "key 'a' appears twice"),
    ("prompts:\n  Greeting:\n    en: x\n", "must be lower-case"),
    ("prompts:\n  a:\n    my: x\n", "has no English source text"),
    ("prompts:\n  a:\n    en: x\n    xx: y\n", "unknown language code 'xx'"),
    ("prompts:\n  a:\n    en: x\n    th: {text: y, review: maybe}\n", "review must be"),
    ("prompts:\n  a:\n    en: x\n    km: {text: y, stand_in: th}\n", "stand_in must be"),
    ("prompts: [\n", "not valid YAML"),
])
def test_a_bad_catalog_is_one_clear_line(tmp_path: Path, body: str, expected: str) -> None:
    (tmp_path / "catalog.yaml").write_text(body, encoding="utf-8")
    with pytest.raises(CatalogError) as raised:
        load_catalog(tmp_path)
    assert expected in str(raised.value) and "\n" not in str(raised.value)
