"""Language readiness: a language is offered only with every reachable prompt recorded (or allowed), and
the language menu's own entry recorded by a person. Real catalog, real flow, real espeak-ng and ffmpeg."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, TEST_SECRET
from prompts_helpers import tone

from ivr.checks import WARNING, run_all
from ivr.cli import main
from ivr.db.writer import Database
from ivr.prompts.build import PromptBuilder
from ivr.prompts.coverage import MISSING, Cell, LanguageCoverage
from ivr.prompts.readiness import load_hotline_flow, log_unready, readiness
from ivr.prompts.review import Person, PromptReview
from ivr.prompts.standins import set_stand_in
from ivr.settings import Settings, load


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """th, km and en built once from the real catalog (placeholders; km has none of its own)."""
    tmp = tmp_path_factory.mktemp("readiness")
    prompts = tmp / "prompts"
    prompts.mkdir()
    shutil.copy(REPO / "prompts" / "catalog.yaml", prompts / "catalog.yaml")
    settings = load(environ={}, flags={
        "data_dir": str(tmp / "var"), "secret_key": TEST_SECRET, "prompts_dir": str(prompts),
        "flows_dir": str(REPO / "callflows"), "languages": "th,km,en", "prompt_placeholders": "th,en",
    }, mode="prompts")
    PromptBuilder(settings).build(languages=["th", "en"])
    yield settings


def problems(settings: Settings) -> tuple[list[str], list[str]]:
    found = run_all(settings)["prompts"]
    return [p for p in found if not p.startswith(WARNING)], [p for p in found if p.startswith(WARNING)]


async def test_a_language_is_offered_only_when_ready(built: Settings, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    settings = built
    with caplog.at_level(logging.WARNING, logger="ivr.prompts.readiness"):
        log_unready(settings)   # what `ivr serve` says when it starts
    assert "language km is offered but not ready (`ivr check` fails): no audio of its own" in caplog.text
    failing, warned = problems(settings)
    # Khmer has no voice and no stand-in yet: its digits follow the fallback chain (km, th, en).
    assert f"{WARNING}km: 21 digits and numbers are not recorded yet; codes are read in th until they are" in warned
    menu_rule = "the language menu's own entry needs a human recording: choose_language"
    assert f"IVR_LANGUAGES offers th (Thai), which is not ready: {menu_rule}" in failing
    assert f"IVR_LANGUAGES offers en (English), which is not ready: {menu_rule}" in failing
    km = next(p for p in failing if p.startswith("IVR_LANGUAGES offers km"))
    assert "no audio of its own, and no stand-in chosen: " in km   # no silent Thai for Khmer callers

    # Without permission, a machine placeholder does not count either.
    strict = dataclasses.replace(settings, prompt_placeholders=("en",))
    thai = next(p for p in problems(strict)[0] if p.startswith("IVR_LANGUAGES offers th"))
    assert "only a machine placeholder (IVR_PROMPT_PLACEHOLDERS does not allow them for this language): " in thai

    # A Thai speaker records the menu entry, someone else with Thai approves it: Thai is ready.
    database = Database(settings.db_path)
    try:
        review = PromptReview(settings, database)
        take = tone(tmp_path / "choose_language.wav", freqs=(300, 500))
        draft = await review.submit("th", "choose_language", take, Person(None, "speaker-th"), "import")
        assert [p for p in problems(settings)[0] if p.startswith("IVR_LANGUAGES offers th")], "a draft is not enough"
        await review.approve(draft, Person(None, "reviewer", "admin", ("th",)))
        failing, warnings = problems(settings)
        assert not [p for p in failing if p.startswith("IVR_LANGUAGES offers th")]
        assert f"{WARNING}th: 21 digits and numbers are not recorded yet; codes are read in th until they are" \
            in warnings
        assert [p for p in failing if p.startswith("IVR_LANGUAGES offers en")]

        # Khmer with Thai as its stand-in: an explicit choice, audited, and warned about; the Khmer menu
        # entry still needs a Khmer speaker.
        database.write_sync(lambda db: set_stand_in(db, settings, "km", "th", user_id=None, username="amara"))
        failing, warnings = problems(settings)
        km = next(p for p in failing if p.startswith("IVR_LANGUAGES offers km"))
        assert km == f"IVR_LANGUAGES offers km (Khmer), which is not ready: {menu_rule}"
        assert any(w.startswith(f"{WARNING}km: ") and "play the th stand-in an admin chose" in w for w in warnings)
        # A stand-in that is itself only machine speech counts only where machine speech is allowed.
        strict_km = next(p for p in problems(strict)[0] if p.startswith("IVR_LANGUAGES offers km"))
        assert "the th stand-in is only a machine placeholder there (IVR_PROMPT_PLACEHOLDERS does not allow " \
            "them for th): " in strict_km
        logged = database.query_sync("select username, action, object_id from audit_log where action like "
                                     "'prompt.%' order by id")
        assert logged == [{"username": "speaker-th", "action": "prompt.submit", "object_id": "th/choose_language"},
                          {"username": "reviewer", "action": "prompt.approve", "object_id": "th/choose_language"},
                          {"username": "amara", "action": "prompt.stand_in", "object_id": "km"}]
    finally:
        database.close()

    # `ivr check` exits 1 and names the language; offering only Thai passes the prompts check.
    base = ["--data-dir", str(settings.data_dir), "--set", f"prompts_dir={settings.prompts_dir}",
            "--set", f"flows_dir={settings.flows_dir}", "--set", "prompt_placeholders=th,en"]
    result = CliRunner().invoke(main, [*base, "--languages", "th,km,en", "check"])
    assert result.exit_code == 1
    assert f"  IVR_LANGUAGES offers km (Khmer), which is not ready: {menu_rule}" in result.output.splitlines()
    thai_only = CliRunner().invoke(main, [*base, "--languages", "th", "check"])
    assert "prompts: ok (1 warning(s))" in thai_only.output.splitlines()


def test_digits_with_nothing_to_play_are_named_as_such(built: Settings) -> None:
    # Burmese before any build: not "codes are read in nothing", but what is missing and what makes it.
    flow = load_hotline_flow(built)
    assert flow is not None
    cells = [Cell("my", f"digit_{d}", MISSING, None, False, True, False, None, None) for d in range(10)]
    [ready] = readiness(built, flow, [LanguageCoverage("my", missing=10, silent=10, cells=cells)])
    assert "my: 10 digits and numbers are not recorded yet; 10 have nothing to play at all yet " \
        "(`ivr prompts build` makes them)" in ready.warnings
