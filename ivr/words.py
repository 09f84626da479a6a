"""Words a person reads that Python builds, marked for the web UI's catalogs and translated when shown.

``N_()`` marks a string for ``pybabel extract -k N_`` (admin/locale, see ivr.admin.i18n, which
loads the catalogs); :class:`Words` keeps a marked string with its ``%(name)s`` fields until the
page is drawn; :class:`ShownError` is an error whose message is such words. This module imports
nothing, so any part (the registry, the rota, call-backs) can word its refusals without pulling
in the web UI.
"""

from __future__ import annotations

from collections.abc import Callable


def N_(message: str) -> str:
    """Marks a string in Python for the catalog (pybabel extract -k N_); it is translated when shown."""
    return message


class Words:
    """Words a person reads that Python builds (a refusal, a form error): the catalog's text, marked
    with ``N_()``, and its ``%(name)s`` fields, kept apart until the page is drawn so each reader gets
    their own language (``ivr.admin.render.shown``). ``str()`` is the English, for the command line.

    A field may itself be ``Words`` (a marked word such as "transcript"); it is translated too.
    """

    __slots__ = ("fields", "text")

    def __init__(self, text: str, **fields: object) -> None:
        self.text = text
        self.fields = fields

    def translate(self, gettext: Callable[[str], str]) -> str:
        translated = gettext(self.text)
        if not self.fields:
            return translated
        return translated % {k: v.translate(gettext) if isinstance(v, Words) else v for k, v in self.fields.items()}

    def __str__(self) -> str:
        return self.translate(_english)

    def __repr__(self) -> str:
        return f"Words({self.text!r}, **{self.fields!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Words) and (self.text, self.fields) == (other.text, other.fields)

    __hash__ = None  # type: ignore[assignment]


def _english(message: str) -> str:
    return message


class ShownError(Exception):
    """An error whose message a person reads: ``raise Refused(N_("The note is too long (more than
    %(n)s characters)."), n=MAX_TEXT)``, or ``raise UserError(other.words)`` to pass one on."""

    def __init__(self, text: str | Words, **fields: object) -> None:
        self.words = text if isinstance(text, Words) else Words(text, **fields)
        super().__init__(str(self.words))
