"""Recording a prompt in a real Chromium with a fake microphone, a second person approving it, and an
emulated call then hearing it: the whole path from a speaker's voice to a caller's ear."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from admin_helpers import PASSWORD
from browser_support import ARGS, CHROMIUM, FAKE_MICROPHONE
from conftest import REPO
from engine_rig import Rig, running_rig
from prompts_helpers import run

from ivr.admin.server import AdminServer
from ivr.admin.users import add_user, password_hash

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed"),
]


@pytest.fixture
async def hotline(tmp_path: Path) -> AsyncIterator[tuple[Rig, AdminServer]]:
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    shutil.copy(REPO / "prompts" / "catalog.yaml", prompts / "catalog.yaml")   # approvals write beside it
    async with running_rig(tmp_path, languages=("en", "th"), flags={"prompts_dir": str(prompts)}) as rig:
        settings = dataclasses.replace(rig.settings, cookie_secure=False, admin_bind="127.0.0.1:0")
        hashed = password_hash(PASSWORD, "x")
        await rig.database.write(lambda db: (add_user(db, "nok", hashed, "admin", "th"),
                                             add_user(db, "somchai", hashed, "admin", "th")))
        server = AdminServer(settings, rig.database)
        await server.start()
        try:
            yield rig, server
        finally:
            await server.stop()


def microphone(tmp_path: Path) -> Path:
    """What the fake microphone hears: speech with a second of silence before and after (to trim)."""
    speech = tmp_path / "speech.wav"
    run("espeak-ng", "-v", "th", "-w", str(speech), "แจ้งปัญหาในที่ทำงาน กด 1")
    out = tmp_path / "microphone.wav"
    run("sox", str(speech), "-r", "48000", "-c", "1", "-b", "16", str(out), "vol", "0.5", "pad", "1", "1")
    return out


async def sign_in(page: Page, url: str, username: str) -> None:
    await page.goto(url + "/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_load_state()


async def test_record_in_the_browser_approve_and_a_caller_hears_it(hotline: tuple[Rig, AdminServer],
                                                                  tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    rig, server = hotline
    built = rig.settings.data_dir / "prompts" / "th" / "main_menu.wav"
    before = built.read_bytes()
    args = [*ARGS, *FAKE_MICROPHONE, f"--use-file-for-fake-audio-capture={microphone(tmp_path)}"]
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            context = await browser.new_context(viewport={"width": 390, "height": 844})
            await context.grant_permissions(["microphone"], origin=server.url)
            page = await context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            await sign_in(page, server.url, "nok")
            await page.goto(server.url + "/prompts?lang=th&status=placeholder#main_menu")
            row = page.locator("li#main_menu")
            assert "แจ้งปัญหาในที่ทำงาน" in await row.locator(".script").inner_text()   # the text to read
            # Its play button plays the current prompt in the page (without JavaScript it is a link to the file).
            await row.locator("a.play").click()
            await page.wait_for_function("() => document.querySelector('#main_menu a.play[aria-pressed]')")
            assert page.url.endswith("/prompts?lang=th&status=placeholder#main_menu")
            await row.locator("a.prompt-open").click()   # the key's own page holds its recorder
            await page.wait_for_url("**/prompts/th/main_menu?status=placeholder")
            assert "แจ้งปัญหาในที่ทำงาน" in await page.locator("section#main_menu p.script").inner_text()
            recorder = page.locator(".recorder")
            await recorder.wait_for(state="visible")
            await recorder.locator("[data-act=record]").click()
            await page.wait_for_timeout(3000)   # the speaker reads (real time: the microphone is live)
            await recorder.locator("[data-act=stop]").click()
            await recorder.locator("[data-act=preview]").wait_for(state="visible")
            trimmed = await recorder.locator("[data-act=preview]").evaluate(
                "a => new Promise(r => a.duration ? r(a.duration) : a.addEventListener('loadedmetadata', "
                "() => r(a.duration)))")
            assert 0.5 < trimmed < 2.9, trimmed   # the silence before and after the words was cut
            await recorder.locator("[data-act=submit]").click()
            status = recorder.locator("[data-act=status]")
            await page.wait_for_function("s => s.textContent.includes('kept as a draft')",
                                         arg=await status.element_handle(), timeout=30_000)
            assert built.read_bytes() == before, "a draft must not reach callers"
            [draft] = await rig.database.query("select * from prompt_recordings")
            assert (draft["lang"], draft["key"], draft["state"], draft["via"]) == ("th", "main_menu", "draft", "web")

            # The speaker cannot approve their own take; a second Thai speaker can.
            await page.goto(server.url + "/prompts?lang=th&status=draft")
            assert await page.locator("li.prompt").count() == 1
            assert "Draft awaiting approval" in await page.locator("li#main_menu").inner_text()
            await page.locator("li#main_menu a.prompt-open").click()
            assert "you submitted this one" in await page.locator("section#main_menu").inner_text()
            second = await browser.new_context(viewport={"width": 1280, "height": 900})
            reviewer = await second.new_page()
            await sign_in(reviewer, server.url, "somchai")
            await reviewer.goto(server.url + "/prompts?lang=th&status=draft")
            await reviewer.locator("li#main_menu a.prompt-open").click()
            await reviewer.click(f"button:has-text('Approve draft {draft['id']}')")
            await reviewer.wait_for_url("**done=approved**")
            assert not [e for e in errors if "Content Security Policy" in e], errors
        finally:
            await browser.close()

    approved = built.read_bytes()
    assert approved != before
    # A Thai caller now hears that recording.
    caller = await rig.dial()
    await rig.pick_language(caller, "th")
    played = await caller.wait_prompt("th/main_menu")
    assert played.media_uri == f"sound:{built.resolve().with_suffix('')}"   # the file that now holds the take
    await caller.hangup()
    actions = [r["action"] for r in await rig.database.query(
        "select action from audit_log where action like 'prompt.%' order by id")]
    assert actions == ["prompt.submit", "prompt.approve"]
