"""`ivr check` for prompts: the catalog, the recordings beside it, and the built audio.

Flows' prompt keys are checked against the catalog by ivr.flows.check; this covers
every catalog key (digits and numbers too) in every enabled language.
"""

from __future__ import annotations

from ivr.checks import WARNING, check
from ivr.languages import LANGUAGES
from ivr.prompts.catalog import CatalogError
from ivr.prompts.coverage import UNREVIEWED, LanguageCoverage, coverage
from ivr.prompts.readiness import load_hotline_flow, readiness
from ivr.prompts.sources import find_sources
from ivr.prompts.store import MANIFEST, built_root
from ivr.prompts.texts import catalog_for
from ivr.settings import Settings

SHOWN = 5  # keys named in one problem line before "..."


def _some(keys: list[str]) -> str:
    return ", ".join(keys[:SHOWN]) + (f", ... ({len(keys)} in all)" if len(keys) > SHOWN else "")


@check("prompts")
def check_prompts(settings: Settings) -> list[str]:
    try:
        catalog = catalog_for(settings)
    except CatalogError as exc:
        return [str(exc)]
    problems: list[str] = []
    for lang in settings.languages:
        sources = find_sources(settings.prompts_dir, lang)
        problems += sources.problems
        problems += [f"{path}: no key {key!r} in {catalog.path.name}"
                     for key, path in sources.by_key.items() if key not in catalog.prompts]
        untranslated = [k for k in catalog.keys if catalog.text(k, lang) is None and k not in sources.by_key]
        if untranslated:
            problems.append(f"{catalog.path}: no {lang} text or recording for {_some(untranslated)}")
    root = built_root(settings)
    if not (root / MANIFEST).exists():
        problems.append(f"{root}: prompts are not built yet; run `ivr prompts build`")
        return problems
    rows = coverage(settings, catalog)
    problems += language_problems(settings, rows)
    for row in rows:
        silent = [c.key for c in row.cells if c.plays is None]
        if silent:
            problems.append(f"{root}/{row.lang}: nothing would play for {_some(silent)}; run `ivr prompts build`")
        stale = [c.key for c in row.cells if c.stale]
        if stale:
            problems.append(f"{settings.prompts_dir}/{row.lang}: recordings changed since the last build: "
                            f"{_some(stale)}; run `ivr prompts build`")
        unreviewed = [c.key for c in row.cells if c.state == UNREVIEWED]
        if unreviewed:
            # They play (an upgrade never silences a language), but never passed a second person.
            problems.append(f"{WARNING}{row.lang}: {len(unreviewed)} unreviewed files play to callers (put in "
                            f"{settings.prompts_dir}/{row.lang} or {root}/{row.lang} by hand, approved by nobody): "
                            f"{_some(unreviewed)}; `ivr prompts import FOLDER --lang {row.lang}` makes them drafts "
                            "for a second person to approve")
        failed = [c.key for c in row.cells if c.error]
        if failed:
            problems.append(f"{root}/{row.lang}: the last build failed for {_some(failed)}; see `ivr prompts status`")
    return problems


def language_problems(settings: Settings, rows: list[LanguageCoverage]) -> list[str]:
    """A language offered (IVR_LANGUAGES) but not ready fails the check; a stand-in only warns."""
    flow = load_hotline_flow(settings)
    if flow is None:
        return []   # the flows check says why
    problems: list[str] = []
    for result in readiness(settings, flow, rows):
        if not result.ready:
            problems.append(f"IVR_LANGUAGES offers {result.lang} ({LANGUAGES[result.lang].english}), which is not "
                            f"ready: " + "; ".join(map(str, result.blocked)))
        problems += [WARNING + line for line in result.warnings]
    return problems
