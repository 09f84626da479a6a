"""`ivr prompts build/status/install` and `ivr check` on a small real catalog, with real espeak-ng and ffmpeg."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from conftest import REPO, TEST_SECRET
from prompts_helpers import read_wav, tone

from ivr.checks import run_all
from ivr.cli import main
from ivr.db import connect
from ivr.db.writer import Database
from ivr.prompts.build import PromptBuilder
from ivr.prompts.catalog import load_catalog
from ivr.prompts.convert import AudioError
from ivr.prompts.coverage import coverage
from ivr.prompts.resolve import PromptResolver
from ivr.prompts.standins import set_stand_in
from ivr.settings import Settings, load
from ivr.sim.media import resolve as sound_file

CATALOG = {
    "languages": ["en", "th", "km"],
    "prompts": {
        "greeting": {"en": "Hello.", "th": {"text": "สวัสดี", "review": "needed"},
                     "km": {"text": "សួស្តី", "review": "needed"}},
        "goodbye": {"en": "Goodbye.", "th": {"text": "ลาก่อน", "review": "needed"},
                    "km": {"text": "លាហើយ", "review": "needed"}},
    },
}
WITH_STAND_IN = {
    "languages": ["en", "th", "km"],
    "prompts": {
        **CATALOG["prompts"],
        "choose_language": {"en": "For English, press", "th": "สำหรับภาษาไทย กด",
                            "km": {"text": "សម្រាប់ភាសាខ្មែរ សូមចុច", "review": "needed",
                                   "stand_in": {"th": "สำหรับภาษาเขมร กด"}}},
    },
}


def deployment(tmp_path: Path, *, languages: str = "km,en", catalog: dict[str, object] = CATALOG) -> Settings:
    prompts = tmp_path / "prompts"
    prompts.mkdir(exist_ok=True)
    text = yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False)
    (prompts / "catalog.yaml").write_text(text, encoding="utf-8")
    return load(environ={}, flags={
        "data_dir": str(tmp_path / "var"), "secret_key": TEST_SECRET, "prompts_dir": str(prompts),
        "flows_dir": str(tmp_path / "flows"), "languages": languages,
    }, mode="prompts")


def manifest(settings: Settings) -> dict[str, dict[str, object]]:
    entries: dict[str, dict[str, object]] = json.loads(
        (settings.data_dir / "prompts" / "manifest.json").read_text())["entries"]
    return entries


def built(settings: Settings, lang: str, key: str) -> Path:
    return settings.data_dir / "prompts" / lang / f"{key}.wav"


def record(settings: Settings, lang: str, key: str, name: str, **tone_args: object) -> Path:
    path = settings.prompts_dir / lang / name
    path.parent.mkdir(parents=True, exist_ok=True)
    return tone(path, **tone_args)


def choose_stand_in(settings: Settings, lang: str, other: str | None) -> None:
    database = Database(settings.db_path)
    try:
        database.write_sync(lambda db: set_stand_in(db, settings, lang, other, user_id=None, username="tester"))
    finally:
        database.close()


def test_placeholders_where_espeak_has_the_language_and_a_stand_in_only_when_chosen(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = deployment(tmp_path)
    report = PromptBuilder(settings).build()
    # km has no espeak-ng voice: nothing is built for it; its fallback (th) and en are.
    assert sorted(report.placeholders) == ["en/goodbye", "en/greeting", "th/goodbye", "th/greeting"]
    assert report.fallbacks == {"km": ["greeting", "goodbye"]}
    assert not built(settings, "km", "greeting").exists()
    entries = manifest(settings)
    assert {e["kind"] for e in entries.values()} == {"placeholder"}
    assert entries["th/greeting"]["voice"] == "th"
    params, samples = read_wav(built(settings, "th", "greeting"))
    assert (params.framerate, params.nchannels, params.sampwidth) == (8000, 1, 2)
    assert max(abs(s) for s in samples) > 0.1, "a placeholder must be audible speech"

    # Nobody chose a stand-in: a Khmer caller does not silently hear Thai. English is the logged last resort.
    resolver = PromptResolver(settings)
    with caplog.at_level(logging.WARNING, logger="ivr.prompts.resolve"):
        uri = resolver.media("greeting", "km")
    assert uri == [f"sound:{built(settings, 'en', 'greeting').resolve().with_suffix('')}"]
    assert "no km audio; playing the en prompt" in caplog.text
    rows = {row.lang: row for row in coverage(settings, load_catalog(settings.prompts_dir))}
    assert (rows["km"].missing, rows["km"].placeholder, rows["km"].stand_in, rows["km"].review) == (2, 0, 0, 2)
    assert {c.plays for c in rows["km"].cells} == {"en"}
    assert (rows["en"].placeholder, rows["en"].review) == (2, 0)

    choose_stand_in(settings, "km", "th")
    assert resolver.media("goodbye", "km") == [f"sound:{built(settings, 'th', 'goodbye').resolve().with_suffix('')}"]
    rows = {row.lang: row for row in coverage(settings, load_catalog(settings.prompts_dir))}
    assert (rows["km"].missing, rows["km"].stand_in) == (2, 2) and {c.plays for c in rows["km"].cells} == {"th"}
    choose_stand_in(settings, "km", None)
    assert resolver.media("goodbye", "km")[0].endswith("/en/goodbye")
    log = connect(settings.db_path).execute(
        "select action, username, object_id, detail from audit_log order by id").fetchall()
    assert log == [("prompt.stand_in", "tester", "km", '{"from":null,"to":"th"}'),
                   ("prompt.stand_in", "tester", "km", '{"from":"th","to":null}')]


def test_a_stand_in_names_khmer_in_thai_instead_of_playing_thais_own_menu_line(tmp_path: Path) -> None:
    settings = deployment(tmp_path, catalog=WITH_STAND_IN)
    assert "km/choose_language" not in PromptBuilder(settings).build().placeholders  # not without the choice
    choose_stand_in(settings, "km", "th")
    report = PromptBuilder(settings).build()
    assert report.placeholders == ["km/choose_language"]
    assert report.fallbacks == {"km": ["greeting", "goodbye"]}
    assert manifest(settings)["km/choose_language"]["voice"] == "th"
    khmer, thai = (built(settings, lang, "choose_language").read_bytes() for lang in ("km", "th"))
    assert khmer != thai
    assert PromptResolver(settings).media("choose_language", "km")[0].endswith("/km/choose_language")
    choose_stand_in(settings, "km", None)
    assert PromptBuilder(settings).build().removed == ["km/choose_language"]
    assert not built(settings, "km", "choose_language").exists()


def test_recordings_win_and_unchanged_inputs_are_not_rebuilt(tmp_path: Path) -> None:
    settings = deployment(tmp_path, languages="en")
    record(settings, "en", "greeting", "greeting.mp3", rate=48000, channels=2)
    first = PromptBuilder(settings).build()
    assert (first.recorded, first.placeholders) == (["en/greeting"], ["en/goodbye"])
    stamps = {p.name: p.stat().st_mtime_ns for p in (settings.data_dir / "prompts" / "en").iterdir()}

    again = PromptBuilder(settings).build()
    assert (again.recorded, again.placeholders, again.unchanged) == ([], [], 2)
    assert {p.name: p.stat().st_mtime_ns for p in (settings.data_dir / "prompts" / "en").iterdir()} == stamps

    # A new recording replaces its placeholder; a changed catalog text rebuilds only that placeholder.
    record(settings, "en", "goodbye", "goodbye.ogg", rate=22050, channels=1, freqs=(300,))
    third = PromptBuilder(settings).build()
    assert (third.recorded, third.placeholders, third.unchanged) == (["en/goodbye"], [], 1)
    assert manifest(settings)["en/goodbye"]["kind"] == "recorded"
    assert manifest(settings)["en/goodbye"]["source"] == "goodbye.ogg"


def test_a_changed_recording_shows_as_stale_until_rebuilt_and_a_mere_touch_does_not(tmp_path: Path) -> None:
    settings = deployment(tmp_path, languages="en")
    source = record(settings, "en", "greeting", "greeting.wav", seconds=1.0)
    PromptBuilder(settings).build()

    def stale() -> bool:
        catalog = load_catalog(settings.prompts_dir)
        return next(c for c in coverage(settings, catalog)[0].cells if c.key == "greeting").stale

    assert not stale()
    record(settings, "en", "greeting", "greeting.wav", seconds=1.5, freqs=(300,))
    assert stale()
    assert PromptBuilder(settings).build().recorded == ["en/greeting"]
    assert not stale()
    # Copied back with a new time but the same bytes: read and hashed again, found unchanged.
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert not stale()
    assert PromptBuilder(settings).build().unchanged == 2


def test_a_broken_recording_keeps_the_previous_prompt_and_fails_the_build(tmp_path: Path) -> None:
    settings = deployment(tmp_path, languages="en")
    source = record(settings, "en", "greeting", "greeting.wav", rate=16000, channels=1)
    PromptBuilder(settings).build()
    good = built(settings, "en", "greeting").read_bytes()

    source.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    result = CliRunner().invoke(main, ["--data-dir", str(settings.data_dir), "--set",
                                       f"prompts_dir={settings.prompts_dir}", "--languages", "en", "prompts", "build"])
    assert result.exit_code == 1
    assert "error: greeting.wav: cannot be read as audio" in result.output
    assert built(settings, "en", "greeting").read_bytes() == good
    assert "cannot be read" in str(manifest(settings)["en/greeting"]["error"])

    problems = run_all(settings)["prompts"]
    assert any("the last build failed for greeting" in p for p in problems), problems


def test_a_broken_first_recording_gets_a_placeholder_not_silence(tmp_path: Path) -> None:
    settings = deployment(tmp_path, languages="en")
    (settings.prompts_dir / "en").mkdir()
    (settings.prompts_dir / "en" / "greeting.m4a").write_bytes(b"")
    report = PromptBuilder(settings).build()
    assert report.failed == ["greeting.m4a: the file is empty"]
    assert manifest(settings)["en/greeting"]["kind"] == "placeholder"
    assert PromptResolver(settings).media("greeting", "en")[0].endswith("/en/greeting")


def test_deleting_a_khmer_recording_goes_back_to_the_stand_in(tmp_path: Path) -> None:
    settings = deployment(tmp_path)
    choose_stand_in(settings, "km", "th")
    source = record(settings, "km", "greeting", "greeting.wav", rate=8000, channels=1)
    assert PromptBuilder(settings).build().recorded == ["km/greeting"]
    assert PromptResolver(settings).media("greeting", "km")[0].endswith("/km/greeting")
    source.unlink()
    assert PromptBuilder(settings).build().removed == ["km/greeting"]
    assert PromptResolver(settings).media("greeting", "km")[0].endswith("/th/greeting")


def test_upload_goes_through_the_same_conversion_and_a_bad_one_changes_nothing(tmp_path: Path) -> None:
    settings = deployment(tmp_path, languages="en")
    PromptBuilder(settings).build()
    builder = PromptBuilder(settings)
    # Web uploads are spooled under a neutral name; the original extension comes separately.
    upload = tone(tmp_path / "upload.wav", rate=44100, channels=2).rename(tmp_path / "upload.bin")
    info = builder.replace_recording("en", "greeting", upload, ".wav")
    assert (info.sample_rate, info.channels) == (8000, 1)
    assert (settings.prompts_dir / "en" / "greeting.wav").exists()
    assert manifest(settings)["en/greeting"]["kind"] == "recorded"
    assert PromptBuilder(settings).build().unchanged == 2, "an uploaded recording needs no rebuild"

    good = built(settings, "en", "greeting").read_bytes()
    source = (settings.prompts_dir / "en" / "greeting.wav").read_bytes()
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\xff\xfb" + b"\x00" * 500)
    with pytest.raises(AudioError, match="cannot be read as audio"):
        builder.replace_recording("en", "greeting", bad, ".mp3")
    assert built(settings, "en", "greeting").read_bytes() == good
    assert (settings.prompts_dir / "en" / "greeting.wav").read_bytes() == source
    assert sorted(p.name for p in (settings.prompts_dir / "en").iterdir()) == ["greeting.wav"]
    with pytest.raises(AudioError, match="not a prompt key"):
        builder.replace_recording("en", "nonsense", upload, ".wav")


def test_status_and_install_commands(tmp_path: Path) -> None:
    settings = deployment(tmp_path)
    base = ["--data-dir", str(settings.data_dir), "--set", f"prompts_dir={settings.prompts_dir}",
            "--languages", "km,en", "prompts"]
    runner = CliRunner()
    turned_on = runner.invoke(main, [*base, "stand-in", "km", "th", "--by", "amara"])
    assert turned_on.exit_code == 0 and "th stands in for km" in turned_on.output
    assert runner.invoke(main, [*base, "stand-in", "km"]).exit_code == 2   # neither a language nor --off
    assert runner.invoke(main, [*base, "build"]).exit_code == 0
    status = runner.invoke(main, [*base, "status"])
    assert status.exit_code == 0
    lines = {line.split()[0]: line.split() for line in status.output.splitlines()[1:]}
    # ready recorded drafts placeholder unreviewed stand-in missing not-reviewed stale errors
    assert lines["km"][2:12] == ["NO", "0", "0", "0", "0", "2", "2", "2", "0", "0"] and lines["km"][-1] == "th"
    assert lines["en"][2:12] == ["NO", "0", "0", "2", "0", "0", "0", "0", "0", "0"]
    # The hotline flow (callflows/) plays choose_language, which this small catalog lacks.
    assert "not ready: km: the language menu's own entry is not in the prompt catalog: choose_language" in status.output
    assert "not ready: en: only a machine placeholder (IVR_PROMPT_PLACEHOLDERS does not allow" in status.output
    # Thai machine speech is not allowed here (IVR_PROMPT_PLACEHOLDERS), so neither is it as Khmer's stand-in.
    assert "not ready: km: the th stand-in is only a machine placeholder there" in status.output
    detail = runner.invoke(main, [*base, "status", "--lang", "km"]).output
    assert "greeting" in detail and "plays th  stand-in" in detail
    unknown = runner.invoke(main, [*base, "status", "--lang", "zz"])
    assert unknown.exit_code == 2 and "unknown language code 'zz'" in unknown.output
    # A refusal the prompts page shows in the reader's language is one English line here.
    chained = runner.invoke(main, [*base, "stand-in", "lo", "km"])
    assert chained.exit_code == 1
    assert chained.output == "Error: Khmer itself plays Thai; choose a language with its own prompts.\n"

    sounds = tmp_path / "asterisk-sounds"
    first = runner.invoke(main, [*base, "install", "--create", str(sounds)])  # a new folder needs --create
    assert first.exit_code == 0 and "4 copied, 0 unchanged" in first.output
    assert (sounds / "ivr" / "th" / "greeting.wav").read_bytes() == built(settings, "th", "greeting").read_bytes()
    assert "0 copied, 4 unchanged" in runner.invoke(main, [*base, "install", str(sounds)]).output

    # The emulator finds what the resolver names, the way Asterisk would, locally and remotely.
    for local in (True, False):
        resolver = PromptResolver(dataclasses.replace(settings, asterisk_local=local))
        for uri in resolver.media("greeting", "km"):
            found = sound_file(sounds, uri.removeprefix("sound:"), "km")
            assert found is not None and found.read_bytes() == built(settings, "th", "greeting").read_bytes()


def test_check_fails_on_a_key_the_catalog_lacks_and_on_unbuilt_prompts(tmp_path: Path) -> None:
    full = yaml.safe_load((REPO / "prompts" / "catalog.yaml").read_text(encoding="utf-8"))
    del full["prompts"]["goodbye"]
    del full["prompts"]["greeting"]["vi"]
    settings = deployment(tmp_path, languages="vi,en", catalog=full)
    settings.flows_dir.mkdir()
    shutil.copy(REPO / "callflows" / "hotline.yaml", settings.flows_dir / "hotline.yaml")
    results = run_all(settings)
    assert any("'goodbye' is not in the prompts catalog" in p for p in results["flows"]), results["flows"]
    assert any("no vi text or recording for greeting" in p for p in results["prompts"]), results["prompts"]
    assert any("prompts are not built yet" in p for p in results["prompts"])
