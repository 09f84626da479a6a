# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""Listening and typing on the case page, in real Chromium: shortcuts, speed, loop, timestamps, the
waveform, and a draft that survives a closed tab."""

from __future__ import annotations

import pytest
from admin_helpers import (  # noqa: F401
    PASSWORD,
    admin_template,
    insert_reported_case,
    server,
    users,
    web_db,
    web_settings,
)
from browser_support import ARGS as BASE_ARGS
from browser_support import AUTOPLAY, CHROMIUM

from ivr.admin.peaks import from_samples
from ivr.admin.server import AdminServer
from ivr.db.writer import Database
from ivr.settings import Settings

ARGS = [*BASE_ARGS, AUTOPLAY]


def test_peaks_keep_the_loudest_sample_of_each_stretch() -> None:
    import array

    samples = array.array("h", [0, 100, -16384, 5] * 10 + [0] * 40)
    assert from_samples(samples, buckets=2) == [0.5, 0.0]


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed")
async def test_typing_with_shortcuts_and_a_draft_that_survives_a_closed_tab(
        server: AdminServer, web_db: Database, web_settings: Settings, users: dict[str, int]) -> None:
    from playwright.async_api import async_playwright

    case = await web_db.write(lambda db: insert_reported_case(db, web_settings.data_dir, language="my"))
    url = f"{server.url}/cases/{case['case_id']}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await page.goto(server.url + "/login")
            await page.fill("input[name=username]", "cw_my")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button:has-text('Sign in')")
            await page.wait_for_url("**/cases")
            await page.goto(url)
            # The waveform's peaks came from the server and were drawn.
            await page.wait_for_function("() => document.querySelector('canvas.wave').dataset.duration > 0")
            await page.click("summary:has-text('Correct the transcript')")
            area = page.locator("form[data-kind=transcript] textarea")
            await area.click()
            await area.press("Escape")  # play
            await page.wait_for_function("() => !document.querySelector('audio').paused")
            await area.press("Escape")  # pause
            await page.wait_for_function("() => document.querySelector('audio').paused")
            before = await page.evaluate("document.querySelector('audio').currentTime")
            await area.press("Alt+Period")
            await page.wait_for_function(f"() => document.querySelector('audio').currentTime > {before + 0.5}")
            await page.select_option(".player select", "0.5")
            rate = await page.evaluate("[document.querySelector('audio').playbackRate, "
                                       "document.querySelector('audio').preservesPitch]")
            assert rate == [0.5, True]
            # Clicking three quarters along the waveform jumps there.
            wave = page.locator("canvas.wave")
            box = await wave.bounding_box()
            assert box is not None
            await wave.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
            at = await page.evaluate("document.querySelector('audio').currentTime")
            assert 1.3 < at < 1.7  # of a 2-second message
            await area.fill("")
            await area.press("Alt+KeyT")
            await area.type("ပတ်စပို့ ယူထား")
            typed = await area.input_value()
            assert typed.startswith("[0:01] ") and typed.endswith("ပတ်စပို့ ယူထား")
            # The loop: from here, to here, then it plays that stretch again.
            await page.click("button:has-text('Loop from here')")
            await page.click("button:has-text('Loop to here')")
            assert await page.locator("button:has-text('Stop loop')").is_visible()
            await page.click("button:has-text('Stop loop')")
            await page.close()  # the tab is closed mid-draft: nothing was saved to the server

            again = await context.new_page()
            await again.goto(url)
            restored = again.locator("form[data-kind=transcript] textarea")
            assert await restored.input_value() == typed
            assert await again.locator(".draft-restored").is_visible()
            await again.click("form[data-kind=transcript] button.primary")
            await again.wait_for_url("**done=saved")
            assert not await again.locator(".draft-restored").count()  # saved: the draft is gone
            stored = await again.evaluate("Object.keys(localStorage).filter(k => k.startsWith('ivr-draft:'))")
            assert stored == []
            assert not errors, errors
        finally:
            await browser.close()
    saved = await web_db.query("select text, version, engine from transcripts order by id desc limit 1")
    assert saved[0]["text"] == typed and saved[0]["engine"] == "human"
