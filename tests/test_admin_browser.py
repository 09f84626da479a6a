"""End to end in headless Chromium: an emulated call makes a case; a caseworker works it in the web UI.

Emulator + call engine (tests/engine_rig.py) create the case exactly as in production;
the web UI runs on loopback against the same database; Debian's Chromium is driven by
Playwright. Screenshots go to the test's tmp dir (IVR_SCREENSHOTS=dir keeps copies).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from admin_helpers import PASSWORD
from browser_support import ARGS as BASE_ARGS
from browser_support import AUTOPLAY, CHROMIUM
from engine_rig import Rig, running_rig

from ivr.admin.server import AdminServer
from ivr.admin.users import add_user, password_hash
from ivr.db import utcnow

ARGS = [*BASE_ARGS, AUTOPLAY]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed"),
]


@pytest.fixture
async def hotline(tmp_path: Path) -> AsyncIterator[tuple[Rig, AdminServer]]:
    async with running_rig(tmp_path, languages=("en", "th")) as rig:
        settings = dataclasses.replace(rig.settings, cookie_secure=False, admin_bind="127.0.0.1:0")
        hashed = password_hash(PASSWORD, "x")
        await rig.database.write(lambda db: add_user(db, "mai", hashed, "supervisor"))
        server = AdminServer(settings, rig.database)
        await server.start()
        try:
            yield rig, server
        finally:
            await server.stop()


async def emulated_report(rig: Rig) -> dict[str, Any]:
    """A worker calls, chooses English, leaves a message, keeps it, and hangs up."""
    caller = await rig.dial()
    await rig.pick_language(caller, "en")
    await rig.menu(caller, "main_menu", "2")
    await rig.leave_message(caller)
    await caller.wait_hung_up(slack=30)
    return await rig.ended_call(caller)


def shot(tmp_path: Path, name: str) -> Path:
    path = tmp_path / f"{name}.png"
    keep = os.environ.get("IVR_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
    return path


def keep(path: Path) -> None:
    target = os.environ.get("IVR_SCREENSHOTS")
    if target:
        shutil.copy(path, Path(target) / path.name)


async def test_caseworker_works_a_case_from_an_emulated_call(hotline: tuple[Rig, AdminServer],
                                                              tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    rig, server = hotline
    call = await emulated_report(rig)
    case_id = call["case_id"]
    assert case_id is not None

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(server.url + "/cases")
            await page.fill("input[name=username]", "mai")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url("**/cases")
            row = page.locator(f"tr[data-id='{case_id}']")
            await row.wait_for()
            assert "new" in (await row.inner_text()).lower()
            # A new emergency case appears without a reload (the page polls /cases/live).
            urgent = await rig.database.write(lambda db: db.execute(
                "insert into cases (language, priority, emergency, status, created_at, updated_at) "
                "values ('en', 3, 1, 'new', ?, ?)", [utcnow(), utcnow()]).lastrowid)
            await page.locator(f"tr.emergency[data-id='{urgent}']").wait_for(timeout=15_000)
            assert await page.locator("#emergency-banner").is_visible()
            assert await page.locator("#live-note").is_visible()
            await page.screenshot(path=shot(tmp_path, "queue"), full_page=True)
            keep(tmp_path / "queue.png")

            await page.click(f"a[href='/cases/{case_id}']")
            await page.wait_for_url(f"**/cases/{case_id}")
            # Play the caller's message: the player streams it through the signed-in audio route.
            played = await page.evaluate("""async () => {
                const a = document.querySelector('audio');
                await a.play();
                await new Promise(r => setTimeout(r, 400));
                a.currentTime = 0.5;  // seeking needs Range support
                await new Promise(r => a.addEventListener('seeked', r, {once: true}));
                return {time: a.currentTime, duration: a.duration, error: a.error && a.error.code};
            }""")
            assert played["error"] is None and played["duration"] > 0.5 and played["time"] >= 0.5

            transcript = page.locator("form[action$='/transcripts']:has(input[value=transcript])")
            await transcript.locator("textarea").fill("My employer took my passport. <script>alert(1)</script>")
            await transcript.locator("button").click()
            await page.wait_for_url("**done=saved")
            assert "<script>alert(1)</script>" in await page.locator(".transcript").first.inner_text()

            await page.click("button:has-text('Mark as acknowledged')")
            await page.wait_for_url("**done=status")
            assert "acknowledged" in (await page.locator("h1").inner_text()).lower()
            await page.screenshot(path=shot(tmp_path, "case"), full_page=True)
            keep(tmp_path / "case.png")
            await page.set_viewport_size({"width": 768, "height": 1024})  # a tablet
            await page.screenshot(path=shot(tmp_path, "case-tablet"))
            keep(tmp_path / "case-tablet.png")
            await page.set_viewport_size({"width": 1280, "height": 900})

            await page.click("nav >> text=Dashboard")
            await page.wait_for_url("**/dashboard")
            backlog = await page.locator("#backlog table").inner_text()
            acknowledged_row = next(line for line in backlog.splitlines() if line.startswith("Acknowledged"))
            assert acknowledged_row.split()[-1] == "1"
            await page.screenshot(path=shot(tmp_path, "dashboard"), full_page=True)
            keep(tmp_path / "dashboard.png")
            await page.click("#calls_per_day summary")
            per_day = await page.locator("#calls_per_day table").inner_text()
            assert sum(int(line.split()[1]) for line in per_day.splitlines()[1:]) == 1, per_day
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            await browser.close()

    actions = [r["action"] for r in await rig.database.query("select action from audit_log order by id")]
    for action in ("signin", "case.view", "recording.play", "transcript.edit", "case.status"):
        assert action in actions, action
