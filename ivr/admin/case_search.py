"""Full-text search over cases (``case_search``, FTS5 with the trigram tokenizer; see m1601).

Each word of the query must appear somewhere in the case's text, as a substring, so a Thai
or Burmese word is found in the middle of a sentence written without spaces. Words of three
characters or more go through the trigram index; shorter ones (a two-letter Burmese syllable,
a Thai word of two characters) cannot be looked up as trigrams. Alongside words of three or more,
they are checked with LIKE on the rows the index matched. A query of short words only is answered
from the index's vocabulary (``case_search_terms``, m1604): every place a short word occurs starts
some trigram, since each case's text ends with two line ends, so the cases holding trigrams that
begin with the word, found by a range over the sorted terms, are exactly the cases containing it.
"""

from __future__ import annotations

import html
import re
import unicodedata
from typing import Any

from markupsafe import Markup

from ivr.words import N_, ShownError

MAX_TERMS = 8
MAX_LENGTH = 200
SNIPPET_CHARS = 70


class SearchError(ShownError, ValueError):
    """A query that cannot be searched; the message says what to change."""


def terms(query: str) -> list[str]:
    """The words of ``query``, normalised as stored text is (NFC), without duplicates."""
    text = unicodedata.normalize("NFC", query).strip()
    if len(text) > MAX_LENGTH:
        raise SearchError(N_("The search is too long: use at most %(n)s characters."), n=MAX_LENGTH)
    words = list(dict.fromkeys(w for w in text.split() if w))
    if len(words) > MAX_TERMS:
        raise SearchError(N_("Search for at most %(n)s words at a time."), n=MAX_TERMS)
    return words


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def where(words: list[str]) -> tuple[str, list[Any]]:
    """SQL over ``case_search s`` (joined on ``s.rowid = c.id``) for cases containing every word."""
    long = [w for w in words if len(w) >= 3]
    short = [w for w in words if len(w) < 3]
    parts: list[str] = []
    args: list[Any] = []
    if long:
        parts.append("case_search match ?")
        args.append(" ".join('"' + w.replace('"', '""') + '"' for w in long))
    for w in short:
        if long:
            parts.append("s.body like ? escape '\\'")
            args.append(_like(w))
        else:
            # The index folds case as lower() does; U+10FFFF sorts after anything that can follow the word.
            parts.append("s.rowid in (select doc from case_search_terms where term >= ? and term < ?)")
            args += [w.lower(), w.lower() + "\U0010ffff"]
    return " and ".join(parts) or "0", args


def snippet(body: str, words: list[str]) -> Markup:
    """A short stretch of ``body`` around the first match, every match marked with <mark>."""
    if not words:
        return Markup("")
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    text = " ".join(body.split())
    first = pattern.search(text)
    start = max(0, first.start() - SNIPPET_CHARS) if first else 0
    end = min(len(text), (first.end() if first else 0) + SNIPPET_CHARS)
    piece = text[start:end]
    out: list[str] = ["…" if start else ""]
    pos = 0
    for m in pattern.finditer(piece):
        out.append(html.escape(piece[pos:m.start()]))
        out.append(f"<mark>{html.escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(html.escape(piece[pos:]))
    out.append("…" if end < len(text) else "")
    return Markup("".join(out))
