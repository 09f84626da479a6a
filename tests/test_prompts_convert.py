"""to_telephone_wav with real ffmpeg/sox: format, anti-aliasing, trimming, loudness, and every bad input."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest
from prompts_helpers import lufs, read_wav, rms_db, run, silence, tone, tone_level

from ivr.prompts.convert import TARGET_LUFS, AudioError, to_telephone_wav


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audio")


def test_stereo_48k_mp3_becomes_8k_mono_16bit_without_aliasing(audio: Path, tmp_path: Path) -> None:
    # Equal 1 kHz and 6 kHz tones: 6 kHz is above the 4 kHz Nyquist limit of 8 kHz audio.
    # A resampler without a low-pass filter folds it down to 8 - 6 = 2 kHz.
    src = tone(audio / "stereo48k.mp3", rate=48000, channels=2, freqs=(1000, 6000), seconds=1.0)
    dst = tmp_path / "out.wav"
    info = to_telephone_wav(src, dst)
    params, samples = read_wav(dst)
    assert (params.framerate, params.nchannels, params.sampwidth, params.comptype) == (8000, 1, 2, "NONE")
    assert (info.sample_rate, info.channels, info.sample_width) == (8000, 1, 2)
    wanted = tone_level(samples, 1000)
    aliased = tone_level(samples, 2000)
    assert wanted > -30
    assert wanted - aliased > 50, f"2 kHz alias only {wanted - aliased:.1f} dB below the 1 kHz tone"


def test_leading_and_trailing_silence_is_trimmed(audio: Path, tmp_path: Path) -> None:
    src = tone(audio / "padded.wav", rate=16000, channels=1, seconds=1.0, pad=(1.5, 2.0))
    info = to_telephone_wav(src, tmp_path / "out.wav")
    assert info.source_duration == pytest.approx(4.5, abs=0.05)
    assert 1.0 <= info.duration <= 1.2
    _, samples = read_wav(tmp_path / "out.wav")
    assert rms_db(samples[:800]) > -40, "the sound should start within the first 100 ms"


@pytest.mark.parametrize("volume", [0.02, 0.9])
def test_quiet_and_loud_sources_land_on_one_level(audio: Path, tmp_path: Path, volume: float) -> None:
    src = tone(audio / f"vol{volume}.ogg", rate=44100, channels=1, freqs=(500,), volume=volume)
    info = to_telephone_wav(src, tmp_path / "out.wav")
    assert lufs(tmp_path / "out.wav") == pytest.approx(TARGET_LUFS, abs=0.5)
    assert info.loudness_lufs == pytest.approx(TARGET_LUFS, abs=0.5)
    assert info.peak_dbfs <= -1.0


def test_a_clip_too_short_for_r128_is_still_brought_to_the_target(audio: Path, tmp_path: Path) -> None:
    # Shorter than one 400 ms R128 block: measured as one block on the trimmed samples.
    src = tone(audio / "short.wav", rate=16000, channels=1, freqs=(500,), seconds=0.3, volume=0.05)
    info = to_telephone_wav(src, tmp_path / "out.wav")
    _, samples = read_wav(tmp_path / "out.wav")
    # A 500 Hz tone's LUFS is its RMS level minus 0.69 dB (K-weighting is flat there).
    assert rms_db(samples) - 0.69 == pytest.approx(TARGET_LUFS, abs=1.5)
    assert info.loudness_lufs == pytest.approx(TARGET_LUFS, abs=0.1)


def test_speech_from_espeak_in_m4a(audio: Path, tmp_path: Path) -> None:
    wav = audio / "speech.wav"
    run("espeak-ng", "-v", "en", "-w", str(wav), "Please enter your reference number.")
    m4a = audio / "speech.m4a"
    run("ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-ac", "2", "-ar", "44100", str(m4a))
    info = to_telephone_wav(m4a, tmp_path / "out.wav")
    assert lufs(tmp_path / "out.wav") == pytest.approx(TARGET_LUFS, abs=1.0)
    assert 1.0 < info.duration < info.source_duration + 0.01


@pytest.fixture(scope="module")
def bad_inputs(audio: Path) -> dict[str, tuple[Path, str]]:
    corrupt = audio / "corrupt.mp3"
    corrupt.write_bytes(b"ID3\x03\x00\x00\x00" + bytes(range(256)) * 40)
    truncated_src = tone(audio / "whole.wav", rate=8000, channels=1)
    truncated = audio / "truncated.wav"
    truncated.write_bytes(truncated_src.read_bytes()[:30])
    empty = audio / "empty.wav"
    empty.write_bytes(b"")
    text = audio / "notes.txt"
    text.write_text("hello")
    renamed_text = audio / "letter.ogg"
    renamed_text.write_text("this is a letter, not a recording\n" * 20)
    return {
        "corrupt": (corrupt, "cannot be"),
        "truncated": (truncated, "cannot be"),
        "empty": (empty, "empty"),
        "silent": (silence(audio / "silent.wav", 2.0), "silence"),
        "unsupported": (text, "unsupported format"),
        "not audio": (renamed_text, "audio"),
    }


@pytest.mark.parametrize("case", ["corrupt", "truncated", "empty", "silent", "unsupported", "not audio", "too long"])
def test_bad_input_has_a_clear_message_and_keeps_the_previous_prompt(
    audio: Path, bad_inputs: dict[str, tuple[Path, str]], tmp_path: Path, case: str
) -> None:
    dst = tmp_path / "greeting.wav"
    to_telephone_wav(tone(audio / "good.wav", rate=8000, channels=1), dst)
    before = dst.read_bytes()
    if case == "too long":
        # 10 minutes of tone against a 5 minute limit; a tight limit keeps the test fast.
        src, expected = tone(audio / "long.mp3", rate=8000, channels=1, seconds=3.0), "too long"
        limit = 2.0
    else:
        src, expected = bad_inputs[case]
        limit = 300.0
    with pytest.raises(AudioError) as raised:
        to_telephone_wav(src, dst, max_seconds=limit)
    message = str(raised.value)
    assert expected in message and src.name in message
    assert "\n" not in message
    assert dst.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["greeting.wav"], "no temporary file may be left behind"


def test_ten_minute_file_is_refused_against_the_prompt_limit(audio: Path, tmp_path: Path) -> None:
    # Ten minutes of 8 kHz audio with one short tone at the start, written directly (synthesising it all is slow).
    src = audio / "ten_minutes.wav"
    head = tone(audio / "head.wav", rate=8000, channels=1, seconds=0.5).read_bytes()[44:]
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(head + bytes(2 * 8000 * 600 - len(head)))
    with pytest.raises(AudioError, match=r"too long \(10:00\); the limit is 5:00"):
        to_telephone_wav(src, tmp_path / "out.wav")
    assert not (tmp_path / "out.wav").exists()
