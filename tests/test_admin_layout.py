# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""Every page, for every role, in real Chromium at a phone's 390×844 and a laptop's 1280×800.

On each: the page itself never scrolls sideways (wide tables scroll in their own box), no text
is under 11 px (chart text included, measured as drawn), controls are at least 44 px high (links in a
table row or a list item 44 px each way), and axe-core (from npm, web/node_modules, injected into
the page) finds no serious or critical violation. A screenshot of each is saved in the test's output
folder (IVR_SCREENSHOTS=dir keeps copies). One browser, one server, one page per role.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from admin_helpers import (  # noqa: F401
    PASSWORD,
    admin_template,
    insert_case,
    insert_reported_case,
    server,
    users,
    web_db,
    web_settings,
)
from browser_support import ARGS, CHROMIUM

from ivr.admin.server import AdminServer
from ivr.admin.users import add_user
from ivr.db.writer import Database
from ivr.settings import Settings
from ivr.supply import codes, registry
from ivr.supply.registry import Workplace

AXE_URL = "/static/__test_axe.js"
AXE = Path(__file__).resolve().parents[1] / "web" / "node_modules" / "axe-core" / "axe.min.js"
VIEWPORTS = ((390, 844), (1280, 800))
CODE = codes.make_code(10001)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed"),
    pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed: run scripts/setup.sh (npm ci in web/)"),
]

# What the page measures: sideways overflow, text smaller than 11 px as drawn, controls under 44 px.
MEASURE = """() => {
  const out = {overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
               small: [], targets: []};
  const shown = el => { const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
                        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'; };
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own || !shown(el)) continue;
    let px = parseFloat(getComputedStyle(el).fontSize);
    if (el instanceof SVGElement && el.getScreenCTM()) {
      const m = el.getScreenCTM(); px = px * Math.hypot(m.b, m.d);
    }
    if (px < 11) out.small.push(`${el.tagName} ${px.toFixed(1)}px: ${el.textContent.trim().slice(0, 30)}`);
  }
  const controls = 'button, select, input:not([type=checkbox]):not([type=radio]):not([type=hidden]), ' +
                   'a.button, a.open, nav a, summary, textarea';
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    const what = (el.textContent || el.name).trim().slice(0, 30);
    if (r.height < 43.5) out.targets.push(`${el.tagName} ${r.height.toFixed(0)}px: ${what}`);
  }
  // Links in a table's rows and in a list's items (a row's "Edit · Cases", a brand's "cases · report")
  // are what a thumb taps on a phone: each at least 44 px each way.
  for (const el of document.querySelectorAll('main td a, main th a, main li a')) {
    if (!shown(el)) continue;
    const r = el.getBoundingClientRect();
    if (r.height < 43.5 || r.width < 43.5) {
      out.targets.push(`link ${r.width.toFixed(0)}×${r.height.toFixed(0)}px: ${el.textContent.trim().slice(0, 30)}`);
    }
  }
  return out;
}"""


UI_LANGUAGE_OF = {"cw_my": "my", "super": "th", "admin": "my"}  # acme, the brand, reads English


def _seed(db: sqlite_utils.Database, data_dir: Path) -> dict[str, Any]:
    hashed = db.execute("select password_hash from users where username = 'admin'").fetchone()[0]
    registry.add_supplier(db, "Thread Co")
    wp = registry.save_workplace(db, Workplace(CODE, "Big Mill", "Mae Sot", "", "Thread Co", ("Acme",)))
    brand = registry.brand_id(db, "Acme")
    add_user(db, "acme", hashed, "brand", "", brand)
    reported = insert_reported_case(db, data_dir, language="my", text="ဌာနမှ ပတ်စပို့ ယူထားသည် passport",
                                    workplace_id=wp, workplace_code=CODE, callback_requested=1)
    db.execute("insert into case_notes (case_id, body, created_at) values (?, 'Called the union.', '2026-11-01')",
               [reported["case_id"]])
    for i in range(30):
        insert_case(db, language=("my", "th", "km")[i % 3], priority=(1, 2, 3)[i % 3], workplace_id=wp,
                    workplace_confirmed=1, status=("new", "acknowledged", "in_progress")[i % 3])
    # A draft waiting for review, so a prompt's own page shows its player and the approve and reject forms.
    db.execute("insert into prompt_recordings (lang, key, state, file, seconds, via, submitted_by_name, "
               "submitted_at) values ('my', 'main_menu', 'draft', 'my-main_menu-1.wav', 2.5, 'upload', 'super', "
               "'2026-11-01T10:00:00Z')")
    # Pages are read in each UI language: Burmese has the longest words, and Thai breaks lines without spaces.
    for username, language in UI_LANGUAGE_OF.items():
        db.execute("update users set ui_language = ? where username = ?", [language, username])
    return {"case": reported["case_id"], "workplace": wp, "brand": brand}


def _pages(seed: dict[str, Any]) -> dict[str, list[str]]:
    case, wp, brand = seed["case"], seed["workplace"], seed["brand"]
    return {
        "cw_my": ["/cases", f"/cases/{case}", "/cases?q=passport", "/dashboard"],
        "super": ["/cases", f"/cases/{case}", "/dashboard", "/approvals", "/workplaces", "/workplaces/cases",
                  f"/workplaces/{wp}",
                  "/brand", f"/brand/{brand}"],
        "admin": ["/users", "/prompts", "/prompts/my/main_menu", "/settings", "/audit", "/oncall", "/workplaces",
                  f"/workplaces/{wp}", f"/brand/{brand}"],
        "acme": ["/brand", f"/brand/{brand}", "/cases"],
    }


# Measured and shot as finally drawn: a script's font is fetched when text in it is first laid out,
# so wait for the fonts over a few frames (until then the page shows boxes for that script).
FONTS_LOADED = """async () => {
  for (let i = 0; i < 4; i++) {
    await document.fonts.ready;
    await new Promise(done => requestAnimationFrame(() => setTimeout(done, 50)));
  }
}"""


def _keep(path: Path) -> None:
    target = os.environ.get("IVR_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


async def _check(page: Any, url: str, name: str, out: Path, problems: list[str]) -> None:
    for width, height in VIEWPORTS:
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(url)
        await page.evaluate(FONTS_LOADED)
        found = await page.evaluate(MEASURE)
        where = f"{name} at {width}px"
        if found["overflow"] > 0:
            problems.append(f"{where}: the page scrolls sideways by {found['overflow']} px")
        problems += [f"{where}: text under 11 px: {s}" for s in found["small"][:5]]
        problems += [f"{where}: control under 44 px: {s}" for s in found["targets"][:5]]
        await page.add_script_tag(url="/".join(url.split("/")[:3]) + AXE_URL)
        axe = await page.evaluate("""async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.filter(v => ['serious', 'critical'].includes(v.impact))
                    .map(v => `${v.id}: ${v.nodes.slice(0, 2).map(n => n.target.join(' ')).join(' | ')}`);
        }""")
        problems += [f"{where}: axe {v}" for v in axe]
        shot = out / f"{name}-{width}.png"
        await page.screenshot(path=str(shot), full_page=True)
        _keep(shot)


# The prompts list stays a list a reviewer scans on a phone: one short row per key, and the heavy tools
# (recorder, upload, review, text) only on a key's own page. Every tool on every row made it 11,000 px.
PROMPT_ROWS = """() => ({
  rows: [...document.querySelectorAll('ul.prompts > li.prompt')].map(li => li.getBoundingClientRect().height),
  tools: document.querySelectorAll('main .recorder, main input[type=file], main textarea, ' +
                                   'main form[action*="/approve"], main audio').length,
  height: document.documentElement.scrollHeight,
})"""


async def _prompts_list_is_short(page: Any, url: str) -> list[str]:
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(url + "/prompts?lang=th")
    await page.evaluate(FONTS_LOADED)
    found = await page.evaluate(PROMPT_ROWS)
    problems = []
    if len(found["rows"]) != 20:
        problems.append(f"/prompts shows {len(found['rows'])} rows, not a page of 20")
    if found["tools"]:
        problems.append(f"/prompts has {found['tools']} recorders, file inputs, text boxes, reviews or players "
                        "in its list (they belong on a key's own page)")
    tall = [h for h in found["rows"] if h > 844 / 4]
    if tall:
        problems.append(f"/prompts at 390 px: {len(tall)} rows taller than a quarter of the screen: {tall[:3]}")
    if found["height"] > 20 * 844 / 4:
        problems.append(f"/prompts at 390 px is {found['height']} px tall for 20 keys")
    return problems


# A key's own page leads to the neighbouring keys of the list: two links a thumb can hit, each naming its key.
NEIGHBOURS = """() => [...document.querySelectorAll('nav.keys a')].map(a => {
  const r = a.getBoundingClientRect();
  return {rel: a.rel, text: a.textContent.trim(), href: a.getAttribute('href'), width: r.width, height: r.height};
})"""


async def _key_page_leads_on(page: Any, url: str) -> list[str]:
    problems = []
    for width, height in VIEWPORTS:
        await page.set_viewport_size({"width": width, "height": height})
        await page.goto(url + "/prompts/my/main_menu")
        await page.evaluate(FONTS_LOADED)
        links = await page.evaluate(NEIGHBOURS)
        if sorted(link["rel"] for link in links) != ["next", "prev"]:
            problems.append(f"/prompts/my/main_menu at {width}px: neighbour links {links}, not previous and next")
        for link in links:
            key = link["href"].split("?")[0].rsplit("/", 1)[-1]
            if key not in link["text"] or link["height"] < 43.5 or link["width"] < 43.5:
                problems.append(f"/prompts/my/main_menu at {width}px: {link} (not named by its key, or under 44 px)")
    return problems


# On a phone, in Burmese or Thai: the header stays short and shows the current page's link
# (the admin's menu filled half the screen, and /oncall's link was off it); the queue starts with its
# search box, its filters folded (they filled the first screen), and each case (or user) shows its problem,
# state and assignee (or actions) without scrolling sideways. On a laptop the filters are open.
PHONE = """() => {
  const vw = document.documentElement.clientWidth;
  const box = s => { const el = document.querySelector(s); return el ? el.getBoundingClientRect() : null; };
  const here = box('.top nav a[aria-current]');
  const out = {header: box('header.top').height, here: !!here && here.left >= 0 && here.right <= vw};
  const cards = [...document.querySelectorAll('.cards > .card')].map(c => c.getBoundingClientRect());
  if (cards.length) {
    out.cards = Math.max(...cards.map(r => r.bottom)) - Math.min(...cards.map(r => r.top));
  }
  const jump = document.querySelector('nav.jump');
  if (jump) {  // the case page: shortcuts to its actions, history and notes in the first screen
    const links = [...jump.querySelectorAll('a')];
    out.jump = links.length > 0 && jump.getBoundingClientRect().bottom < 844 / 2 &&
               links.every(a => document.querySelector(a.getAttribute('href')));
  }
  const q = box('form[action="/cases"] input[name=q]');
  if (q) {
    out.search_top = q.top + window.scrollY;
    out.filters_open = document.querySelector('details.more-filters').open;
    const scroll = document.querySelector('#queue').parentElement;
    out.cut = scroll.scrollWidth - scroll.clientWidth;
    // Lines of text in each case's Problem cell (the 4th): it wrapped to three while Notes had room.
    out.problem_lines = Math.max(0, ...[...document.querySelectorAll('#queue tr[data-id] td:nth-child(4)')].map(td => {
      const range = document.createRange(); range.selectNodeContents(td);
      return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size;
    }));
  }
  // The users list: a red "Deactivate" shows only once its own "Deactivate…" is opened, never beside
  // "Reset password" where a thumb can hit it by mistake.
  out.danger_shown = [...document.querySelectorAll('#users button.danger')].filter(
    b => b.checkVisibility()).length;
  const row = document.querySelector('#queue tr[data-id], #users tr:not(.head)');
  if (row) {
    out.cells_off_screen = [...row.querySelectorAll('td')].filter(
      td => { const r = td.getBoundingClientRect(); return r.width > 0 && r.right > vw; }).length;
  }
  return out;
}"""
PHONE_PAGES = {"cw_my": ("/cases", "/cases/{case}"), "admin": ("/oncall", "/users"), "super": ("/dashboard",)}


async def _on_a_phone(page: Any, url: str) -> list[str]:
    problems = []
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.goto(url)
    await page.evaluate(FONTS_LOADED)
    found = await page.evaluate(PHONE)
    if found["header"] > 844 / 4:
        problems.append(f"{url} at 390 px: the header is {found['header']:.0f} px tall")
    if not found["here"]:
        problems.append(f"{url} at 390 px: the menu's link to this page is off the screen")
    if found.get("cards", 0) > 844 / 3:  # the dashboard's live figures: one card a screen hid the charts
        problems.append(f"{url} at 390 px: the live figures take {found['cards']:.0f} px")
    if "/cases/" in url and not found.get("jump"):
        problems.append(f"{url} at 390 px: no shortcuts to the case's actions, activity and notes near the top")
    if found["danger_shown"]:
        problems.append(f"{url} at 390 px: {found['danger_shown']} Deactivate buttons show without being asked for")
    if found.get("cells_off_screen"):
        problems.append(f"{url} at 390 px: {found['cells_off_screen']} cells of a row are off the screen")
    if "search_top" in found:
        if found["search_top"] > 844 / 2:
            problems.append(f"{url} at 390 px: the search box starts {found['search_top']:.0f} px down")
        if found["filters_open"]:
            problems.append(f"{url} at 390 px: the filters are open before any is used")
        await page.set_viewport_size({"width": 1280, "height": 800})
        await page.goto(url)
        wide = await page.evaluate(PHONE)
        if not wide["filters_open"]:
            problems.append(f"{url} at 1280 px: the filters are folded away")
        if wide["problem_lines"] > 2:
            problems.append(f"{url} at 1280 px: a case's problem wraps to {wide['problem_lines']} lines")
        if wide["cut"]:
            problems.append(f"{url} at 1280 px: the queue's last {wide['cut']} px are cut off (scroll to see them)")
    return problems


async def test_every_page_fits_phones_and_laptops(server: AdminServer, web_db: Database,
                                                  web_settings: Settings, users: dict[str, int],
                                                  tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    seed = await web_db.write(lambda db: _seed(db, web_settings.data_dir))
    out = tmp_path / "screens"
    out.mkdir()
    problems: list[str] = []
    seen = 0
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context()
            # axe-core is served as if from the app itself, so the pages keep their own strict CSP.
            await context.route("**" + AXE_URL, lambda route: route.fulfill(path=str(AXE),
                                                                            content_type="text/javascript"))
            errors: list[str] = []
            context.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            anon = await context.new_page()
            await _check(anon, server.url + "/login", "login", out, problems)
            await anon.close()
            for username, paths in _pages(seed).items():
                page = await context.new_page()
                await context.clear_cookies()
                await page.goto(server.url + "/login")
                await page.fill("input[name=username]", username)
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button:has-text('Sign in')")
                await page.wait_for_load_state()
                for path in paths:
                    name = f"{username}-{path.strip('/').replace('/', '-').replace('?', '-').replace('=', '-')}"
                    await _check(page, server.url + path, name, out, problems)
                    if await page.evaluate("document.documentElement.lang") != UI_LANGUAGE_OF.get(username, "en"):
                        problems.append(f"{name}: not in {username}'s language")
                    seen += 1
                for path in PHONE_PAGES.get(username, ()):
                    problems += await _on_a_phone(page, server.url + path.format(**seed))
                if "/prompts" in paths:
                    problems += await _prompts_list_is_short(page, server.url)
                    problems += await _key_page_leads_on(page, server.url)
                await page.close()
        finally:
            await browser.close()
    print(f"screenshots: {out}")
    assert seen == sum(len(p) for p in _pages(seed).values())
    assert len(list(out.glob("*.png"))) == 2 * (seen + 1)
    assert not problems, "\n".join(problems)
    # No script error, no blocked style or script, nothing missing (a brand user's /cases is a 403 on purpose).
    assert not [e for e in errors if "status of 403" not in e], errors
