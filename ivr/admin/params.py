"""Numbers taken from a request (path ids, query filters, form fields): one strict parser for all.

``str.isdigit()`` accepts "²" and other Unicode digits that ``int()`` then refuses, and a
40-digit id overflows SQLite's 64-bit integers; both used to end in a 500. Every id or number
a handler reads from a request goes through :func:`parse_int`: ASCII digits only, within a
range, else None; :func:`path_id` turns that into a 404, :func:`form_int` into a 400.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ivr.admin.i18n import http_error
from ivr.words import N_, Words

# What a number in the address names, for "There is no ... with this number."
THINGS = {"page": N_("page"), "case": N_("case"), "recording": N_("recording"), "account": N_("account")}

# SQLite's largest integer: a bigger id cannot name a row.
MAX_ID = 2**63 - 1


def parse_int(raw: object, *, low: int = 0, high: int = MAX_ID) -> int | None:
    """``raw`` as an int when it is ASCII digits 0-9 within ``low``..``high``; else None."""
    if not isinstance(raw, str):
        return None
    text = raw.strip()
    if not text or len(text) > len(str(high)) or not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if low <= value <= high else None


def path_id(request: web.Request, name: str = "id", what: str = "page") -> int:
    """The id in the address (``/cases/{id}``); anything but a plain number is a 404. ``what`` is one of
    :data:`THINGS`, named in the reader's language."""
    value = parse_int(request.match_info.get(name, ""), low=1)
    if value is None:
        raise http_error(web.HTTPNotFound, N_("There is no %(what)s with this number."),
                         what=Words(THINGS.get(what, N_("page"))))
    return value


def form_int(form: Mapping[str, Any], name: str, *, low: int = 0, high: int = MAX_ID) -> int:
    """A number a form must carry (hidden ids, versions); a missing or wrong one is a 400."""
    value = parse_int(form.get(name, ""), low=low, high=high)
    if value is None:
        raise web.HTTPBadRequest(text=N_("The form was incomplete. Reload the page and try again."))
    return value
