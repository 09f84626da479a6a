"""Whether a language may be offered in the language menu, and why not.

A language is ready when every prompt the call flow can play has, in that language:
- an approved human recording, or
- a machine placeholder, where IVR_PROMPT_PLACEHOLDERS allows them for the language, or
- the stand-in an administrator chose for it (ivr/prompts/standins.py; `ivr check` warns).
The language menu's own entry for the language (its name, said in the language) must be a human
recording whatever else is allowed: a caller who cannot recognise their language never gets to
the rest. Only IVR_PROMPT_PLACEHOLDER_MENU=true (demos and tests) lifts that.

Digits and small numbers (case and workplace codes read back) do not block a language: until they
are recorded they are read in the caller's fallback chain, and this says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ivr.flows.check import prompt_keys
from ivr.flows.load import flow_path, parse_flow
from ivr.flows.model import Flow
from ivr.prompts.build import PLACEHOLDER, RECORDED
from ivr.prompts.coverage import MISSING, UNREVIEWED, Cell, LanguageCoverage
from ivr.prompts.standins import COUNTING_KEY, stand_ins
from ivr.prompts.store import built_root, entry_name, load_manifest
from ivr.settings import Settings
from ivr.words import N_, Joined, Words, ngettext

SHOWN = 5
log = logging.getLogger(__name__)


@dataclass
class Readiness:
    """Each reason is :class:`ivr.words.Words`: /prompts shows it in the reader's language, and
    :attr:`blocking` and :attr:`warnings` are the English lines ("km: ...") for the command line and logs."""

    lang: str
    menu_key: str
    blocked: list[Words] = field(default_factory=list)   # why the language may not be offered (one each)
    notes: list[Words] = field(default_factory=list)     # what callers hear meanwhile that a person should know

    @property
    def ready(self) -> bool:
        return not self.blocked

    @property
    def blocking(self) -> list[str]:
        return [f"{self.lang}: {why}" for why in self.blocked]

    @property
    def warnings(self) -> list[str]:
        return [f"{self.lang}: {note}" for note in self.notes]


def _some(keys: list[str]) -> str | Words:
    shown = ", ".join(keys[:SHOWN])
    return Words(N_("%(keys)s, ... (%(n)s in all)"), keys=shown, n=len(keys)) if len(keys) > SHOWN else shown


def load_hotline_flow(settings: Settings) -> Flow | None:
    flow, _ = parse_flow(flow_path(settings.flows_dir, settings.flow))
    return flow


def flow_keys(flow: Flow, lang: str) -> tuple[set[str], str]:
    """The prompt keys the flow can play to a caller in ``lang``, and the language menu's key."""
    keys = {flow.prompt_key(str(flow.defaults[k]), lang)
            for k in ("invalid_prompt", "no_input_prompt") if k in flow.defaults}
    menu = "choose_language"
    for node in flow.nodes.values():
        keys |= {flow.prompt_key(k, lang) for k in prompt_keys(node)}
        if node.wait is not None and node.wait.kind == "language_menu":
            menu = str(node.wait.args.get("prompt", menu))
    return keys, flow.prompt_key(menu, lang)


def readiness(settings: Settings, flow: Flow, rows: list[LanguageCoverage]) -> list[Readiness]:
    standing = stand_ins(settings)
    manifest = load_manifest(built_root(settings))
    out = []
    for row in rows:
        keys, menu = flow_keys(flow, row.lang)
        cells = {c.key: c for c in row.cells}
        result = Readiness(row.lang, menu)
        placeholders_ok = settings.placeholders_allowed(row.lang)
        blocked: dict[str, tuple[Words, list[str]]] = {}   # by the reason's English: one line per reason
        stood_in: list[str] = []
        for key in sorted(keys):
            cell = cells.get(key)
            if cell is None:
                if key == menu:
                    _add(blocked, Words(N_("the language menu's own entry is not in the prompt catalog")), key)
                continue   # another key missing from the catalog: the flows check names it
            why = _why_not(cell, placeholders_ok)
            other = standing.get(row.lang)
            if not why and cell.stand_in and other and not settings.placeholders_allowed(other):
                entry = manifest.get(entry_name(cell.plays or other, key), {})
                if entry.get("kind") == PLACEHOLDER:
                    why = Words(N_("the %(other)s stand-in is only a machine placeholder there "
                                   "(IVR_PROMPT_PLACEHOLDERS does not allow them for %(other)s)"), other=other)
            if key == menu and cell.state != RECORDED and not settings.prompt_placeholder_menu:
                why = why or Words(N_("the language menu's own entry needs a human recording"))
            if why:
                _add(blocked, why, key)
            elif cell.stand_in:
                stood_in.append(key)
        for why, which in blocked.values():
            result.blocked.append(Words(N_("%(why)s: %(keys)s"), why=why, keys=_some(which)))
        if stood_in:
            result.notes.append(ngettext("%(n)s prompt plays the %(other)s stand-in an admin chose (%(keys)s)",
                                         "%(n)s prompts play the %(other)s stand-in an admin chose (%(keys)s)",
                                         len(stood_in), other=standing.get(row.lang), keys=_some(stood_in)))
        counting = [c for c in row.cells if COUNTING_KEY.match(c.key) and c.state != RECORDED]
        if counting:
            result.notes.append(_counting_note(counting))
        out.append(result)
    return out


def _add(blocked: dict[str, tuple[Words, list[str]]], why: Words, key: str) -> None:
    blocked.setdefault(str(why), (why, []))[1].append(key)


def _counting_note(counting: list[Cell]) -> Words:
    """Digits and numbers not recorded: what callers hear for them meanwhile."""
    heard = sorted({c.plays for c in counting if c.plays})
    silent = sum(1 for c in counting if not c.plays)
    parts = [ngettext("%(n)s digit or number is not recorded yet", "%(n)s digits and numbers are not recorded yet",
                      len(counting))]
    if heard:
        parts.append(Words(N_("codes are read in %(languages)s until they are"), languages=", ".join(heard)))
    if silent:
        parts.append(ngettext("%(n)s has nothing to play at all yet (`ivr prompts build` makes it)",
                              "%(n)s have nothing to play at all yet (`ivr prompts build` makes them)", silent))
    return Joined(parts, "; ")


def _why_not(cell: Cell, placeholders_ok: bool) -> Words | None:
    if cell.state == RECORDED:
        return None
    if cell.state == UNREVIEWED:   # it plays, but it never passed a second person (ivr/prompts/provenance.py)
        return Words(N_("unreviewed files (put in place by hand, approved by nobody; bring them in with "
                        "`ivr prompts import FOLDER --lang %(lang)s` and have a second person approve them)"),
                     lang=cell.lang)
    if cell.stand_in:
        return None
    if cell.state == MISSING:
        return Words(N_("no audio of its own, and no stand-in chosen")) if cell.plays is not None else \
            Words(N_("nothing plays"))
    if not placeholders_ok:
        return Words(N_("only a machine placeholder (IVR_PROMPT_PLACEHOLDERS does not allow them for this language)"))
    return None


def log_unready(settings: Settings) -> None:
    """At start-up: name each offered language that is not ready, and each stand-in in use."""
    from ivr.prompts.catalog import CatalogError
    from ivr.prompts.coverage import coverage
    from ivr.prompts.texts import catalog_for

    flow = load_hotline_flow(settings)
    try:
        catalog = catalog_for(settings)
    except CatalogError:
        return   # the build has said why
    if flow is None:
        return
    for result in readiness(settings, flow, coverage(settings, catalog)):
        for why in result.blocked:
            log.warning("language %s is offered but not ready (`ivr check` fails): %s", result.lang, why)
        for line in result.warnings:
            log.warning("%s", line)
