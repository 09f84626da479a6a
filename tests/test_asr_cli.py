"""`ivr transcribe --file`: one JSON line per file, for people and for benchmarks."""

from __future__ import annotations

import json
from pathlib import Path

from asr_support import korean_model_path, need_tools, speak
from click.testing import CliRunner

from ivr.asr.models import ModelStore
from ivr.cli import main


def test_transcribe_files_prints_json_lines_and_names_bad_ones(tmp_path: Path) -> None:
    need_tools()
    ModelStore(tmp_path / "models").add("ko", korean_model_path())
    good = speak("여권을 빼앗겼어요", tmp_path / "good.wav")
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFFnonsense")
    args = ["--set", f"models_dir={tmp_path / 'models'}", "--data-dir", str(tmp_path / "var")]
    result = CliRunner().invoke(main, [*args, "transcribe", "--file", str(good), "--file", str(corrupt),
                                       "--lang", "ko", "--workers", "1"], env={})
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [str(good), str(corrupt)]
    assert lines[0]["text"] and lines[0]["words"] and lines[0]["duration"] > 1 and lines[0]["seconds"] > 0
    assert lines[0]["engine"] == "vosk" and lines[0]["rss_mib"] > 100
    assert "not a readable audio file" in lines[1]["error"]
    assert "1 of 2 file(s) could not be transcribed" in result.stderr

    none = CliRunner().invoke(main, [*args, "transcribe", "--file", str(good), "--lang", "km"])
    assert none.exit_code == 1 and "no Vosk model for language 'km'" in none.output
    assert "need a person" in none.output
