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

SHOWN = 5
log = logging.getLogger(__name__)


@dataclass
class Readiness:
    lang: str
    menu_key: str
    blocking: list[str] = field(default_factory=list)   # why the language may not be offered (one line each)
    warnings: list[str] = field(default_factory=list)   # what callers hear meanwhile that a person should know

    @property
    def ready(self) -> bool:
        return not self.blocking


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (f", ... ({len(keys)} in all)" if len(keys) > SHOWN else "")


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
        blocked: dict[str, list[str]] = {}
        stood_in: list[str] = []
        for key in sorted(keys):
            cell = cells.get(key)
            if cell is None:
                if key == menu:
                    blocked.setdefault("the language menu's own entry is not in the prompt catalog", []).append(key)
                continue   # another key missing from the catalog: the flows check names it
            why = _why_not(cell, placeholders_ok)
            other = standing.get(row.lang)
            if not why and cell.stand_in and other and not settings.placeholders_allowed(other):
                entry = manifest.get(entry_name(cell.plays or other, key), {})
                if entry.get("kind") == PLACEHOLDER:
                    why = (f"the {other} stand-in is only a machine placeholder there "
                           f"(IVR_PROMPT_PLACEHOLDERS does not allow them for {other})")
            if key == menu and cell.state != RECORDED and not settings.prompt_placeholder_menu:
                why = why or "the language menu's own entry needs a human recording"
            if why:
                blocked.setdefault(why, []).append(key)
            elif cell.stand_in:
                stood_in.append(key)
        for why, which in blocked.items():
            result.blocking.append(f"{row.lang}: {why}: {_some(which)}")
        if stood_in:
            result.warnings.append(f"{row.lang}: {len(stood_in)} prompts play the {standing.get(row.lang)} stand-in "
                                   f"an admin chose ({_some(stood_in)})")
        counting = [c for c in row.cells if COUNTING_KEY.match(c.key) and c.state != RECORDED]
        if counting:
            heard = sorted({c.plays for c in counting if c.plays})
            silent = sum(1 for c in counting if not c.plays)
            parts = [f"codes are read in {', '.join(heard)} until they are"] if heard else []
            if silent:
                parts.append(f"{silent} have nothing to play at all yet (`ivr prompts build` makes them)")
            result.warnings.append(f"{row.lang}: {len(counting)} digits and numbers are not recorded yet; "
                                   + "; ".join(parts))
        out.append(result)
    return out


def _why_not(cell: Cell, placeholders_ok: bool) -> str:
    if cell.state == RECORDED:
        return ""
    if cell.state == UNREVIEWED:   # it plays, but it never passed a second person (ivr/prompts/provenance.py)
        return ("unreviewed files (put in place by hand, approved by nobody; bring them in with "
                f"`ivr prompts import FOLDER --lang {cell.lang}` and have a second person approve them)")
    if cell.stand_in:
        return ""
    if cell.state == MISSING:
        return "no audio of its own, and no stand-in chosen" if cell.plays is not None else "nothing plays"
    if not placeholders_ok:
        return "only a machine placeholder (IVR_PROMPT_PLACEHOLDERS does not allow them for this language)"
    return ""


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
        for line in result.blocking:
            log.warning("language %s is offered but not ready (`ivr check` fails): %s", result.lang,
                        line.split(": ", 1)[1])
        for line in result.warnings:
            log.warning("%s", line)
