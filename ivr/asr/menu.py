"""Spoken menu answers: a Vosk grammar limited to one menu's words, in the caller's language.

A wrong choice is worse than no answer (the caller is asked again or uses the
keypad), so the recogniser is built to say "no answer" when unsure:

- the grammar holds the menu words plus filler words (``fillers/<lang>.txt``) and the
  model's ``[unk]`` when it has one, so other speech lands on fillers;
- a menu word below ``min_conf``, words of two different choices, or an utterance that
  is mostly fillers (a menu word caught in passing) is no answer;
- a choice counts only if a decoder with the whole vocabulary, fed the same audio, heard
  the menu words too: a few-word grammar otherwise turns noise into a word at full confidence.

The engine shares one :class:`MenuModels` per process (a model is loaded once per
language) and builds a :class:`SpeechMenu` per prompt. Vosk calls release the GIL;
run ``feed``/``finish``/``recognize_file`` in a thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import vosk

from ivr.asr import models
from ivr.asr.audio import pcm_chunks
from ivr.asr.decode import quiet_vosk

FILLERS_DIR = Path(__file__).with_name("fillers")
UNK = "[unk]"
MIN_CONF = 0.6


class MenuError(Exception):
    """The menu cannot be recognised with this model (e.g. a word it does not know)."""


@dataclass(frozen=True)
class MenuResult:
    category: str | None  # None means no answer: ask again or use the keypad
    reason: str  # why, for logs (menu words only, never free speech)
    word: str | None = None
    conf: float | None = None


@dataclass
class LoadedModel:
    lang: str
    path: Path
    model: vosk.Model
    rate: int
    accepts_other_rates: bool
    # Whole-vocabulary recognisers, reused: a new one decodes slower than real time until
    # Vosk's lookahead cache inside it is warm (1.3 s for 0.9 s of speech, then ~70 ms).
    _open: list[tuple[float, Any]] = field(default_factory=list, repr=False)
    _open_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def borrow_open_recognizer(self, rate: float) -> Any:
        with self._open_lock:
            for i, (r, _) in enumerate(self._open):
                if r == rate:
                    return self._open.pop(i)[1]
        return vosk.KaldiRecognizer(self.model, rate)

    def return_open_recognizer(self, rate: float, recognizer: Any) -> None:
        recognizer.Reset()
        with self._open_lock:
            self._open.append((rate, recognizer))


def load_fillers(lang: str, folder: Path = FILLERS_DIR) -> list[str]:
    path = folder / f"{lang}.txt"
    if not path.is_file():
        return []
    words: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        words.extend(line.split("#", 1)[0].split())
    return words


class MenuModels:
    """One loaded model per language for menus, shared by every call in the process."""

    def __init__(self, models_dir: Path) -> None:
        self.store = models.ModelStore(models_dir)
        self._loaded: dict[str, LoadedModel | None] = {}
        self._lock = threading.Lock()

    def get(self, lang: str) -> LoadedModel | None:
        """The model for ``lang``, or None: that language's menus are keypad-only."""
        with self._lock:
            if lang not in self._loaded:
                path = self.store.path(lang)
                self._loaded[lang] = load_model(lang, path) if path is not None else None
            return self._loaded[lang]

    def menu(self, lang: str, choices: dict[str, list[str]], **kwargs: Any) -> SpeechMenu | None:
        model = self.get(lang)
        return SpeechMenu(model, choices, **kwargs) if model is not None else None


def load_model(lang: str, path: Path) -> LoadedModel:
    models.validate(path)
    quiet_vosk()
    conf = (path / "conf" / "mfcc.conf").read_text(encoding="utf-8", errors="replace")
    flexible = bool(re.search(r"--allow-(up|down)sample=true", conf))
    return LoadedModel(lang, path, vosk.Model(str(path)), models.sample_rate(path), flexible)


class SpeechMenu:
    """Recognises one answer to one menu prompt.

    ``choices`` maps a category (e.g. a key of ``ivr.cases.CATEGORIES``, or "1") to the
    words or short phrases that choose it. Audio is 16-bit mono PCM at ``input_rate``
    (8000 for phone audio; Kaldi's windowed-sinc resampler brings it to the model's rate).
    """

    def __init__(self, model: LoadedModel | Path, choices: dict[str, list[str]], *, input_rate: int = 8000,
                 min_conf: float = MIN_CONF, fillers: list[str] | None = None) -> None:
        self.model = model if isinstance(model, LoadedModel) else load_model(model.name, model)
        if input_rate != self.model.rate and not self.model.accepts_other_rates:
            raise MenuError(f"{self.model.path}: model takes {self.model.rate} Hz only; feed it at that rate")
        self.input_rate = input_rate
        self.min_conf = min_conf
        self.phrases: dict[str, str] = {}
        for category, phrases in choices.items():
            for phrase in phrases:
                norm = " ".join(phrase.split())
                if norm in self.phrases and self.phrases[norm] != category:
                    raise MenuError(f"menu phrase {norm!r} is given for both {self.phrases[norm]!r} and {category!r}")
                self.phrases[norm] = category
        missing = sorted({w for p in self.phrases for w in p.split() if not self._known(w)})
        if missing:
            raise MenuError(f"menu word(s) not in the {self.model.lang} model's vocabulary: {', '.join(missing)}")
        if fillers is None:
            fillers = load_fillers(self.model.lang)
        self.menu_words = {w for p in self.phrases for w in p.split()}
        self.fillers = [f for f in dict.fromkeys(fillers) if f not in self.menu_words and self._known(f)]
        grammar = [*self.phrases, *self.fillers]
        if self._known(UNK):
            grammar.append(UNK)
        # Vosk's grammar parser wants the words themselves, not \\u escapes.
        self.grammar = json.dumps(grammar, ensure_ascii=False)
        self._rec = vosk.KaldiRecognizer(self.model.model, float(input_rate), self.grammar)
        self._rec.SetWords(True)
        # A grammar of a few words makes the decoder pick one of them, at full confidence, even for
        # noise (about one brown-noise clip in six came out as a menu word). A second decoder with
        # the whole vocabulary hears the same audio; a choice counts only if it heard the words too.
        self._open: Any = self.model.borrow_open_recognizer(float(input_rate))
        self._open_text: list[str] = []

    def _known(self, word: str) -> bool:
        return bool(self.model.model.vosk_model_find_word(word) >= 0)

    # -- streaming --------------------------------------------------------------------

    def feed(self, pcm: bytes) -> MenuResult | None:
        """Feed audio as it arrives. Returns a result when the recogniser hears the end of an utterance."""
        if self._open is not None and self._open.AcceptWaveform(pcm):
            self._open_text.append(json.loads(self._open.Result()).get("text", ""))
        if self._rec.AcceptWaveform(pcm):
            result = self.decide(json.loads(self._rec.Result()))
            if result.reason != "nothing heard":
                self._give_back()
                return result
        return None

    def finish(self) -> MenuResult:
        """The caller stopped (silence detected, or the recording ended): decide now."""
        result = self.decide(json.loads(self._rec.FinalResult()))
        self._give_back()
        return result

    def _give_back(self) -> None:
        """The answer is decided: the whole-vocabulary recogniser goes back for the next menu."""
        if self._open is not None:
            self.model.return_open_recognizer(float(self.input_rate), self._open)
            self._open = None

    def recognize_file(self, path: Path) -> MenuResult:
        """Decide from a short recording of the answer (any format sox reads)."""
        for chunk in pcm_chunks(path, self.input_rate, chunk_seconds=0.5):
            result = self.feed(chunk)
            if result is not None:
                self._rec.Reset()
                self._rec.FinalResult()
                return result
        return self.finish()

    # -- the decision -----------------------------------------------------------------

    def decide(self, result: dict[str, Any]) -> MenuResult:
        words = result.get("result", [])
        text = " ".join(w["word"] for w in words)
        hits: list[tuple[str, str, float]] = []  # (category, phrase, lowest word confidence)
        for phrase, category in self.phrases.items():
            n = len(phrase.split())
            for i in range(len(words) - n + 1):
                if " ".join(w["word"] for w in words[i:i + n]) == phrase:
                    hits.append((category, phrase, min(w["conf"] for w in words[i:i + n])))
        if not hits:
            return MenuResult(None, "no menu word heard" if text else "nothing heard")
        categories = {c for c, _, _ in hits}
        if len(categories) > 1:
            return MenuResult(None, f"two choices heard ({', '.join(sorted(categories))})")
        category, phrase, conf = max(hits, key=lambda h: h[2])
        spoken = sum(w["end"] - w["start"] for w in words)
        menu_time = sum(w["end"] - w["start"] for w in words if w["word"] in self.menu_words)
        if menu_time < spoken / 2:
            # Mostly other speech: a menu word caught in passing is not an answer.
            return MenuResult(None, "mostly words outside the menu", phrase, conf)
        if conf < self.min_conf:
            return MenuResult(None, f"unsure ({conf:.2f} < {self.min_conf})", phrase, conf)
        if phrase.replace(" ", "") not in self._heard_openly():
            return MenuResult(None, "not confirmed without the menu's grammar", phrase, conf)
        return MenuResult(category, "heard", phrase, conf)

    def _heard_openly(self) -> str:
        """What the whole-vocabulary decoder heard so far, without spaces (so '네유' confirms '네')."""
        if self._open is not None:
            self._open_text.append(json.loads(self._open.FinalResult()).get("text", ""))
        return "".join(self._open_text).replace(" ", "")
