# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The case page's reply recorder in real headless Chromium: a failed upload says why.

It used to say "Please sign in again." for any answer that was not JSON, a 413 for a file that is
too big included. Answers the server cannot give on demand (a proxy's HTML 413, a 5xx, a dropped
connection) are made by Playwright's router; the real 413 comes from our own server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from admin_helpers import (  # noqa: F401
    admin_template,
    insert_reported_case,
    users,
    web_db,
    web_settings,
)
from browser_support import ARGS as BASE_ARGS
from browser_support import CHROMIUM, FAKE_MICROPHONE

from ivr.admin.auth import SESSIONS
from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.settings import Settings

ARGS = [*BASE_ARGS, *FAKE_MICROPHONE]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed"),
]


@pytest.fixture
async def small_server(web_settings: Settings, web_db: Database, users: dict[str, int],
                       monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[AdminServer, int]]:
    # Smaller than any recorded message (a WebM header alone is bigger): the server's own, real 413.
    # The browser is signed in by cookie, so no request but the upload has a body.
    monkeypatch.setattr("ivr.admin.app.MAX_UPLOAD_BYTES", 100)
    case = web_db.write_sync(lambda db: insert_reported_case(db, web_settings.data_dir))
    server = AdminServer(web_settings, web_db)
    await server.start()
    try:
        yield server, int(case["case_id"])
    finally:
        await server.stop()


async def _record(page: Any) -> None:
    """Record a moment with Chromium's fake microphone."""
    await page.click("#rec-start")
    await page.wait_for_function("() => document.getElementById('rec-stop').disabled === false")
    await page.click("#rec-stop")
    await page.wait_for_function("() => document.getElementById('rec-save').disabled === false")


def _answer(status: int, content_type: str, body: str) -> Any:
    async def answer(route: Any) -> None:
        await route.fulfill(status=status, content_type=content_type, body=body)

    return answer


async def _save(page: Any) -> str:
    await page.click("#rec-save")
    await page.wait_for_function("() => !['', 'Saving…'].includes(document.getElementById('rec-status').textContent)")
    return str(await page.locator("#rec-status").inner_text())


async def test_a_failed_reply_upload_says_why(small_server: tuple[AdminServer, int],
                                              users: dict[str, int]) -> None:
    from playwright.async_api import async_playwright

    server, case_id = small_server
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context()
            await context.grant_permissions(["microphone"], origin=server.url)
            assert server.app is not None
            token = await server.app[SESSIONS].create(users["super"])
            await context.add_cookies([{"name": "ivr-session", "value": token, "url": server.url}])
            page = await context.new_page()
            await page.goto(f"{server.url}/cases/{case_id}")
            assert await page.locator("#rec-start").is_visible()
            await _record(page)

            said = await _save(page)  # our own server's 413: the file is too big
            assert "too big" in said and "sign in" not in said.lower()

            answers = {
                "proxy-413": (413, "text/html", "<html><body>413 Request Entity Too Large</body></html>", "too big"),
                "forbidden": (403, "text/plain", "This form had expired", "refused"),
                "server": (502, "text/html", "<html>Bad Gateway</html>", "error 502"),
                "ended": (401, "text/plain", "Your session has ended.", "sign in again"),
            }
            for status, content_type, body, expected in answers.values():
                await page.route("**/reply", _answer(status, content_type, body))
                said = await _save(page)
                await page.unroute("**/reply")
                assert expected in said.lower() or expected in said, (status, said)
                if status != 401:
                    assert "sign in" not in said.lower(), (status, said)

            async def drop(route: Any) -> None:
                await route.abort("connectionreset")

            await page.route("**/reply", drop)
            said = await _save(page)
            assert "connection to the server failed" in said
        finally:
            await browser.close()
