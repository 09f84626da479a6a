"""Keyword flagging: transcript words that point at forced-labour indicators.

The lists are data files, one per language (``ivr/asr/keywords/<lang>.yaml``), so a
caseworker who speaks the language can extend them without touching code. A match
only *suggests* a category; the caseworker confirms it.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml

from ivr.cases import CATEGORIES

KEYWORDS_DIR = Path(__file__).with_name("keywords")
MATCH_MODES = ("word", "prefix", "substring")


class KeywordError(Exception):
    """A keyword file is malformed. The message is one line naming the file."""


@dataclass(frozen=True)
class KeywordList:
    language: str
    match: str
    categories: dict[str, tuple[str, ...]]
    # Words that mean the caller is in danger now: the case becomes an emergency (ivr/oncall).
    emergency: tuple[str, ...] = ()


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).casefold()
    # Drop punctuation and symbols only: vowel signs of Thai, Burmese, Khmer... are marks, not \w.
    return " ".join("".join(" " if unicodedata.category(c)[0] in "PS" and c != "'" else c for c in text).split())


def load_file(path: Path) -> KeywordList:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise KeywordError(f"{path}: cannot read ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise KeywordError(f"{path}: expected a mapping with 'categories'")
    match = data.get("match", "word")
    if match not in MATCH_MODES:
        raise KeywordError(f"{path}: match {match!r} is not one of {', '.join(MATCH_MODES)}")
    categories: dict[str, tuple[str, ...]] = {}
    for key, words in data["categories"].items():
        if key not in CATEGORIES:
            raise KeywordError(f"{path}: {key!r} is not a category (known: {', '.join(CATEGORIES)})")
        if not isinstance(words, list) or not all(isinstance(w, str) and w.strip() for w in words):
            raise KeywordError(f"{path}: {key}: expected a list of words")
        categories[key] = tuple(normalise(w) for w in words)
    danger = data.get("emergency", [])
    if not isinstance(danger, list) or not all(isinstance(w, str) and w.strip() for w in danger):
        raise KeywordError(f"{path}: emergency: expected a list of words")
    return KeywordList(str(data.get("language", path.stem)), match, categories, tuple(normalise(w) for w in danger))


class Flagger:
    """Suggests categories for a text in a language, from the keyword files in ``folder``."""

    def __init__(self, folder: Path = KEYWORDS_DIR) -> None:
        self.folder = folder
        self._lists: dict[str, KeywordList | None] = {}

    def keywords(self, lang: str) -> KeywordList | None:
        if lang not in self._lists:
            path = self.folder / f"{lang}.yaml"
            self._lists[lang] = load_file(path) if path.is_file() else None
        return self._lists[lang]

    def categories(self, lang: str | None, text: str) -> list[str]:
        """The categories whose keywords occur in ``text``, in menu order (empty if none or no list)."""
        if not lang or not text.strip():
            return []
        words = self.keywords(lang)
        if words is None:
            return []
        norm = normalise(text)
        tokens = norm.split()
        padded = f" {norm} "
        found = []
        for category in CATEGORIES:
            for kw in words.categories.get(category, ()):
                if _hit(words.match, kw, norm, padded, tokens):
                    found.append(category)
                    break
        return found


    def emergency(self, lang: str | None, text: str) -> bool:
        """Whether ``text`` has a word of the language's emergency list (the caller is in danger now)."""
        words = self.keywords(lang) if lang and text.strip() else None
        if words is None or not words.emergency:
            return False
        norm = normalise(text)
        tokens, padded = norm.split(), f" {norm} "
        return any(_hit(words.match, kw, norm, padded, tokens) for kw in words.emergency)


def _hit(mode: str, keyword: str, norm: str, padded: str, tokens: list[str]) -> bool:
    if mode == "substring":
        return keyword in norm
    if mode == "prefix":
        if " " in keyword:
            return f" {keyword}" in padded
        return any(t.startswith(keyword) for t in tokens)
    return f" {keyword} " in padded


def check_all(folder: Path = KEYWORDS_DIR) -> list[str]:
    """Problems with every keyword file (for tests and `ivr check`)."""
    problems = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            load_file(path)
        except KeywordError as exc:
            problems.append(str(exc))
    return problems
