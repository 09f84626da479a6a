"""How tall the prompts page is, in real Chromium, at a phone's 390×844 and a laptop's 1280×800.

    .venv/bin/python bench/prompts_page_height.py [--lang th] [--ui en] [--runs 3]

Sets up a throwaway deployment with the repository's prompt catalog (Thai and English placeholders
built with espeak-ng, two drafts from a speaker waiting for review, one edited text with history),
starts the real web UI on loopback, signs in as a second admin, and measures
document.documentElement.scrollHeight of:

- the list, `/prompts?lang=LANG` (the first page: 20 keys), and px per key shown;
- one key's own page, `/prompts/LANG/<key>` (recorder, upload, drafts, text, history), where the
  revision has it (a 404 is reported as such: before the list/key split every tool was on the list).

Each figure is the median of --runs loads. Reference: the same script run on the revision before the
split (`git stash` or another worktree), quoted in docs/prompts.md; target under ~3,500 px at 390 px.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from browser_support import ARGS, CHROMIUM  # noqa: E402

from ivr.admin.server import AdminServer  # noqa: E402
from ivr.admin.users import add_user, password_hash  # noqa: E402
from ivr.db.writer import Database  # noqa: E402
from ivr.prompts.build import PromptBuilder  # noqa: E402
from ivr.prompts.review import Person, PromptReview  # noqa: E402
from ivr.prompts.texts import save_text  # noqa: E402
from ivr.settings import Settings, load  # noqa: E402

PASSWORD = "bench password 123"
VIEWPORTS = ((390, 844), (1280, 800))
HEIGHT = "document.documentElement.scrollHeight"
SHOWN = "document.querySelectorAll('main [id].prompt, main li.prompt, main section.prompt').length"
DRAFT_KEYS = ("greeting", "main_menu")


def deployment(root: Path, lang: str) -> Settings:
    prompts = root / "prompts"
    prompts.mkdir()
    shutil.copy(REPO / "prompts" / "catalog.yaml", prompts / "catalog.yaml")
    settings = load(environ={}, mode="serve", flags={
        "data_dir": str(root / "var"), "secret_key": "bench-secret-key-0123456789abcdef",
        "prompts_dir": str(prompts), "flows_dir": str(REPO / "callflows"), "models_dir": str(root / "models"),
        "languages": ",".join(dict.fromkeys((lang, "en")))})
    settings = dataclasses.replace(settings, cookie_secure=False, admin_bind="127.0.0.1:0")
    PromptBuilder(settings).build(languages=list(dict.fromkeys((lang, "en"))))
    return settings


async def seed(settings: Settings, db: Database, root: Path, lang: str, ui: str) -> None:
    hashed = password_hash(PASSWORD, "x")
    speaker = await db.write(lambda conn: add_user(conn, "speaker", hashed, "admin", lang))
    reviewer = await db.write(lambda conn: add_user(conn, "reviewer", hashed, "admin", lang))
    await db.write(lambda conn: conn.execute("update users set ui_language = ? where id = ?", [ui, reviewer]))
    take = root / "take.wav"
    await asyncio.to_thread(subprocess.run, ["sox", "-n", "-r", "48000", "-c", "1", "-b", "16", str(take), "synth",
                                             "1.5", "sine", "300", "vol", "0.3"], check=True, capture_output=True)
    review = PromptReview(settings, db)
    for key in DRAFT_KEYS:
        await review.submit(lang, key, take, Person(speaker, "speaker", "admin", (lang,)), "upload")
    for words in ("first try", "second try"):
        await db.write(lambda conn, w=words: save_text(conn, settings, lang=lang, key="goodbye", text=w,
                                                       reviewed=False, user_id=speaker, username="speaker"))


async def measure(url: str, lang: str, runs: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    figures: dict[str, list[float]] = {}
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = await browser.new_page()
            await page.goto(url + "/login")
            await page.fill("input[name=username]", "reviewer")
            await page.fill("input[name=password]", PASSWORD)
            await page.click("button[type=submit], form button")
            await page.wait_for_load_state()
            for width, height in VIEWPORTS:
                await page.set_viewport_size({"width": width, "height": height})
                for name, path in (("list", f"/prompts?lang={lang}"), ("key", f"/prompts/{lang}/{DRAFT_KEYS[0]}")):
                    for _ in range(runs):
                        response = await page.goto(url + path)
                        await page.evaluate("document.fonts.ready")
                        if response is None or response.status != 200:
                            figures.setdefault(f"{name}@{width}", []).append(float("nan"))
                            continue
                        figures.setdefault(f"{name}@{width}", []).append(await page.evaluate(HEIGHT))
                        if name == "list":
                            figures.setdefault("keys", []).append(await page.evaluate(SHOWN))
        finally:
            await browser.close()
    return figures


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", default="th")
    parser.add_argument("--ui", default="en", help="the reviewer's UI language (en, th, my)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ivr-bench-prompts-") as tmp:
        root = Path(tmp)
        settings = deployment(root, args.lang)
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        db = Database(settings.db_path)
        server = AdminServer(settings, db)
        try:
            await seed(settings, db, root, args.lang, args.ui)
            await server.start()
            figures = await measure(server.url, args.lang, args.runs)
        finally:
            await server.stop()
            db.close()
    keys = statistics.median(figures.get("keys", [0])) or float("nan")
    print(f"prompts page height, lang={args.lang}, ui={args.ui}, median of {args.runs} loads; "
          f"list shows {keys:.0f} keys")
    for width, height in VIEWPORTS:
        listed = statistics.median(figures[f"list@{width}"])
        own = statistics.median(figures[f"key@{width}"])
        print(f"  {width}x{height}: list {listed:7.0f} px ({listed / keys:5.0f} px per key, "
              f"{listed / height:4.1f} screens)   one key's page {own:7.0f} px" if own == own else
              f"  {width}x{height}: list {listed:7.0f} px ({listed / keys:5.0f} px per key, "
              f"{listed / height:4.1f} screens)   one key's page: none (404)")
    print("  target: list under ~3,500 px at 390 px")


if __name__ == "__main__":
    asyncio.run(main())
