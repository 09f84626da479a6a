"""The web UI in the caseworkers' languages: English, Thai and Burmese.

Templates mark their words with ``{% trans %}`` or ``_()`` (Jinja2's i18n extension). The
catalogs are Babel ``.po`` files in ``admin/locale/<lang>/LC_MESSAGES/messages.po``, extracted
with ``pybabel extract`` (see README) and compiled in memory when the web UI starts, so no
``.mo`` is committed. A machine-drafted translation carries gettext's ``fuzzy`` flag until a
person has checked it (like ``needs_review`` in prompts/catalog.yaml); it is shown meanwhile,
since a draft in the reader's language beats English they may not read.

Python marks its words with ``N_()`` (ivr.words); a refusal or form error keeps them with their
fields as :class:`ivr.words.Words` and is translated when the page is drawn
(``ivr.admin.render.shown``, and :func:`http_error` for error pages).
"""

from __future__ import annotations

import gettext
import io
import logging
from pathlib import Path

import jinja2
from aiohttp import web
from babel.messages import mofile, pofile

from ivr.words import N_, Words

log = logging.getLogger(__name__)

LOCALE_DIR = Path(__file__).resolve().parents[2] / "admin" / "locale"
DOMAIN = "messages"
# The UI's languages, each named in itself (a reader finds their own language by its look).
UI_LANGUAGES = {"en": "English", "th": "ไทย", "my": "မြန်မာ"}
DEFAULT = "en"


# Words the templates translate when shown but that live in Python (roles; ivr.cases.STATUS_LABELS).
ROLE_WORDS = (N_("caseworker"), N_("supervisor"), N_("admin"), N_("brand"))
STATUS_WORDS = (N_("New"), N_("Acknowledged"), N_("In progress"), N_("Referred"), N_("Resolved"), N_("Closed"))

# ivr.cases: CATEGORIES, PRIORITIES, OUTCOMES, CALLBACK_WINDOWS, STEP_LABELS (a test checks all are here).
CASE_WORDS = (
    N_("Wages unpaid or late"), N_("Documents held by the employer"), N_("Debt or recruitment fees"),
    N_("Excessive hours"), N_("Threats or violence"), N_("Locked in or movement restricted"),
    N_("Unsafe work or housing"), N_("Something else"), N_("low"), N_("normal"), N_("high"), N_("emergency"),
    N_("Completed"), N_("Hung up before choosing"), N_("Hung up during the call"),
    N_("Caller pressed * to leave fast"), N_("Ended by a system error"), N_("Passed to a caseworker"),
    N_("Morning"), N_("Afternoon"), N_("Evening"), N_("Heard the greeting"),
    N_("Language known from an earlier call"), N_("Chose a language"), N_("Main menu"), N_("Chose the problem"),
    N_("Problem chosen"), N_("Asked for the workplace code"), N_("Workplace code checked"),
    N_("Workplace code not recognised"), N_("Report opened"), N_("Recorded the report"), N_("Recorded a message"),
    N_("Report saved"), N_("Heard their case code"), N_("Asked to keep the case code"),
    N_("Heard the case code again"), N_("Message saved"), N_("Call-back: number"),
    N_("Call-back: no number available"), N_("Call-back: agreed to be called"), N_("Call-back: chose a safe time"),
    N_("Call-back requested"), N_("Follow-up on a case"), N_("Entered a case code"), N_("Case code checked"),
    N_("Case code not recognised"), N_("Too many wrong case codes"), N_("Checked for a reply"),
    N_("Heard the caseworker's reply"), N_("No reply yet"), N_("Asked to add to the case"),
    N_("Recorded more for the case"), N_("Addition saved"), N_("Emergency"),
    N_("Emergency: put through to a person"), N_("Asked for a person"), N_("Put through to a person"),
    N_("Office closed"), N_("Call finished"), N_("Goodbye"), N_("Ended without a sound"),
)
# ivr.languages: callers' languages by their English names.
LANGUAGE_WORDS = (
    N_("Burmese"), N_("Khmer"), N_("Lao"), N_("Thai"), N_("Nepali"), N_("Vietnamese"), N_("English"), N_("Shan"),
    N_("Indonesian"), N_("Filipino"), N_("Korean"),
)
# ivr.supply.remediation: KINDS and STATUSES.
REMEDIATION_WORDS = (
    N_("Unpaid wages paid"), N_("Recruitment fees repaid"), N_("Documents returned"),
    N_("Working hours brought within the law"), N_("Safety or housing fixed"), N_("Grievance channel set up"),
    N_("Threats or violence stopped"), N_("Other"), N_("Agreed, not yet done"), N_("Done"),
    N_("Not done (supplier failed)"), N_("Cancelled"),
)


def http_error(kind: type[web.HTTPException], text: str, **fields: object) -> web.HTTPException:
    """An HTTP error with a handler's own words and their fields, shown in the reader's language:
    ``raise http_error(web.HTTPNotFound, N_("There is no case number %(n)s."), n=case_id)``. Words
    without fields need no helper: ``raise web.HTTPNotFound(text=N_("..."))`` is translated too."""
    words = Words(text, **fields)
    exc = kind(text=str(words))
    exc.ui_words = words  # type: ignore[attr-defined]
    return exc


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def load(language: str) -> gettext.NullTranslations:
    """The compiled catalog for ``language``; English (the source) when there is none."""
    path = po_path(language)
    if language == DEFAULT or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        catalog = pofile.read_po(f, locale=language)
    buffer = io.BytesIO()
    mofile.write_mo(buffer, catalog, use_fuzzy=True)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Translations:
    """Every UI language's catalog, loaded once."""

    def __init__(self) -> None:
        self.by_language = {code: load(code) for code in UI_LANGUAGES}

    def get(self, language: str | None) -> gettext.NullTranslations:
        return self.by_language.get(language or DEFAULT, self.by_language[DEFAULT])


def install(env: jinja2.Environment, translations: Translations) -> None:
    """Gettext for templates, in the language of the page being drawn (``ui_language`` in its context)."""

    # Jinja's "newstyle" wrapper fills in the %(name)s variables and escapes them.
    @jinja2.pass_context
    def _gettext(context: jinja2.runtime.Context, message: str) -> str:
        return translations.get(context.get("ui_language")).gettext(message)

    @jinja2.pass_context
    def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, n: int) -> str:
        return translations.get(context.get("ui_language")).ngettext(singular, plural, n)

    env.add_extension("jinja2.ext.i18n")
    env.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]


def best(accept_language: str) -> str:
    """The UI language a browser asks for (Accept-Language), for pages before signing in."""
    for part in accept_language.split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in UI_LANGUAGES:
            return code
    return DEFAULT
