"""HTML to PDF with headless Chromium (``--print-to-pdf``), for brand reports.

The page is written to a private temporary directory and printed from a file URL,
so Chromium never talks to the network or to our own server.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "chromium", "chromium-browser")
TIMEOUT_S = 60.0


class PdfError(Exception):
    """No PDF could be made; the message says why in one line."""


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


async def html_to_pdf(html: str, *, chromium: str | None = None) -> bytes:
    binary = chromium or find_chromium()
    if binary is None:
        raise PdfError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="ivr-pdf-") as tmp:
        page, out = Path(tmp) / "report.html", Path(tmp) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        proc = await asyncio.create_subprocess_exec(
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
            f"--user-data-dir={tmp}/profile", f"--print-to-pdf={out}", page.as_uri(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise PdfError(f"chromium took longer than {TIMEOUT_S:.0f} s") from None
        if proc.returncode != 0 or not out.exists():
            last = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
            raise PdfError(f"chromium exited with {proc.returncode}: {last[0][:200]}")
        return out.read_bytes()
