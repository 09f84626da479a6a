"""deploy/nginx/ivr.conf, run here with a self-signed certificate in front of `ivr admin`:
a supervisor signs in over HTTPS in Chromium and gets a Secure __Host- session cookie."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from admin_helpers import PASSWORD
from browser_support import ARGS, CHROMIUM
from conftest import REPO, free_port

from ivr.admin.server import AdminServer
from ivr.admin.users import add_user, password_hash
from ivr.db.writer import Database
from ivr.settings import Settings

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's /usr/bin/chromium is not installed"),
    pytest.mark.skipif(not Path(NGINX).exists(), reason="nginx is not installed (scripts/setup.sh installs it)"),
]


def proxy_config(tmp: Path, *, https: int, http: int, upstream: int) -> Path:
    """The shipped site config with only its addresses, names and certificate paths changed."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(tmp / "key.pem"),
                    "-out", str(tmp / "cert.pem")], check=True, capture_output=True)
    site = (REPO / "deploy/nginx/ivr.conf").read_text()
    for old, new in (("listen 443 ssl http2;", f"listen 127.0.0.1:{https} ssl http2;"),
                     ("listen 80;", f"listen 127.0.0.1:{http};"),
                     ("listen [::]:443 ssl http2;", ""), ("listen [::]:80;", ""),
                     ("/etc/letsencrypt/live/hotline.example.org/fullchain.pem", str(tmp / "cert.pem")),
                     ("/etc/letsencrypt/live/hotline.example.org/privkey.pem", str(tmp / "key.pem")),
                     ("http://127.0.0.1:8080", f"http://127.0.0.1:{upstream}"),
                     ("server_name hotline.example.org;", "server_name 127.0.0.1;")):
        assert old in site, old
        site = site.replace(old, new)
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    temp = {k: tmp / k for k in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    main.write_text(
        f"daemon off;\nworker_processes 1;\npid {tmp / 'nginx.pid'};\nerror_log {tmp / 'error.log'};\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + "events { worker_connections 64; }\nhttp {\n"
        + "".join(f"  {k}_temp_path {v};\n" for k, v in
                  (("client_body", temp["body"]), ("proxy", temp["proxy"]), ("fastcgi", temp["fastcgi"]),
                   ("uwsgi", temp["uwsgi"]), ("scgi", temp["scgi"])))
        + f"  include {tmp / 'site.conf'};\n}}\n")
    return main


@pytest.fixture
async def proxied(settings: Settings, tmp_path: Path) -> AsyncIterator[tuple[str, str]]:
    web_settings = dataclasses.replace(settings, admin_bind="127.0.0.1:0", cookie_secure=True)
    database = Database(web_settings.db_path)
    hashed = password_hash(PASSWORD, "x")
    await database.write(lambda db: add_user(db, "mai", hashed, "supervisor"))
    admin = AdminServer(web_settings, database)
    await admin.start()
    https, http = free_port(), free_port()
    conf = await asyncio.to_thread(proxy_config, tmp_path, https=https, http=http, upstream=admin.port)
    checked = await asyncio.create_subprocess_exec(NGINX, "-t", "-c", str(conf), stderr=asyncio.subprocess.PIPE)
    _, err = await checked.communicate()
    assert checked.returncode == 0, err.decode()
    nginx = await asyncio.create_subprocess_exec(NGINX, "-c", str(conf), stdout=asyncio.subprocess.DEVNULL,
                                                 stderr=asyncio.subprocess.DEVNULL)
    try:
        async with asyncio.timeout(20):
            while True:
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", https)
                    writer.close()
                    break
                except OSError:
                    assert nginx.returncode is None, (tmp_path / "error.log").read_text()
                    await asyncio.sleep(0.05)
        yield f"https://127.0.0.1:{https}", f"http://127.0.0.1:{http}"
    finally:
        nginx.terminate()
        await nginx.wait()
        await admin.stop()
        database.close()


async def test_sign_in_through_https_gets_a_secure_host_cookie(proxied: tuple[str, str]) -> None:
    from playwright.async_api import async_playwright

    base, plain = proxied
    async with aiohttp.ClientSession() as http:
        async with http.get(plain + "/cases", allow_redirects=False) as r:
            assert r.status == 301 and r.headers["Location"] == "https://127.0.0.1/cases"
        async with http.get(base + "/healthz", ssl=False) as r:
            assert r.status == 404, "health and metrics are not served to the internet"

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            first = await page.goto(base + "/cases")
            assert first is not None
            await page.fill("input[name=username]", "mai")
            await page.fill("input[name=password]", PASSWORD)
            async with page.expect_response(lambda r: r.url.endswith("/cases")) as landed:
                await page.click("button:has-text('Sign in')")
            response = await landed.value
            await page.wait_for_url("**/cases")
            assert "max-age=63072000" in (await response.all_headers())["strict-transport-security"]
            assert "content-security-policy" in await response.all_headers()
            assert await page.locator("h1").count() > 0
            cookies = {c["name"]: c for c in await context.cookies()}
            session = [c for name, c in cookies.items() if name.startswith("__Host-")]
            assert session, cookies.keys()
            assert all(c["secure"] and c["httpOnly"] and c["sameSite"] == "Strict" and c["path"] == "/"
                       for c in session)
        finally:
            await browser.close()
