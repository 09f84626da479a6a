"""The emergency banner in real Chromium: on any page, within 5 s, with a sound and a desktop notification."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from admin_helpers import PASSWORD, insert_case
from browser_support import ARGS, CHROMIUM

from ivr.admin.server import AdminServer
from ivr.admin.users import add_user, password_hash
from ivr.db.writer import Database
from ivr.settings import Settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed"),
]

# Counts notifications the page shows (the real API, wrapped so the test can see it was used).
RECORD_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.__notified = [];
  function Wrapped(title, options) { window.__notified.push(title); return new Real(title, options); }
  Object.defineProperty(Wrapped, "permission", { get: () => Real.permission });
  Wrapped.requestPermission = (...a) => Real.requestPermission(...a);
  window.Notification = Wrapped;
})();
"""


@pytest.fixture
async def server(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[AdminServer, Database]]:
    s = dataclasses.replace(settings, cookie_secure=False, admin_bind="127.0.0.1:0")
    database = Database(s.db_path)
    hashed = password_hash(PASSWORD, "x")
    await database.write(lambda db: add_user(db, "lek", hashed, "caseworker", "my"))
    srv = AdminServer(s, database)
    await srv.start()
    try:
        yield srv, database
    finally:
        await srv.stop()
        database.close()


async def test_banner_sound_and_notification_on_any_page(server: tuple[AdminServer, Database]) -> None:
    from playwright.async_api import async_playwright

    srv, database = server
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})   # a phone
            await context.grant_permissions(["notifications"], origin=srv.url)
            await context.add_init_script(RECORD_NOTIFICATIONS)
            page = await context.new_page()
            errors: list[str] = []
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            await page.goto(srv.url + "/login")
            await page.fill("input[name=username]", "lek")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url("**/cases")
            await page.goto(srv.url + "/cases?status=closed")     # any page, not only the queue
            banner = page.locator("#oncall-banner")
            assert await banner.is_hidden()
            case_id = await database.write(lambda db: insert_case(db, language="km", priority=3, emergency=1))
            await banner.wait_for(state="visible", timeout=5_000)
            text = await banner.inner_text()
            assert "emergency call has not been taken" in text and f"Open case {case_id}" in text
            await page.wait_for_function("document.getElementById('oncall-banner').dataset.sound === 'running'",
                                         timeout=5_000)
            assert await page.evaluate("window.__notified") == ["Emergency on the hotline"]
            box = await banner.bounding_box()
            assert box is not None and box["width"] <= 390       # fits a phone screen
            # Taken elsewhere: the banner goes away on the next poll.
            await database.write(lambda db: db.execute(
                "update cases set status = 'acknowledged', acknowledged_at = created_at where id = ?", [case_id]))
            await banner.wait_for(state="hidden", timeout=5_000)
            assert errors == []
        finally:
            await browser.close()
