"""Words a person reads that Python builds, marked for the web UI's catalogs and translated when shown.

``N_()`` marks a string for ``pybabel extract -k N_`` (admin/locale, see ivr.admin.i18n, which
loads the catalogs), and :func:`ngettext` one with a singular and a plural; :class:`Words` keeps a
marked string with its ``%(name)s`` fields until the page is drawn (:class:`Joined`, several of
them); :class:`ShownError` is an error whose message is such words. This module imports
nothing, so any part (the registry, the rota, call-backs) can word its refusals without pulling
in the web UI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

Gettext = Callable[[str], str]
Ngettext = Callable[[str, str, int], str]


def N_(message: str) -> str:
    """Marks a string in Python for the catalog (pybabel extract -k N_); it is translated when shown."""
    return message


def ngettext(singular: str, plural: str, n: int, **fields: object) -> Words:
    """Words with a count (``%(n)s``) in the form the reader's language uses for ``n``:
    ``ngettext("%(n)s prompt plays ...", "%(n)s prompts play ...", len(keys))``. Named after gettext's
    own so ``pybabel extract`` (whose default keywords include it) keeps both forms in the catalog;
    like ``N_`` it translates nothing itself."""
    words = Words(singular, n=n, **fields)
    words.plural = plural
    return words


class Words:
    """Words a person reads that Python builds (a refusal, a form error): the catalog's text, marked
    with ``N_()``, and its ``%(name)s`` fields, kept apart until the page is drawn so each reader gets
    their own language (``ivr.admin.render.shown``). ``str()`` is the English, for the command line.

    A field may itself be ``Words`` (a marked word such as "transcript"); it is translated too.
    """

    __slots__ = ("fields", "plural", "text")

    def __init__(self, text: str, **fields: object) -> None:
        self.text = text
        self.plural: str | None = None  # set by :func:`ngettext`: then ``fields["n"]`` is the count
        self.fields = fields

    def translate(self, gettext: Gettext, ngettext: Ngettext | None = None) -> str:
        """In the language of ``gettext`` (and ``ngettext``, for words with a count; without it the
        English rule picks the form, which is then looked up with ``gettext``)."""
        if self.plural is None:
            translated = gettext(self.text)
        else:
            n = self.fields["n"]
            assert isinstance(n, int)
            translated = ngettext(self.text, self.plural, n) if ngettext is not None else \
                gettext(self.text if n == 1 else self.plural)
        if not self.fields:
            return translated
        return translated % {k: v.translate(gettext, ngettext) if isinstance(v, Words) else v
                             for k, v in self.fields.items()}

    def __str__(self) -> str:
        return self.translate(_english)

    def to_data(self) -> dict[str, object]:
        """The words as JSON can keep them (a stored reason, e.g. a failed build in the prompts manifest),
        to be shown later in each reader's language: :func:`words_from_data` reads them back. A field
        that is itself words stays words; any other value is kept as it is if JSON holds it, else as text."""
        data: dict[str, object] = {"text": self.text, "fields": {k: _field_data(v) for k, v in self.fields.items()}}
        if self.plural is not None:
            data["plural"] = self.plural
        return data

    def __repr__(self) -> str:
        plural = "" if self.plural is None else f", plural={self.plural!r}"
        return f"Words({self.text!r}{plural}, **{self.fields!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Words) and type(other) is type(self) and \
            (self.text, self.plural, self.fields) == (other.text, other.plural, other.fields)

    __hash__ = None  # type: ignore[assignment]


class Joined(Words):
    """Several ``Words`` shown one after another: sentences (``sep=" "``) or a list of reasons (``"; "``),
    each translated on its own."""

    __slots__ = ("parts", "sep")

    def __init__(self, parts: Sequence[Words], sep: str = " ") -> None:
        super().__init__("")
        self.parts = tuple(parts)
        self.sep = sep

    def translate(self, gettext: Gettext, ngettext: Ngettext | None = None) -> str:
        return self.sep.join(part.translate(gettext, ngettext) for part in self.parts)

    def to_data(self) -> dict[str, object]:
        return {"parts": [part.to_data() for part in self.parts], "sep": self.sep}

    def __repr__(self) -> str:
        return f"Joined({list(self.parts)!r}, sep={self.sep!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Joined) and (self.parts, self.sep) == (other.parts, other.sep)


def _english(message: str) -> str:
    return message


def _field_data(value: object) -> object:
    if isinstance(value, Words):
        return {"words": value.to_data()}
    return value if value is None or isinstance(value, str | int | float | bool) else str(value)


def words_from_data(data: object) -> Words | None:
    """Words kept by :meth:`Words.to_data`; None for anything else (a file written by an older version,
    or damaged), so the caller shows what it kept as plain text instead. Words whose fields no longer
    fill their text (the message changed since) are refused the same way, rather than failing on a page."""
    try:
        words = _from_data(data)
        str(words)   # every %(name)s has its field (the catalog's translations keep the same fields)
    except (TypeError, ValueError, KeyError, RecursionError):
        return None
    return words


def _from_data(data: object) -> Words:
    if not isinstance(data, dict):
        raise TypeError("not words")
    if "parts" in data:
        parts, sep = data["parts"], data.get("sep", " ")
        if not isinstance(parts, list) or not isinstance(sep, str):
            raise TypeError("not joined words")
        return Joined([_from_data(part) for part in parts], sep)
    text, fields, plural = data.get("text"), data.get("fields", {}), data.get("plural")
    if not isinstance(text, str) or not text or not isinstance(fields, dict) or \
            not (plural is None or isinstance(plural, str)):
        raise TypeError("not words")
    words = Words(text, **{str(k): _from_data(v["words"]) if isinstance(v, dict) else v for k, v in fields.items()})
    if plural is not None:
        if not isinstance(words.fields.get("n"), int):
            raise TypeError("a plural without its count")
        words.plural = plural
    return words


class ShownError(Exception):
    """An error whose message a person reads: ``raise Refused(N_("The note is too long (more than
    %(n)s characters)."), n=MAX_TEXT)``, or ``raise UserError(other.words)`` to pass one on."""

    def __init__(self, text: str | Words, **fields: object) -> None:
        self.words = text if isinstance(text, Words) else Words(text, **fields)
        super().__init__(str(self.words))
