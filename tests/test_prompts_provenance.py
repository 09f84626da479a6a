"""Prompt audio nobody approved: a recording copied into the prompts folder by hand, or a file copied over
a built prompt. It keeps playing (an upgrade never silences a language), but it is an 'unreviewed file'
for `ivr prompts status` and `ivr check`, never an approved human recording; `ivr prompts import` and a
second person's approval bring it in. Real catalog and flow, real espeak-ng, sox and ffmpeg."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import REPO, TEST_SECRET
from prompts_helpers import tone

from ivr.admin.users import add_user
from ivr.cli import main
from ivr.db.writer import Database
from ivr.prompts.build import PLACEHOLDER, RECORDED, PromptBuilder
from ivr.prompts.coverage import UNREVIEWED, coverage
from ivr.prompts.provenance import approved_contents
from ivr.prompts.resolve import PromptResolver
from ivr.prompts.texts import catalog_for
from ivr.settings import Settings, load


@pytest.fixture(scope="module")
def once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """th and en built once from the real catalog (machine placeholders); each test works on a copy."""
    tmp = tmp_path_factory.mktemp("provenance")
    (tmp / "prompts").mkdir()
    shutil.copy(REPO / "prompts" / "catalog.yaml", tmp / "prompts" / "catalog.yaml")
    PromptBuilder(settings_in(tmp)).build(languages=["th", "en"])
    return tmp


def settings_in(tmp: Path) -> Settings:
    return load(environ={}, flags={
        "data_dir": str(tmp / "var"), "secret_key": TEST_SECRET, "prompts_dir": str(tmp / "prompts"),
        "flows_dir": str(REPO / "callflows"), "languages": "th,en", "prompt_placeholders": "th,en",
        "prompt_placeholder_menu": False}, mode="prompts")


@pytest.fixture
def deployed(once: Path, tmp_path: Path) -> Iterator[tuple[Settings, list[str]]]:
    for part in ("prompts", "var"):
        shutil.copytree(once / part, tmp_path / part)
    settings = settings_in(tmp_path)
    yield settings, ["--data-dir", str(settings.data_dir), "--set", f"prompts_dir={settings.prompts_dir}",
                     "--set", f"flows_dir={settings.flows_dir}", "--set", "prompt_placeholders=th,en"]


def state(settings: Settings, lang: str, key: str) -> str:
    [row] = coverage(settings, catalog_for(settings), (lang,))
    return next(c.state for c in row.cells if c.key == key)


def manifest_path(settings: Settings) -> Path:
    return settings.data_dir / "prompts" / "manifest.json"


def test_an_upgrade_keeps_a_hand_placed_recording_playing_and_check_says_why(
        deployed: tuple[Settings, list[str]], tmp_path: Path) -> None:
    settings, base = deployed
    run = CliRunner().invoke
    # Before four eyes, a deployment put the Thai menu entry in the prompts folder by hand and built it.
    (settings.prompts_dir / "th").mkdir()
    take = tone(settings.prompts_dir / "th" / "choose_language.wav", freqs=(300, 500))
    PromptBuilder(settings).build(languages=["th"])
    old = json.loads(manifest_path(settings).read_text())
    for entry in old["entries"].values():
        entry.pop("sha256", None)     # what that version's build wrote
    manifest_path(settings).write_text(json.dumps(old))
    played = settings.data_dir / "prompts" / "th" / "choose_language.wav"
    heard = played.read_bytes()

    # The upgraded hotline starts: it builds (as `ivr serve` does) and the recording still plays.
    report = PromptBuilder(settings).build()
    assert not report.failed and "th/choose_language" not in report.placeholders
    assert played.read_bytes() == heard
    assert PromptResolver(settings).media("choose_language", "th") == [f"sound:{played.with_suffix('')}"]
    assert all("sha256" in e for e in json.loads(manifest_path(settings).read_text())["entries"].values())

    # ... but it never passed a second person: Thai is not ready, and `ivr check` says why.
    assert state(settings, "th", "choose_language") == UNREVIEWED
    checked = run(main, [*base, "--languages", "th", "check"])
    assert checked.exit_code == 1
    lines = checked.output.splitlines()
    assert ("  IVR_LANGUAGES offers th (Thai), which is not ready: unreviewed files (put in place by hand, "
            "approved by nobody; bring them in with `ivr prompts import FOLDER --lang th` and have a second "
            "person approve them): choose_language") in lines
    assert any(line.startswith("  warning: th: 1 unreviewed files play to callers") for line in lines), lines
    status = run(main, [*base, "--languages", "th", "prompts", "status"])
    row = next(line.split() for line in status.output.splitlines() if line.startswith("th "))
    assert row[2:7] == ["NO", "0", "0", str(len(catalog_for(settings).keys) - 1), "1"]   # recorded 0, unreviewed 1
    detail = run(main, [*base, "--languages", "th", "prompts", "status", "--lang", "th"]).output
    assert any(line.split()[:2] == ["choose_language", "unreviewed"] for line in detail.splitlines())

    # The documented way in: import the file as a draft, and a second person with Thai approves it.
    database = Database(settings.db_path)
    database.write_sync(lambda db: add_user(db, "nok", "x", "admin", "th"))
    database.close()
    imported = run(main, [*base, "prompts", "import", str(settings.prompts_dir / "th"), "--lang", "th",
                          "--by", "somchai"])
    assert imported.exit_code == 0, imported.output
    approved = run(main, [*base, "prompts", "approve", "--lang", "th", "choose_language", "--as", "nok"])
    assert approved.exit_code == 0, approved.output
    assert state(settings, "th", "choose_language") == RECORDED
    assert (settings.prompts_dir / "th" / "choose_language.wav").read_bytes() == take.read_bytes()
    assert "prompts: ok" in " ".join(run(main, [*base, "--languages", "th", "check"]).output.splitlines())


def test_a_file_copied_over_a_built_prompt_is_unreviewed_until_the_build_puts_it_back(
        deployed: tuple[Settings, list[str]], tmp_path: Path) -> None:
    settings, _ = deployed
    built = settings.data_dir / "prompts" / "en" / "greeting.wav"
    placeholder = built.read_bytes()
    shutil.copyfile(tone(tmp_path / "someone.wav", freqs=(700,)), built)
    assert state(settings, "en", "greeting") == UNREVIEWED
    report = PromptBuilder(settings).build(languages=["en"])
    assert report.placeholders == ["en/greeting"]
    assert built.read_bytes() == placeholder and state(settings, "en", "greeting") == PLACEHOLDER

    # A language with no machine voice: a file dropped where no build wrote one still plays, but unreviewed.
    khmer = settings.data_dir / "prompts" / "km" / "greeting.wav"
    khmer.parent.mkdir()
    shutil.copyfile(tone(tmp_path / "km.wav", freqs=(500,)), khmer)
    PromptBuilder(settings).build(languages=["km"])
    assert khmer.exists() and state(settings, "km", "greeting") == UNREVIEWED
    assert PromptResolver(settings).media("greeting", "km") == [f"sound:{khmer.with_suffix('')}"]


def test_a_recording_copied_over_an_approved_one_is_unreviewed(deployed: tuple[Settings, list[str]],
                                                               tmp_path: Path) -> None:
    settings, base = deployed
    run = CliRunner().invoke
    database = Database(settings.db_path)
    database.write_sync(lambda db: add_user(db, "nok", "x", "admin", "th"))
    database.close()
    folder = tmp_path / "kit" / "th"
    folder.mkdir(parents=True)
    tone(folder / "goodbye.wav", freqs=(400,))
    assert run(main, [*base, "prompts", "import", str(folder), "--lang", "th", "--by", "somchai"]).exit_code == 0
    assert run(main, [*base, "prompts", "approve", "--lang", "th", "goodbye", "--as", "nok"]).exit_code == 0
    assert state(settings, "th", "goodbye") == RECORDED
    # Approved before the hash was kept on the row: the kept draft file tells.
    database = Database(settings.db_path)
    database.write_sync(lambda db: db.execute("update prompt_recordings set sha256 = null"))
    assert state(settings, "th", "goodbye") == RECORDED
    database.write_sync(lambda db: db.execute("update prompt_recordings set sha256 = ?", [
        hashlib.sha256((folder / "goodbye.wav").read_bytes()).hexdigest()]))
    database.close()
    shutil.rmtree(settings.data_dir / "prompt-drafts")   # the row's hash is enough: losing drafts loses no approval
    assert state(settings, "th", "goodbye") == RECORDED
    tone(settings.prompts_dir / "th" / "goodbye.wav", freqs=(900,))   # replaced by hand afterwards
    PromptBuilder(settings).build(languages=["th"])
    assert state(settings, "th", "goodbye") == UNREVIEWED


def test_approvals_count_before_the_database_is_migrated(deployed: tuple[Settings, list[str]]) -> None:
    """`ivr check` run in an upgrade before `ivr db migrate`: rows without the hash column still count."""
    settings, _ = deployed
    kept = settings.data_dir / "prompt-drafts" / "th" / "goodbye.abc.wav"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"RIFF recorded")
    database = Database(settings.db_path)
    database.write_sync(lambda db: db.execute(
        "insert into prompt_recordings (lang, key, state, file, via, submitted_at) values "
        "('th', 'goodbye', 'approved', 'th/goodbye.abc.wav', 'web', '2026-01-01T00:00:00.000000Z')"))
    database.write_sync(lambda db: db.execute("alter table prompt_recordings drop column sha256"))
    database.close()
    assert approved_contents(settings) == {("th", "goodbye"): {hashlib.sha256(b"RIFF recorded").hexdigest()}}
