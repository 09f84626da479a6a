"""The prompt catalog (prompts/catalog.yaml): every key a flow may play, with its words per language."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ivr.languages import LANGUAGES
from ivr.yamlfile import load_strict

CATALOG_FILE = "catalog.yaml"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SOURCE_LANGUAGE = "en"


class CatalogError(Exception):
    """The catalog cannot be read. The message is one line naming the file and key."""


@dataclass(frozen=True)
class Text:
    text: str
    review: bool  # True while the translation is a machine draft nobody has checked
    # (language, text) to synthesise when this language has no recording and no voice:
    # e.g. Khmer's "For Khmer, press" said in Thai beats Thai's own "For Thai, press".
    stand_in: tuple[str, str] | None = None


@dataclass(frozen=True)
class Catalog:
    path: Path
    prompts: dict[str, dict[str, Text]]

    @property
    def keys(self) -> list[str]:
        return list(self.prompts)

    def text(self, key: str, lang: str) -> Text | None:
        return self.prompts.get(key, {}).get(lang)


def load_catalog(prompts_dir: Path, overrides: Path | None = None) -> Catalog:
    """The catalog file, with the texts people edited in the web UI (``overrides``, see
    :mod:`ivr.prompts.texts`) in place of the file's for those keys and languages."""
    catalog = _load_file(prompts_dir)
    if overrides is not None:
        _apply(catalog, overrides)
    return catalog


def _apply(catalog: Catalog, overrides: Path) -> None:
    try:
        data = json.loads(overrides.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (ValueError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{overrides}: the edited texts cannot be read ({exc})") from None
    for name, edit in (data.get("texts", {}) if isinstance(data, dict) else {}).items():
        key, _, lang = str(name).partition("/")
        if key not in catalog.prompts or lang not in LANGUAGES or not isinstance(edit, dict):
            continue  # a key since removed from the catalog: its old edit no longer applies
        text = str(edit.get("text") or "").strip()
        if not text:
            continue
        old = catalog.prompts[key].get(lang)
        catalog.prompts[key][lang] = Text(text, review=not edit.get("reviewed"),
                                          stand_in=old.stand_in if old else None)


def _load_file(prompts_dir: Path) -> Catalog:
    path = prompts_dir / CATALOG_FILE
    try:
        data = load_strict(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CatalogError(f"{path}: the prompt catalog does not exist") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict) or not isinstance(data.get("prompts"), dict):
        raise CatalogError(f"{path}: expected a mapping with a 'prompts' section")
    prompts: dict[str, dict[str, Text]] = {}
    for key, entry in data["prompts"].items():
        if not isinstance(key, str) or not KEY_RE.match(key):
            raise CatalogError(f"{path}: prompt key {key!r} must be lower-case letters, digits and _")
        if not isinstance(entry, dict) or not entry:
            raise CatalogError(f"{path}: {key}: expected a text per language")
        prompts[key] = {str(lang): _text(path, key, str(lang), value) for lang, value in entry.items()}
        if SOURCE_LANGUAGE not in prompts[key]:
            raise CatalogError(f"{path}: {key}: has no English source text")
    return Catalog(path=path, prompts=prompts)


def _text(path: Path, key: str, lang: str, value: Any) -> Text:
    if lang not in LANGUAGES:
        raise CatalogError(f"{path}: {key}: unknown language code {lang!r}")
    if isinstance(value, str) and value.strip():
        return Text(value.strip(), review=False)
    if isinstance(value, dict) and isinstance(value.get("text"), str) and value["text"].strip():
        review = value.get("review")
        if review not in (None, "needed", "done"):
            raise CatalogError(f"{path}: {key}.{lang}: review must be 'needed' or 'done', not {review!r}")
        return Text(value["text"].strip(), review=review == "needed", stand_in=_stand_in(path, key, lang, value))
    raise CatalogError(f"{path}: {key}.{lang}: expected text, or {{text: ..., review: needed}}")


def _stand_in(path: Path, key: str, lang: str, value: dict[str, Any]) -> tuple[str, str] | None:
    raw = value.get("stand_in")
    if raw is None:
        return None
    if (not isinstance(raw, dict) or len(raw) != 1 or next(iter(raw)) not in LANGUAGES
            or not isinstance(next(iter(raw.values())), str)):
        raise CatalogError(f"{path}: {key}.{lang}: stand_in must be {{language: text}}, e.g. {{th: ...}}")
    other, text = next(iter(raw.items()))
    return str(other), text.strip()
