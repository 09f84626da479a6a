"""Which audio to play for a prompt key in a caller's language.

The resolver only ever names files that exist: when a prompt was not built in the
caller's language it plays the language an administrator chose as that language's stand-in
(ivr/prompts/standins.py; none by default), then English as a last resort. The first time each
key falls back it logs the chosen stand-in as information, and any other fallback as a warning
(`ivr check` fails for such a language). Digits and numbers
follow :func:`ivr.languages.fallback_chain` until they are recorded. When Asterisk
shares this machine, prompts play by absolute path; otherwise by the name under which
`ivr prompts install` put them in Asterisk's sounds folder (``sound:ivr/<lang>/<key>``).
"""

from __future__ import annotations

import logging
import re

from ivr.prompts.catalog import KEY_RE
from ivr.prompts.standins import chain, languages_path, read_stand_ins
from ivr.prompts.store import built_path, built_root, is_playable
from ivr.settings import Settings

log = logging.getLogger(__name__)

LANG_RE = re.compile(r"^[a-z]{2,3}$")
INSTALL_PREFIX = "ivr"  # the folder under Asterisk's sounds directory
LARGEST_NUMBER_KEY = 20  # number_10..number_20 are in the catalog; larger numbers are read digit by digit


class MissingPrompt(LookupError):
    """No built audio for the key in the language or any fallback. The message is one line."""


class PromptResolver:
    def __init__(self, settings: Settings) -> None:
        self._root = built_root(settings)
        self._local = settings.asterisk_local
        self._warned: set[tuple[str, str]] = set()
        self._standing_file = languages_path(settings)
        self._standing: tuple[float, dict[str, str]] = (-1.0, {})

    def _stand_ins(self) -> dict[str, str]:
        """The stand-in choices, read again only when the file changed (an admin may change them any time)."""
        try:
            mtime = self._standing_file.stat().st_mtime
        except OSError:
            mtime = 0.0
        if mtime != self._standing[0]:
            self._standing = (mtime, read_stand_ins(self._standing_file) if mtime else {})
        return self._standing[1]

    def chain(self, key: str, lang: str) -> list[str]:
        return chain(lang, key, self._stand_ins())

    def media(self, key: str, lang: str) -> list[str]:
        """The media URIs that play ``key`` in ``lang`` (or the nearest fallback that was built)."""
        if not KEY_RE.match(key):
            raise MissingPrompt(f"{key!r} is not a prompt key")
        if not LANG_RE.match(lang):
            raise MissingPrompt(f"{lang!r} is not a language code")
        languages = self.chain(key, lang)
        for candidate in languages:
            path = built_path(self._root, candidate, key)
            if not is_playable(path):
                continue
            if candidate != lang and (key, lang) not in self._warned:
                self._warned.add((key, lang))
                # The stand-in an admin chose is expected (`ivr check` names it); any other fallback is news.
                chosen = self._stand_ins().get(lang) == candidate
                log.log(logging.INFO if chosen else logging.WARNING,
                        "prompt %s has no %s audio; playing the %s prompt instead", key, lang, candidate)
            if self._local:
                return [f"sound:{path.with_suffix('')}"]
            return [f"sound:{INSTALL_PREFIX}/{candidate}/{key}"]
        raise MissingPrompt(f"prompt {key} is not built for {' or '.join(languages)}; run `ivr prompts build`")

    def digits(self, digits: str, lang: str) -> list[str]:
        """One prompt per digit, e.g. for reading a case code back."""
        if not digits or not all(d in "0123456789" for d in digits):
            raise ValueError("digits must be a non-empty string of 0-9")
        out: list[str] = []
        for d in digits:
            out.extend(self.media(f"digit_{d}", lang))
        return out

    def number(self, n: int, lang: str) -> list[str]:
        """A count said as a number up to 20, digit by digit beyond that."""
        if n < 0:
            raise ValueError("only numbers from 0 up can be said")
        if n < 10:
            return self.media(f"digit_{n}", lang)
        if n <= LARGEST_NUMBER_KEY:
            return self.media(f"number_{n}", lang)
        return self.digits(str(n), lang)
