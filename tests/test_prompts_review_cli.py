"""Reviewing drafts from the command line: `ivr prompts drafts`, `approve` and `reject`, with the same
four-eyes rules and audit as the prompts page, and one clear line (never a traceback) for every refusal."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml
from click.testing import CliRunner
from conftest import REPO, TEST_SECRET
from prompts_helpers import tone

from ivr.admin.users import add_user
from ivr.cli import main
from ivr.db.writer import Database
from ivr.prompts.build import PromptBuilder
from ivr.prompts.review import Person, PromptReview
from ivr.settings import Settings, load

CATALOG = {"prompts": {
    "greeting": {"en": "Hello, and thank you for calling.", "km": "សួស្តី"},
    "goodbye": {"en": "Goodbye.", "km": "លាហើយ"},
    "choose_language": {"en": "For English, press", "km": "សម្រាប់ភាសាខ្មែរ សូមចុច"},
}}


def deployment(tmp_path: Path) -> tuple[Settings, list[str]]:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text(yaml.safe_dump(CATALOG, allow_unicode=True), "utf-8")
    settings = load(environ={}, flags={
        "data_dir": str(tmp_path / "var"), "secret_key": TEST_SECRET, "prompts_dir": str(prompts),
        "flows_dir": str(REPO / "callflows"), "languages": "en,km", "timezone": "Asia/Bangkok"}, mode="prompts")
    PromptBuilder(settings).build(languages=["en"])
    base = ["--data-dir", str(settings.data_dir), "--set", f"prompts_dir={prompts}",
            "--set", f"flows_dir={settings.flows_dir}", "--languages", "en,km", "prompts"]
    return settings, base


def users(database: Database, *accounts: tuple[str, str, str]) -> dict[str, int]:
    return {name: database.write_sync(lambda db, n=name, r=role, ls=langs: add_user(db, n, "x", r, ls))
            for name, role, langs in accounts}


def submit(settings: Settings, database: Database, lang: str, key: str, src: Path, who: Person) -> int:
    return asyncio.run(PromptReview(settings, database).submit(lang, key, src, who, "upload"))


def audit_rows(database: Database) -> list[tuple[str, str, str]]:
    return [(r["action"], r["username"], r["object_id"]) for r in database.query_sync(
        "select action, username, object_id from audit_log where action like 'prompt.%' order by id")]


def test_a_second_person_approves_and_rejects_from_the_command_line(tmp_path: Path) -> None:
    settings, base = deployment(tmp_path)
    database = Database(settings.db_path)
    ids = users(database, ("amara", "admin", ""), ("sok", "admin", "km,en"), ("nok", "admin", "th"),
                ("cw", "caseworker", ""))
    built = settings.data_dir / "prompts" / "en" / "greeting.wav"
    placeholder = built.read_bytes()
    take = tone(tmp_path / "take.wav", freqs=(440,))
    greeting = submit(settings, database, "en", "greeting", take, Person(ids["amara"], "amara"))
    goodbye = submit(settings, database, "km", "goodbye", tone(tmp_path / "bye.wav", freqs=(660,)),
                     Person(None, "sok"))   # e.g. `ivr prompts import --by sok`: a name, no account id
    database.close()
    run = CliRunner().invoke

    listed = run(main, [*base, "drafts"])
    assert listed.exit_code == 0, listed.output
    rows = [line.split() for line in listed.output.splitlines()[1:-1]]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("en", "greeting", str(greeting), "amara"),
                                                        ("km", "goodbye", str(goodbye), "sok")]
    assert float(rows[0][6]) > 0.5 and rows[0][7] == "upload"
    assert [line.split()[0] for line in run(main, [*base, "drafts", "--lang", "km"]).output.splitlines()[1:-1]] \
        == ["km"]

    refusals = {
        ("--as", "nobody"): "there is no active account named 'nobody' (`ivr user list` shows them)",
        ("--as", "amara"): "A second person must review a recording: you submitted this one.",
        ("--as", "nok"): "Only a reviewer who has English may approve or reject recordings in it.",
        ("--as", "cw"): "Only an administrator may review recordings.",
    }
    for args, said in refusals.items():
        result = run(main, [*base, "approve", "--lang", "en", "greeting", *args])
        assert result.exit_code == 1 and result.output == f"Error: {said}\n", result.output
    nothing = run(main, [*base, "approve", "--lang", "km", "greeting", "--as", "amara"])
    assert nothing.exit_code == 1
    assert nothing.output.startswith("Error: no recording of km/greeting is waiting for approval")
    same_name = run(main, [*base, "reject", "--lang", "km", "goodbye", "--as", "sok"])
    assert same_name.output == "Error: A second person must review a recording: you submitted this one.\n"
    assert built.read_bytes() == placeholder, "a refused approval changes nothing callers hear"

    approved = run(main, [*base, "approve", "--lang", "en", "greeting", "--as", "sok"])
    assert approved.exit_code == 0, approved.output
    assert approved.output.splitlines()[-1] == (f"en/greeting: draft {greeting} approved by sok; "
                                                "callers hear it from their next call")
    assert built.read_bytes() != placeholder
    assert (settings.prompts_dir / "en" / "greeting.wav").read_bytes() == take.read_bytes()
    rejected = run(main, [*base, "reject", "--lang", "km", "goodbye", "--as", "amara", "--reason", "too fast"])
    assert rejected.exit_code == 0, rejected.output
    again = run(main, [*base, "approve", "--lang", "en", "greeting", "--as", "sok"])
    assert again.exit_code == 1 and "no recording of en/greeting is waiting" in again.output
    assert run(main, [*base, "drafts"]).output == "no drafts waiting for approval\n"

    database = Database(settings.db_path)
    try:
        assert audit_rows(database) == [
            ("prompt.submit", "amara", "en/greeting"), ("prompt.submit", "sok", "km/goodbye"),
            ("prompt.approve", "sok", "en/greeting"), ("prompt.reject", "amara", "km/goodbye")]
        [row] = database.query_sync("select reason, reviewed_by, reviewed_by_name from prompt_recordings where id = ?",
                                    [goodbye])
        assert row == {"reason": "too fast", "reviewed_by": ids["amara"], "reviewed_by_name": "amara"}
    finally:
        database.close()


def test_two_drafts_of_one_key_need_the_draft_id(tmp_path: Path) -> None:
    settings, base = deployment(tmp_path)
    database = Database(settings.db_path)
    ids = users(database, ("amara", "admin", ""), ("sok", "admin", ""))
    amara = Person(ids["amara"], "amara")
    first = submit(settings, database, "en", "goodbye", tone(tmp_path / "a.wav", freqs=(440,)), amara)
    second = submit(settings, database, "en", "goodbye", tone(tmp_path / "b.wav", freqs=(660,)), amara)
    database.close()
    run = CliRunner().invoke
    which = run(main, [*base, "approve", "--lang", "en", "goodbye", "--as", "sok"])
    assert which.exit_code == 1
    assert which.output == f"Error: en/goodbye has 2 drafts ({first}, {second}): name one with --draft ID\n"
    wrong = run(main, [*base, "approve", "--lang", "en", "greeting", "--as", "sok", "--draft", str(first)])
    assert wrong.output == f"Error: recording {first} is not a draft of en/greeting waiting for approval\n"
    done = run(main, [*base, "approve", "--lang", "en", "goodbye", "--as", "sok", "--draft", str(second)])
    assert done.exit_code == 0, done.output
    assert (settings.prompts_dir / "en" / "goodbye.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
