"""The voice-talent kit round trip: export a kit, record it (synthesised here with espeak-ng, sox and
ffmpeg, mistakes included), import it back. Only the good files become drafts; the rest are named."""

from __future__ import annotations

import csv
import shutil
import zipfile
from pathlib import Path

import yaml
from browser_support import requires_chromium
from click.testing import CliRunner
from conftest import REPO, TEST_SECRET
from prompts_helpers import in_format, run, silence, tone

from ivr.cli import main
from ivr.db import connect
from ivr.prompts.build import PromptBuilder
from ivr.settings import Settings, load

CATALOG = {"prompts": {
    "greeting": {"en": "Hello, and thank you for calling.", "km": {"text": "សួស្តី សូមអរគុណសម្រាប់ការហៅមក។",
                                                                   "review": "needed"}},
    "goodbye": {"en": "Goodbye.", "km": "លាហើយ"},
    "thanks": {"en": "Thank you.", "km": {"text": "អរគុណ", "review": "needed"}},
    "sorry": {"en": "Sorry, that key does not work here.", "km": {"text": "សូមទោស", "review": "needed"}},
    "please_wait": {"en": "Please wait.", "km": {"text": "សូមរង់ចាំ", "review": "needed"}},
    "digit_1": {"en": "one", "km": {"text": "មួយ", "review": "needed"}},
    "choose_language": {"en": "For English, press", "km": {"text": "សម្រាប់ភាសាខ្មែរ សូមចុច", "review": "needed"}},
    "main_menu": {"en": "To leave a message, press 2.", "km": {"text": "ដើម្បីទុកសារ សូមចុចលេខ ២។", "review": "needed"}},
}}


def deployment(tmp_path: Path) -> tuple[Settings, list[str]]:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    (prompts / "catalog.yaml").write_text(yaml.safe_dump(CATALOG, allow_unicode=True, sort_keys=False), "utf-8")
    settings = load(environ={}, flags={
        "data_dir": str(tmp_path / "var"), "secret_key": TEST_SECRET, "prompts_dir": str(prompts),
        "flows_dir": str(REPO / "callflows"), "languages": "km,en"}, mode="prompts")
    PromptBuilder(settings).build(languages=["en"])
    base = ["--data-dir", str(settings.data_dir), "--set", f"prompts_dir={prompts}",
            "--set", f"flows_dir={settings.flows_dir}", "--languages", "km,en", "prompts"]
    return settings, base


def speak(path: Path, words: str) -> Path:
    """A recording of ``words`` (espeak-ng's English voice stands in for a Khmer speaker), in path's format."""
    wav = path.with_suffix(".espeak.wav")
    run("espeak-ng", "-v", "en", "-w", str(wav), words)
    return in_format(wav, path)


@requires_chromium
def test_a_kit_goes_out_and_only_the_good_recordings_come_back(tmp_path: Path) -> None:
    settings, base = deployment(tmp_path)
    kit = tmp_path / "kit"
    made = CliRunner().invoke(main, [*base, "kit", "--lang", "km", "--out", str(kit)])
    assert made.exit_code == 0, made.output
    assert f"recordings go in {kit}/km/" in made.output

    with (kit / "km-script.csv").open(encoding="utf-8-sig") as f:
        rows = {row["key"]: row for row in csv.DictReader(f)}
    assert list(rows) == list(CATALOG["prompts"])
    assert rows["greeting"]["save as"] == "km/greeting.wav"
    assert rows["greeting"]["English"] == "Hello, and thank you for calling."
    assert rows["greeting"]["Khmer"] == "សួស្តី សូមអរគុណសម្រាប់ការហៅមក។"
    assert rows["choose_language"]["where it plays"] == "the language menu"
    assert rows["main_menu"]["where it plays"] == "step main_menu"
    assert rows["digit_1"]["where it plays"] == "reading back a case or workplace code"
    assert rows["goodbye"]["text checked by a native speaker"] == "yes"
    assert int(rows["digit_1"]["longest (seconds)"]) == 4
    assert int(rows["greeting"]["longest (seconds)"]) > 4
    assert rows["goodbye"]["phone line keys"] == "2# 2#"      # Khmer is language 2; goodbye the 2nd prompt
    pdf = (kit / "km-script.pdf").read_bytes()
    assert pdf.startswith(b"%PDF")
    assert b"NotoSansKhmer" in pdf, "the Khmer script's font must be embedded in the PDF"
    assert (kit / "reference" / "greeting.wav").read_bytes() == \
        (settings.data_dir / "prompts" / "en" / "greeting.wav").read_bytes()

    # The speaker's folder: two good takes, and every kind of mistake.
    km = kit / "km"
    speak(km / "greeting.wav", "Hello, and thank you for calling.")
    speak(km / "goodbye.m4a", "Goodbye.")
    speak(km / "greting.wav", "Hello.")                                      # misspelt: no such key
    clipped = tone(km / "thanks.src.wav", seconds=1.5, volume=0.9)
    run("sox", "-v", "8", str(clipped), str(km / "thanks.wav"))              # overdriven: flat tops
    clipped.unlink()
    silence(km / "sorry.wav", 2.0)
    tone(km / "please_wait.wav", seconds=1.5, volume=0.0025)                 # far from the microphone
    tone(km / "digit_1.ogg", seconds=12.0)                                   # "one" does not last 12 s
    (kit / "th").mkdir()
    speak(kit / "th" / "main_menu.flac", "To leave a message, press 2.")     # the Thai speaker's folder
    (km / "notes.docx").write_bytes(b"PK\x03\x04")

    imported = CliRunner().invoke(main, [*base, "import", str(kit), "--lang", "km", "--by", "sok"])
    assert imported.exit_code == 1
    lines = imported.output.splitlines()
    assert [ln for ln in lines if ln.startswith("imported")] == [
        "imported  km/goodbye.m4a -> km/goodbye (draft 1)", "imported  km/greeting.wav -> km/greeting (draft 2)"]
    refused = {ln.split()[1].rstrip(":"): ln.split(": ", 1)[1] for ln in lines if ln.startswith("refused")}
    assert set(refused) == {"km/thanks.wav", "km/sorry.wav", "km/please_wait.wav", "km/digit_1.ogg",
                            "th/main_menu.flac"}
    assert refused["km/thanks.wav"].startswith("clipping")
    assert refused["km/sorry.wav"].startswith("there is no sound in it (all silence)")
    assert refused["km/please_wait.wav"].startswith("too quiet")
    assert refused["km/digit_1.ogg"] == "too long (0:12); the limit is 0:04"
    assert refused["th/main_menu.flac"] == "wrong language folder (th, not km)"
    unmatched = sorted(ln.split()[1].rstrip(":") for ln in lines if ln.startswith("unmatched"))
    assert unmatched == ["km/greting.wav", "km/notes.docx"]
    assert "2 imported as drafts, 5 refused, 2 unmatched" in imported.output

    db = connect(settings.db_path)
    drafts = db.execute("select key, state, via, submitted_by_name from prompt_recordings order by id").fetchall()
    assert drafts == [("goodbye", "draft", "import", "sok"), ("greeting", "draft", "import", "sok")]
    audit = db.execute("select action, object_id from audit_log order by id").fetchall()
    assert audit == [("prompt.submit", "km/goodbye"), ("prompt.submit", "km/greeting")]
    db.conn.close()
    # Nothing a caller hears changed, and nothing refused was kept.
    assert not (settings.data_dir / "prompts" / "km").exists() and not (settings.prompts_dir / "km").exists()
    kept = sorted(p.name.split(".")[0] for p in (settings.data_dir / "prompt-drafts" / "km").iterdir())
    assert kept == ["goodbye", "goodbye", "greeting", "greeting"]   # each take and its telephone audio

    # The same from a zip (a speaker's e-mail attachment), the whole kit sent back with its reference audio.
    archive = tmp_path / "from-sok.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(km / "goodbye.m4a", "km-kit/km/goodbye.m4a")
        z.write(kit / "reference" / "greeting.wav", "km-kit/reference/greeting.wav")   # English: not a take
        z.write(kit / "km-script.pdf", "km-kit/km-script.pdf")
        z.writestr("../../escape.wav", b"RIFF")                              # never unpacked outside
    again = CliRunner().invoke(main, [*base, "import", str(archive), "--lang", "km", "--by", "sok"])
    assert again.exit_code == 0, again.output
    assert "imported  km-kit/km/goodbye.m4a -> km/goodbye (draft 3)" in again.output
    assert "0 refused, 0 unmatched" in again.output
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    result = CliRunner().invoke(main, [*base, "import", str(broken), "--lang", "km"])
    assert result.exit_code == 1 and f"{broken}: not a folder or a readable zip file" in result.output
    shutil.rmtree(kit)
