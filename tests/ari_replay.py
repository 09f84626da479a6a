"""Replaying a capture of ../shared/asterisk-ari/captures against an ARI server (the emulator or a real one).

The REST lines are sent when the real server received them (scaled by ``speed``) and once the hotline
app has seen what it had seen by then; ids the real run used are mapped to this run's. The result
holds the REST statuses and the events each app saw, for comparing by :func:`signature`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError

# How long a request waits for the hotline events that came before it in the capture: more than the one
# second of slack a whole-second timer in Asterisk can add (see replay()).
CAUSAL_WAIT = 2.0


def load(capture: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in capture.read_text().splitlines() if line.strip()]


def _ts(event: dict[str, Any]) -> float:
    return datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


def signature(event: dict[str, Any]) -> tuple[str, str]:
    state = (event.get("playback") or event.get("recording") or {}).get("state", "")
    return event["type"], state


class Listener:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.changed = asyncio.Event()

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            self.events.append(json.loads(msg.data))
            self.changed.set()

    async def wait_count(self, count: int, timeout: float) -> None:  # noqa: ASYNC109
        try:
            async with asyncio.timeout(timeout):
                while len(self.events) < count:
                    self.changed.clear()
                    await self.changed.wait()
        except TimeoutError:
            pass


@dataclass
class Replay:
    statuses: list[tuple[str, int, int]]          # (request, the capture's status, this server's)
    messages: list[tuple[str, str, str]]          # (request, the capture's error message, this server's)
    hotline: list[dict[str, Any]]
    tester: list[dict[str, Any]]
    real_hotline: list[dict[str, Any]]


async def replay(capture: Path, url: str, user: str, password: str, *, speed: float = 1.0) -> Replay:
    lines = load(capture)
    real_hotline = [x["event"] for x in lines if x["app"] == "hotline"]
    t0 = min(_ts(x["event"]) for x in lines if x["app"] != "rest")
    client = AriClient(url, user, password)
    hotline, tester = Listener(), Listener()
    sockets = [await client.connect_events("hotline"), await client.connect_events("tester")]
    readers = [asyncio.create_task(hotline.read(sockets[0])), asyncio.create_task(tester.read(sockets[1]))]
    ids: dict[str, str] = {}
    statuses: list[tuple[str, int, int]] = []
    messages: list[tuple[str, str, str]] = []
    last_effect, last_sent = t0, time.monotonic()
    try:
        for index, line in enumerate(lines):
            if line["app"] != "rest":
                continue
            rest = line["event"]
            # Replay as long after the previous request as the real server saw it (the first event logged
            # after a request is when it took effect), so a late answer never squeezes the gaps after it ...
            later = [_ts(x["event"]) for x in lines[index + 1 :] if x["app"] != "rest"]
            effect = later[0] if later else last_effect
            due = last_sent + max(0.0, effect - last_effect) / speed
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            # ... and once the hotline has seen what it had seen by then (REST lines are logged after the answer).
            # Generously: a real server is not as punctual as the capture. Asterisk checks maxDurationSeconds
            # against time() in whole seconds (main/app.c: `maxtime < end - start`), so a 3 s limit ends the
            # recording anywhere from 3.0 to 4.0 s after it started; the capture's happened to end at 3.1 s.
            await hotline.wait_count(sum(1 for x in lines[:index] if x["app"] == "hotline"), CAUSAL_WAIT)
            if hotline.events and real_hotline and real_hotline[0]["channel"]["id"] not in ids:
                ids[real_hotline[0]["channel"]["id"]] = hotline.events[0]["channel"]["id"]
            last_effect, last_sent = effect, time.monotonic()
            path = rest["path"]
            for real, ours in ids.items():
                path = path.replace(real, ours)
            what = f"{rest['method']} {rest['path']}"
            try:
                body = await client.request(rest["method"], path, rest["params"])
                status = 201 if rest["method"] == "POST" and path.endswith(("/play", "/record")) else (
                    204 if body is None else 200)
            except AriError as exc:
                status = exc.status
                body = None
                messages.append((what, rest["body"]["message"], exc.message))
            statuses.append((what, rest["status"], status))
            if isinstance(body, dict) and isinstance(rest["body"], dict) and "id" in body and "id" in rest["body"]:
                ids[rest["body"]["id"]] = body["id"]
        await hotline.wait_count(len(real_hotline), 3.0)
        # Anything extra would show up now (scaled: the emulator runs media time faster).
        await asyncio.sleep(0.3 * 4 / speed)
    finally:
        for ws in sockets:
            await ws.close()
        for task in readers:
            task.cancel()
        await client.close()
    return Replay(statuses, messages, hotline.events, tester.events, real_hotline)
