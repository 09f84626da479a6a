"""Two real Asterisk 22 servers on loopback, the engine as a subprocess, and callers that listen.

- ``AsteriskServer``: one server in a scratch root (its own asterisk.conf whose [directories] point
  into tmp, modules from the installed build), on free 127.0.0.1 ports, started in its own process
  group and killed with it whatever happens. Its whole log stays in ``root/log`` for debugging.
- The **hotline** server loads exactly what ``ivr asterisk config`` renders for the test.
- The **carrier** server places calls into the hotline over SIP/RTP (endpoint ``hotline``) and
  registers SIP "phones" to the hotline (caseworker or staff phones); calls to them enter the
  carrier's ``phones`` Stasis app, where a test makes them answer, play audio or press keys.
- ``EngineProcess``: the real ``ivr engine`` as a subprocess (so it can be killed with SIGKILL).
- ``HotlineSide``: how the hotline's ``ivr`` runs (command, settings, data dir, engine command and user).
  By default this checkout's, with a scratch data dir; a test of an installed system passes the
  installed one to ``running_pair(hotline=...)``, with the installed Asterisk (``AsteriskInstall``:
  its unit's command and asterisk.conf) that the hotline server then runs instead of one of its own.
- ``Caller``: a person on a phone. It hears the hotline through an externalMedia channel (ulaw RTP
  to a local UDP socket) bridged with its call, decides "the hotline went quiet" from that audio
  (no packets is silence too), presses keys (RFC 4733), speaks (a WAV played on its channel) and
  hangs up. It never looks at the hotline's database or ARI to know when to act.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import math
import os
import random
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import time
import wave
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import free_port

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("IVR_SHARED_DIR", REPO.parent / "shared"))
ASTERISK = Path(os.environ.get("IVR_ASTERISK", shutil.which("asterisk") or "/usr/sbin/asterisk"))
MODULES = Path(os.environ.get("IVR_ASTERISK_MODULES", "/usr/lib/asterisk/modules"))
ASTERISK_DATA = Path(os.environ.get("IVR_ASTERISK_DATA", "/var/lib/asterisk"))
CORE_SOUNDS = ASTERISK_DATA / "sounds"
DID = "1800123456"
ARI_USER, ARI_PASSWORD = "hotline", "real-ari-password-4c1f"
CARRIER_APP, PHONES_APP = "carrier", "phones"


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


AUTH = basic_auth(ARI_USER, ARI_PASSWORD)
ARI_CONF = f"[general]\nenabled=yes\npretty=no\n\n[{ARI_USER}]\ntype=user\nread_only=no\npassword={ARI_PASSWORD}\n"
SECRET = "real-asterisk-test-secret-0123456789"
RATE = 8000
FRAME = 160            # samples in a 20 ms ulaw packet
LOUD_RMS = 200.0       # of 32767: quieter than this is silence


def asterisk_missing() -> str | None:
    """Why the real-server tests cannot run here, or None."""
    if not ASTERISK.exists():
        return (f"no Asterisk 22 at {ASTERISK}: run `bash ../shared/asterisk/build.sh` "
                "(scripts/test.sh does when ../shared/asterisk exists)")
    if not (MODULES / "chan_pjsip.so").exists():
        return f"{MODULES} has no chan_pjsip.so: Asterisk was built without chan_pjsip"
    return None


def free_sip_port() -> int:
    """A port free for both UDP (SIP) and TCP (pjsip may open both)."""
    while True:
        port = free_port(socket.SOCK_DGRAM)
        with contextlib.suppress(OSError), socket.socket() as s:
            s.bind(("127.0.0.1", port))
            return port


def rtp_range(size: int = 2000) -> tuple[int, int]:
    base = random.randrange(20000, 60000 - size, 2)
    return base, base + size - 1


# -- one server -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AsteriskInstall:
    """An Asterisk that scripts/install-asterisk.sh laid out under a scratch root, started as its unit does.

    Its asterisk.conf is the installed one with each [directories] path read under the root (as a test of
    an installed system reads every absolute path it wrote); its [options] (runuser) are as installed.
    """

    command: list[str]      # the unit's ExecStart, its program and -C read under the root
    conf: Path              # that asterisk.conf
    cwd: Path               # the unit's WorkingDirectory=
    log_dir: Path           # astlogdir
    spool_dir: Path         # astspooldir
    wrap: tuple[str, ...]   # runs a command of root's with the installed system's accounts (passwd, group)


def hotline_sounds() -> dict[str, Path]:
    """The English core sounds the hotline's Asterisk plays (the beep before a message)."""
    if (CORE_SOUNDS / "en" / "beep.wav").exists():
        return {"en": CORE_SOUNDS / "en"}
    return {"en": SHARED / "asterisk-ari" / "sounds" / "en"}


class AsteriskServer:
    def __init__(self, name: str, root: Path, files: dict[str, str], *, http_port: int,
                 sounds: dict[str, Path] | None = None, auth: dict[str, str] | None = None,
                 installed: AsteriskInstall | None = None) -> None:
        self.name = name
        self.auth = auth or AUTH   # its ARI user's Authorization header
        self.root = root
        self.files = files
        self.http_port = http_port
        self.sounds = sounds or {}
        self.installed = installed   # None: a server of the rig's own, laid out by write_config
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{http_port}"
        self.conf = root / "etc" / "asterisk.conf" if installed is None else installed.conf
        self.log = (root / "log" if installed is None else installed.log_dir) / "messages.log"
        self.console = root / "log" / "console.out"
        self.spool = root / "spool" if installed is None else installed.spool_dir

    def write_config(self) -> None:
        if self.installed is not None:   # laid out by the install and `ivr asterisk config`
            (self.root / "log").mkdir(parents=True, exist_ok=True)
            return
        for sub in ("etc", "lib", "spool/recording", "run", "log", "lib/sounds"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        r = self.root
        self.conf.write_text(
            "[directories]\n"
            f"astetcdir => {r}/etc\nastmoddir => {MODULES}\nastvarlibdir => {r}/lib\nastdbdir => {r}/lib\n"
            f"astkeydir => {r}/lib\nastdatadir => {r}/lib\nastagidir => {r}/lib/agi-bin\n"
            f"astspooldir => {r}/spool\nastrundir => {r}/run\nastlogdir => {r}/log\nastsbindir => {ASTERISK.parent}\n"
            "[options]\nverbose = 3\ndebug = 0\nnocolor = yes\ndocumentation_language = en_US\n"
            "transmit_silence = no\n"
        )
        for name, text in self.files.items():
            (r / "etc" / name).write_text(text)
        # Asterisk's own data (XML documentation, which its config loaders need; the ARI api-docs).
        for name in ("documentation", "rest-api"):
            link = r / "lib" / name
            if not link.exists() and (ASTERISK_DATA / name).exists():
                link.symlink_to(ASTERISK_DATA / name)
        for name, target in self.sounds.items():
            link = r / "lib" / "sounds" / name
            if not link.exists():
                link.symlink_to(target)

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.write_config()
        out = open(self.console, "ab")
        command = [str(ASTERISK), "-f", "-n", "-C", str(self.conf)]
        cwd = None
        if self.installed is not None:
            command, cwd = [*self.installed.wrap, *self.installed.command], self.installed.cwd
        self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True, cwd=cwd)
        out.close()

    async def wait_ready(self, timeout: float = 60.0) -> float:  # noqa: ASYNC109
        """Until ARI answers; returns the monotonic time it first did."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession(headers=self.auth) as session:
            while True:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise AssertionError(f"{self.name} Asterisk exited with {self.proc.returncode}:\n{self.tail()}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with session.get(f"{self.url}/ari/asterisk/info",
                                           timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200:
                            return time.monotonic()
                if time.monotonic() > deadline:
                    raise AssertionError(f"{self.name} Asterisk: ARI did not answer in {timeout:g}s\n{self.tail()}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL the whole process group (an Asterisk crash, as far as anyone can tell)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.kill()

    def cli(self, command: str) -> str:
        done = subprocess.run([str(ASTERISK), "-C", str(self.conf), "-rx", command], capture_output=True,
                              text=True, timeout=20, check=False)
        return done.stdout + done.stderr

    def tail(self, lines: int = 60) -> str:
        out = []
        for path in (self.log, self.console):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path}\n" + "\n".join(text))
        return "\n".join(out)


# -- the engine -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunAs:
    """Whom a process runs as (a systemd unit's User=, Group=, the user's groups, UMask=)."""

    user: int
    group: int
    groups: tuple[int, ...] = ()
    umask: int = -1


class EngineProcess:
    """The engine as a subprocess against the hotline's ARI: `ivr engine` unless ``command`` says otherwise."""

    def __init__(self, env: dict[str, str], log: Path, *, command: list[str] | None = None,
                 cwd: Path | None = None, run_as: RunAs | None = None) -> None:
        self.env = env
        self.log = log
        self.command = command or [sys.executable, "-m", "ivr", "engine"]
        self.cwd = cwd or Path(env["IVR_DATA_DIR"])
        self.run_as = run_as
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        out = open(self.log, "ab")
        who: dict[str, Any] = {}
        if self.run_as is not None:
            who = {"user": self.run_as.user, "group": self.run_as.group, "extra_groups": list(self.run_as.groups),
                   "umask": self.run_as.umask}
        self.proc = subprocess.Popen(self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True, cwd=self.cwd, **who)
        out.close()

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        began = time.monotonic()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            print(f"engine {self.proc.pid} did not stop within 15 s of SIGTERM; killed")   # shown if the test fails
            self.kill()
            self.proc.wait(5)
        else:
            print(f"engine {self.proc.pid} stopped {time.monotonic() - began:.2f} s after SIGTERM")

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").splitlines()
        # The warnings and errors of the whole run, then its last lines: a failure's cause is often
        # logged long before the test gives up.
        alarms = [line for line in text[:-lines] if " WARNING " in line or " ERROR " in line]
        return (f"--- {self.log} (warnings and errors before the last {lines} lines)\n" + "\n".join(alarms[-60:])
                + f"\n--- {self.log}\n" + "\n".join(text[-lines:]) + "\n" + self.open_files())

    def open_files(self) -> str:
        """Which database files the engine holds open, by name: a "(deleted)" one means its writes
        go where no other process can see them."""
        if self.proc is None or self.proc.poll() is not None:
            return "--- engine not running"
        fd_dir = Path(f"/proc/{self.proc.pid}/fd")
        held = []
        with contextlib.suppress(OSError):
            for fd in fd_dir.iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if "ivr.db" in target:
                        held.append(target)
        return "--- engine holds open: " + (", ".join(sorted(held)) or "no database file")


async def app_connected(url: str, app: str, timeout: float = 30.0,  # noqa: ASYNC109
                        auth: dict[str, str] | None = None) -> float:
    """Until Stasis app ``app`` has its event socket on the server at ``url`` (harness-level, not the caller)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(headers=auth or AUTH) as session:
        while True:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(f"{url}/ari/applications/{app}",
                                       timeout=aiohttp.ClientTimeout(total=2)) as resp:
                    if resp.status == 200:
                        return time.monotonic()
            if time.monotonic() > deadline:
                raise AssertionError(f"app {app} did not connect to {url} within {timeout:g}s")
            await asyncio.sleep(0.05)


# -- audio ------------------------------------------------------------------------------------------------

def _ulaw_table() -> list[int]:
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        t = ((u & 0x0F) << 3) + 0x84
        t <<= (u & 0x70) >> 4
        table.append((0x84 - t) if u & 0x80 else (t - 0x84))
    return table


ULAW = _ulaw_table()


def rms(samples: list[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def tone_level(samples: list[int], freq: float) -> float:
    """Goertzel: the amplitude of ``freq`` in ``samples``, relative to their RMS (about 1.41 for a pure tone)."""
    if not samples:
        return 0.0
    k = 2 * math.cos(2 * math.pi * freq / RATE)
    s1 = s2 = 0.0
    for x in samples:
        s1, s2 = x + k * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - k * s1 * s2
    amplitude = 2 * math.sqrt(max(power, 0.0)) / len(samples)
    level = rms(samples)
    return amplitude / level if level else 0.0


def write_tone(path: Path, seconds: float, freq: float, amplitude: int = 12000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(b"".join(struct.pack("<h", int(amplitude * math.sin(2 * math.pi * freq * i / RATE)))
                               for i in range(int(seconds * RATE))))
    return path


def make_speech(path: Path, text: str) -> Path:
    """A spoken message, 8 kHz mono 16-bit: espeak-ng, then sox."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(raw), text], check=True, capture_output=True)
    subprocess.run(["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", str(path)], check=True,
                   capture_output=True)
    raw.unlink()
    return path


def wav_stats(path: Path) -> tuple[float, float]:
    """(seconds, RMS of its loudest second) of a 16-bit WAV."""
    with wave.open(str(path)) as w:
        frames = w.readframes(w.getnframes())
        rate = w.getframerate()
    samples = list(struct.unpack(f"<{len(frames) // 2}h", frames[: len(frames) // 2 * 2]))
    seconds = len(samples) / rate
    loudest = max((rms(samples[i:i + rate]) for i in range(0, max(1, len(samples)), rate)), default=0.0)
    return seconds, loudest


class Ear(asyncio.DatagramProtocol):
    """The caller's ear: RTP packets from the carrier's externalMedia channel."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, float, list[int]]] = []   # (arrival, rms, samples)
        self.last_loud = 0.0
        self.sound = asyncio.Event()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) < 12:
            return
        cc = data[0] & 0x0F
        offset = 12 + 4 * cc
        if data[0] & 0x10 and len(data) >= offset + 4:
            offset += 4 + 4 * struct.unpack("!H", data[offset + 2:offset + 4])[0]
        samples = [ULAW[b] for b in data[offset:]]
        now = time.monotonic()
        level = rms(samples)
        self.frames.append((now, level, samples))
        if level >= LOUD_RMS:
            self.last_loud = now
            self.sound.set()

    def heard_since(self, t0: float) -> list[int]:
        return [s for at, _, frame in self.frames if at >= t0 for s in frame]

    def loud_seconds_since(self, t0: float) -> float:
        return sum(len(f) for at, level, f in self.frames if at >= t0 and level >= LOUD_RMS) / RATE


# -- the carrier's ARI app, routing events to callers and phones -------------------------------------------

class ChannelEvents:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.gone = asyncio.Event()

    async def until(self, kinds: set[str], timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if event["type"] in kinds:
                    return event


class CarrierApp:
    """One event socket per carrier app; events for each channel go to whoever owns it."""

    def __init__(self, url: str, app: str) -> None:
        self.client = AriClient(url, ARI_USER, ARI_PASSWORD)
        self.app = app
        self.channels: dict[str, ChannelEvents] = {}
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def start(self) -> None:
        self._ws = await self.client.connect_events(self.app)
        self._task = asyncio.create_task(self._read(self._ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(msg.data)
            targets = []
            channel = (event.get("channel") or {}).get("id")
            if channel:
                targets.append(channel)
            target = (event.get("playback") or event.get("recording") or {}).get("target_uri", "")
            if target.startswith("channel:"):
                targets.append(target.split(":", 1)[1])
            for ch in targets:
                if ch not in self.channels and event["type"] == "StasisStart":
                    self.channels[ch] = ChannelEvents()
                    self.incoming.put_nowait(event)
                box = self.channels.get(ch)
                if box is not None:
                    box.queue.put_nowait(event)
                    if event["type"] in ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest"):
                        box.gone.set()

    def watch(self, channel_id: str) -> ChannelEvents:
        return self.channels.setdefault(channel_id, ChannelEvents())

    async def stop(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()


_ids = itertools.count(1)


class Caller:
    """A person calling the hotline from the carrier's network."""

    def __init__(self, app: CarrierApp, number: str) -> None:
        self.app = app
        self.client = app.client
        self.number = number
        self.channel_id = f"caller-{os.getpid()}-{next(_ids)}"
        self.ear = Ear()
        self.events = app.watch(self.channel_id)
        self._transport: asyncio.DatagramTransport | None = None
        self._media_id: str | None = None
        self._bridge_id: str | None = None
        self._mic: asyncio.Task[None] | None = None
        self.answered_at = 0.0

    async def dial(self, did: str = DID, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self.ear, local_addr=("127.0.0.1", 0))
        self._transport = transport
        port = transport.get_extra_info("sockname")[1]
        await self.client.originate(f"PJSIP/{did}@hotline", app=self.app.app, caller_id=f"Worker <{self.number}>",
                                    channel_id=self.channel_id, timeout=int(timeout))
        await self.events.until({"StasisStart"}, timeout)
        self.answered_at = time.monotonic()
        media_id = f"{self.channel_id}-ear"
        media_events = self.app.watch(media_id)
        await self.client.external_media(self.app.app, f"127.0.0.1:{port}", "ulaw", channel_id=media_id)
        self._media_id = media_id
        await media_events.until({"StasisStart"}, 10)   # addChannel answers 422 until it has entered Stasis
        bridge = await self.client.create_bridge("mixing")
        self._bridge_id = str(bridge["id"])
        await self.client.add_to_bridge(self._bridge_id, [self.channel_id, media_id])
        # The phone's microphone: a real phone streams audio (silence, here) all the time. Without it a
        # line that sends no RTP makes Asterisk's recorder give up after a few seconds.
        address = await self.client.get_variable(media_id, "UNICASTRTP_LOCAL_ADDRESS")
        port = int(await self.client.get_variable(media_id, "UNICASTRTP_LOCAL_PORT"))
        self._mic = asyncio.create_task(self._microphone((address or "127.0.0.1", port)))

    async def _microphone(self, to: tuple[str, int]) -> None:
        assert self._transport is not None
        ssrc, seq, stamp = random.getrandbits(32), random.getrandbits(16), random.getrandbits(32)
        silence = b"\xff" * FRAME
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(struct.pack("!BBHII", 0x80, 0, seq, stamp, ssrc) + silence, to)
            seq, stamp = (seq + 1) & 0xFFFF, (stamp + FRAME) & 0xFFFFFFFF
            next_at += FRAME / RATE
            await asyncio.sleep(max(0.0, next_at - loop.time()))   # the media clock: one frame every 20 ms

    # -- listening ---------------------------------------------------------------------------------------

    async def wait_sound(self, timeout: float = 20.0) -> float:  # noqa: ASYNC109
        """Until the hotline makes a sound (after now); returns when it did."""
        self.ear.sound.clear()
        since = time.monotonic()
        async with asyncio.timeout(timeout):
            while self.ear.last_loud < since:
                self.ear.sound.clear()
                await self.ear.sound.wait()
        return self.ear.last_loud

    async def wait_quiet(self, quiet: float = 1.2, timeout: float = 60.0, *, heard_first: bool = True) -> float:  # noqa: ASYNC109
        """Until the hotline, having spoken (unless ``heard_first`` is False), has been quiet for ``quiet`` s."""
        async with asyncio.timeout(timeout):
            if heard_first:
                await self.wait_sound(timeout)
            while True:
                left = self.ear.last_loud + quiet - time.monotonic()
                if left <= 0:
                    return self.ear.last_loud
                self.ear.sound.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(left):
                        await self.ear.sound.wait()

    async def listen(self, seconds: float) -> list[int]:
        """What the caller hears over the next ``seconds`` (a person listening to a reply)."""
        t0 = time.monotonic()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.events.gone.wait()
        return self.ear.heard_since(t0)

    # -- acting --------------------------------------------------------------------------------------------

    async def press(self, digits: str) -> float:
        """Press keys (RFC 4733 over SIP); returns when they were pressed."""
        at = time.monotonic()
        await self.client.send_dtmf(self.channel_id, digits, duration=120, between=150)
        return at

    async def choose(self, key: str, timeout: float = 30.0) -> float:  # noqa: ASYNC109
        """A caller who knows the menu: presses ``key`` as soon as the prompt is heard (barge-in)."""
        await self.wait_sound(timeout)
        return await self.press(key)

    async def say(self, wav: Path, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Speak: play a WAV into the call, until it has been said."""
        playback_id = f"{self.channel_id}-say{next(_ids)}"
        await self.client.play(self.channel_id, [f"sound:{wav.with_suffix('')}"], playback_id=playback_id)
        async with asyncio.timeout(timeout):
            while True:
                event = await self.events.queue.get()
                if event["type"] == "PlaybackFinished" and event["playback"]["id"] == playback_id:
                    return
                if event["type"] in ("StasisEnd", "ChannelDestroyed"):
                    raise AssertionError("the hotline hung up while the caller was speaking")

    async def wait_hung_up(self, timeout: float = 20.0) -> float:  # noqa: ASYNC109
        """Until the hotline ends the call; returns when it did."""
        async with asyncio.timeout(timeout):
            await self.events.gone.wait()
        return time.monotonic()

    async def hangup(self) -> None:
        with contextlib.suppress(AriError):
            await self.client.hangup(self.channel_id)
        await self.close()

    async def close(self) -> None:
        if self._mic is not None:
            self._mic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._mic
            self._mic = None
        for ch in (self._media_id, self.channel_id):
            if ch:
                with contextlib.suppress(AriError):
                    await self.client.hangup(ch)
        if self._bridge_id:
            with contextlib.suppress(AriError):
                await self.client.destroy_bridge(self._bridge_id)
            self._bridge_id = None
        if self._transport is not None:
            self._transport.close()
            self._transport = None


async def leave_a_message(caller: Caller, speech: Path, language: str = "1") -> None:
    """A caller who knows the menus: a language (its digit in the language menu), '2' leave a message,
    speaks after the beep, '#', '1' keep it, listens to the case code, hangs up."""
    await caller.choose(language)
    await caller.choose("2")
    await caller.wait_quiet()
    await speak_and_keep(caller, speech)


async def speak_and_keep(caller: Caller, speech: Path) -> None:
    """After the beep: speaks, '#', '1' keeps the message, listens to the case code, hangs up."""
    await caller.say(speech)
    await caller.press("#")
    await caller.wait_quiet()
    await caller.press("1")
    await caller.wait_quiet(quiet=2.0, timeout=90)
    await caller.hangup()


class Phones:
    """The carrier-side SIP phones (caseworkers, on-call staff) registered to the hotline.

    ``answer[name]`` says whether that phone picks up. An answered call is kept in ``calls`` with its
    channel id, so a test can ``play`` into it (the caller hears it) or ``press`` keys on it.
    """

    def __init__(self, app: CarrierApp) -> None:
        self.app = app
        self.answer: dict[str, bool] = {}
        self.rang: list[str] = []
        self.calls: asyncio.Queue[tuple[str, str]] = asyncio.Queue()   # (phone, channel id) answered
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            event = await self.app.incoming.get()
            channel = event["channel"]["id"]
            phone = (event.get("args") or ["?"])[0]
            self.rang.append(phone)
            if self.answer.get(phone, False):
                with contextlib.suppress(AriError):
                    await self.app.client.answer(channel)
                    self.calls.put_nowait((phone, channel))

    async def play(self, channel: str, wav: Path) -> None:
        await self.app.client.play(channel, [f"sound:{wav.with_suffix('')}"])

    async def press(self, channel: str, digits: str) -> None:
        await self.app.client.send_dtmf(channel, digits, duration=120, between=150)

    async def hangup(self, channel: str) -> None:
        with contextlib.suppress(AriError):
            await self.app.client.hangup(channel)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


# -- the pair ---------------------------------------------------------------------------------------------

def carrier_files(*, sip: int, phone_sip: int, http: int, rtp: tuple[int, int], hotline_sip: int,
                  phones: dict[str, str]) -> dict[str, str]:
    regs = "".join(
        f"[{p}-reg]\ntype=registration\ntransport=phones\noutbound_auth={p}-auth\n"
        f"server_uri=sip:127.0.0.1:{hotline_sip}\nclient_uri=sip:{p}@127.0.0.1:{hotline_sip}\ncontact_user={p}\n"
        f"retry_interval=2\nforbidden_retry_interval=2\nexpiration=300\n\n"
        f"[{p}-auth]\ntype=auth\nauth_type=userpass\nusername={p}\npassword={pw}\n\n"
        for p, pw in phones.items())
    return {
        "pjsip.conf": (
            "[global]\ntype=global\nendpoint_identifier_order=ip\n\n"
            f"[trunk]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:{sip}\n\n"
            f"[phones]\ntype=transport\nprotocol=udp\nbind=127.0.0.1:{phone_sip}\n\n"
            f"[hotline]\ntype=aor\ncontact=sip:127.0.0.1:{hotline_sip}\n\n"
            "[hotline]\ntype=endpoint\ntransport=trunk\ncontext=from-hotline\ndisallow=all\nallow=ulaw\n"
            "aors=hotline\ndirect_media=no\ndtmf_mode=rfc4733\n\n"
            f"[hotline]\ntype=identify\nendpoint=hotline\nmatch=127.0.0.1\n\n{regs}"),
        "extensions.conf": (
            "[from-hotline]\n"
            f"exten => _[a-z].,1,Stasis({PHONES_APP},${{EXTEN}})\n same => n,Hangup()\n\n"
            "; the ARI reference scenarios (../shared/asterisk-ari/captures) dial Local/1000@hotline-in\n"
            "[hotline-in]\nexten => 1000,1,Stasis(hotline)\n same => n,Hangup()\n"),
        "ari.conf": ARI_CONF,
        "http.conf": f"[general]\nenabled=yes\nbindaddr=127.0.0.1\nbindport={http}\nsessionlimit=1000\n",
        "rtp.conf": f"[general]\nrtpstart={rtp[0]}\nrtpend={rtp[1]}\n",
        "cdr.conf": "[general]\nenable=no\n",
        "logger.conf": "[general]\ndateformat=%F %T.%3q\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n",
        "modules.conf": None,  # type: ignore[dict-item]  # filled below with the hotline's module list
    }


@dataclass
class HotlineSide:
    """The hotline's side of a pair: how its ``ivr`` runs, with which settings, and how its engine starts.

    The default (:func:`checkout_side`) is this checkout's ``ivr`` with a scratch data dir and prompts
    built by the pair. A test of an installed system passes its own: the installed ``ivr``, its settings
    and data dir (prepared by the test, as an operator would) and the command its service unit runs.
    """

    env: dict[str, str]          # the pair sets IVR_ARI_URL here: it picks the hotline's HTTP port
    data_dir: Path
    conf_dir: Path               # where `ivr asterisk config` writes what the hotline server loads
    ivr: list[str] = field(default_factory=lambda: [sys.executable, "-m", "ivr"])
    engine: list[str] | None = None          # default: `ivr engine` of this checkout
    cwd: Path | None = None                  # default: the data dir
    run_as: RunAs | None = None
    ari_user: str = ARI_USER
    ari_password: str = ARI_PASSWORD
    ari_app: str = "hotline"
    prepare: bool = True         # build the prompts into the data dir (an installed side has done so)
    asterisk: AsteriskInstall | None = None  # the installed Asterisk to run (default: one of the rig's own)

    @property
    def auth(self) -> dict[str, str]:
        return basic_auth(self.ari_user, self.ari_password)


def checkout_side(root: Path, env: dict[str, str]) -> HotlineSide:
    return HotlineSide(env, Path(env["IVR_DATA_DIR"]), root / "hotline-conf")


@dataclass
class Pair:
    """The two servers and the engine, sharing one scratch root."""

    root: Path
    hotline: AsteriskServer
    carrier: AsteriskServer
    engine: EngineProcess
    env: dict[str, str]
    data_dir: Path
    phones_pw: dict[str, str]
    side: HotlineSide
    carrier_app: CarrierApp | None = None
    phones: Phones | None = None
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def number(self) -> str:
        return f"+66812{next(self.numbers):06d}"

    async def call(self) -> Caller:
        assert self.carrier_app is not None
        caller = Caller(self.carrier_app, self.number())
        await caller.dial()
        return caller

    async def start_engine(self) -> None:
        self.engine.start()
        await app_connected(self.hotline.url, self.side.ari_app, auth=self.side.auth)

    def debug(self) -> str:
        return "\n".join([self.hotline.tail(), self.carrier.tail(), self.engine.tail(), self.db_view()])

    def db_view(self) -> str:
        """What the tests see in the database: its newest calls and recordings."""
        try:
            with db(self) as conn:
                calls = [tuple(r) for r in conn.execute(
                    "select id, started_at, ended_at, outcome from calls order by started_at desc limit 3")]
                recs = [tuple(r) for r in conn.execute(
                    "select id, kind, state, created_at from recordings order by id desc limit 3")]
        except sqlite3.Error as exc:
            return f"--- database: {exc}"
        return f"--- newest calls: {calls}\n--- newest recordings: {recs}"


@contextlib.contextmanager
def db(pair: Pair) -> Iterator[sqlite3.Connection]:
    """A connection to the hotline's database, closed on leaving the block.

    Closed, not left to the garbage collector (a sqlite3 connection sits in a reference cycle with its
    statement cache, so it outlives its last use until a collection). One left open, whose locks this
    process then loses (reading the database file to look for a number drops them all: POSIX locks are
    per process), let the stopping engine delete the WAL and its index from under it. Every later
    connection of this process then shared that stale index and never saw the restarted engine's rows:
    stop 23's failure, and this one's (reproduced outside pytest)."""
    conn = sqlite3.connect(pair.data_dir / "ivr.db", timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


async def ended_call(pair: Pair, started_after: str, timeout: float = 30.0) -> list[dict[str, Any]]:  # noqa: ASYNC109
    """The calls the engine has closed since ``started_after`` (for checking what was kept)."""
    deadline = time.monotonic() + timeout
    while True:
        with db(pair) as conn:
            rows = [dict(r) for r in conn.execute(
                "select * from calls where started_at > ? order by started_at", [started_after])]
        if rows and all(r["ended_at"] for r in rows):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"calls not closed: {rows}\n{pair.debug()}")
        await asyncio.sleep(0.2)


def now_text(pair: Pair) -> str:
    with db(pair) as conn:
        return str(conn.execute("select strftime('%Y-%m-%dT%H:%M:%fZ', 'now')").fetchone()[0])[:19]


def read_phones(path: Path) -> dict[str, str]:
    """name -> SIP password, from the phones.txt that `ivr asterisk config` wrote."""
    out = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            out[line.split(" ", 1)[0]] = line.split("password=", 1)[1]
    return out


def prepare_data_dir(data_dir: Path, prompts_from: Path | None, env: dict[str, str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    if prompts_from is not None and prompts_from.is_dir():
        shutil.copytree(prompts_from, data_dir / "prompts", dirs_exist_ok=True)
    build_prompts(env)


def build_prompts(env: dict[str, str]) -> None:
    done = subprocess.run([sys.executable, "-m", "ivr", "prompts", "build"], env=env, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def render_hotline(side: HotlineSide, *, sip: int, carrier_sip: int, http: int, rtp: tuple[int, int],
                   phones: tuple[str, ...], extra: tuple[str, ...] = ()) -> None:
    # Run by root as on the server: with an installed Asterisk, among that system's accounts (the files
    # holding secrets go to its asterisk group).
    wrap = side.asterisk.wrap if side.asterisk is not None else ()
    args = [*wrap, *side.ivr, "asterisk", "config", "--out", str(side.conf_dir), "--trunk", "ip",
            "--trunk-host", f"127.0.0.1:{carrier_sip}", "--trunk-match", f"127.0.0.1:{carrier_sip}/32",
            "--did", DID, "--bind", f"127.0.0.1:{sip}", "--rtp-ports", f"{rtp[0]}-{rtp[1]}",
            "--http-bind", f"127.0.0.1:{http}"]
    for p in phones:
        args += ["--phone", p]
    args += list(extra)
    done = subprocess.run(args, env=side.env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def hotline_env(root: Path, http: int, *, languages: str, flags: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
    env.update({
        "IVR_DATA_DIR": str(root / "var"), "IVR_SECRET_KEY": SECRET, "IVR_ARI_URL": f"http://127.0.0.1:{http}",
        "IVR_ARI_USER": ARI_USER, "IVR_ARI_PASSWORD": ARI_PASSWORD, "IVR_ARI_APP": "hotline",
        "IVR_LANGUAGES": languages, "IVR_PROMPTS_DIR": str(REPO / "prompts"), "IVR_FLOWS_DIR": str(REPO / "callflows"),
        "IVR_MODELS_DIR": str(root / "no-models"), "IVR_LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1",
        **(flags or {}),
    })
    return env


@contextlib.asynccontextmanager
async def running_pair(root: Path, *, languages: str = "en,th", phones: tuple[str, ...] = ("caseworker1",),
                       flags: dict[str, str] | None = None, prompts_from: Path | None = None,
                       engine: bool = True, hotline: HotlineSide | None = None,
                       render_args: tuple[str, ...] = ()) -> AsyncIterator[Pair]:
    """Both servers, the engine (unless ``engine`` is False) and the carrier's apps; all stopped on exit.

    ``prompts_from``: an already built prompts folder to copy (prompts are slow to build).
    ``hotline``: a hotline side set up by the test (an installed system); ``languages``, ``flags`` and
    ``prompts_from`` are then its business, and the pair only tells it the hotline's ARI address.
    ``render_args``: more `ivr asterisk config` options (e.g. --prompt-line-did).
    """
    missing = asterisk_missing()
    if missing:
        pytest.skip(missing)
    h_sip, c_sip, c_phone_sip = free_sip_port(), free_sip_port(), free_sip_port()
    h_http, c_http = free_port(), free_port()
    h_rtp, c_rtp = rtp_range(), rtp_range()
    while abs(h_rtp[0] - c_rtp[0]) < 2000:
        c_rtp = rtp_range()
    side = hotline or checkout_side(root, hotline_env(
        root, h_http, languages=languages,
        flags={"IVR_TRANSFER_ENDPOINT": "Local/caseworkers@hotline-queue" if phones else "", **(flags or {})}))
    env = side.env
    env["IVR_ARI_URL"] = f"http://127.0.0.1:{h_http}"
    if side.prepare:
        await asyncio.to_thread(prepare_data_dir, side.data_dir, prompts_from, env)
    render_hotline(side, sip=h_sip, carrier_sip=c_sip, http=h_http, rtp=h_rtp, phones=phones,
                   extra=render_args)
    conf = side.conf_dir
    files = {p.name: p.read_text() for p in conf.glob("*.conf")}
    phones_pw = read_phones(conf / "phones.txt") if phones else {}
    sounds = hotline_sounds()
    server = AsteriskServer("hotline", root / "hotline", files, http_port=h_http, sounds=sounds, auth=side.auth,
                            installed=side.asterisk)
    cfiles = carrier_files(sip=c_sip, phone_sip=c_phone_sip, http=c_http, rtp=c_rtp, hotline_sip=h_sip,
                           phones=phones_pw)
    cfiles["modules.conf"] = files["modules.conf"]
    carrier_sounds = dict(sounds)
    if (SHARED / "asterisk-ari" / "sounds").is_dir():
        carrier_sounds = {"en": SHARED / "asterisk-ari" / "sounds" / "en",
                          "accept": SHARED / "asterisk-ari" / "sounds" / "accept"}
    carrier = AsteriskServer("carrier", root / "carrier", cfiles, http_port=c_http, sounds=carrier_sounds)
    engine_proc = EngineProcess(env, root / "engine.log", command=side.engine, cwd=side.cwd, run_as=side.run_as)
    pair = Pair(root, server, carrier, engine_proc, env, side.data_dir, phones_pw, side)
    try:
        server.start()
        carrier.start()
        await asyncio.gather(server.wait_ready(), carrier.wait_ready())
        pair.carrier_app = CarrierApp(carrier.url, CARRIER_APP)
        await pair.carrier_app.start()
        phone_app = CarrierApp(carrier.url, PHONES_APP)
        await phone_app.start()
        pair.phones = Phones(phone_app)
        pair.phones.start()
        if engine:
            await pair.start_engine()
        for p in phones:
            await wait_registered(server, p)
        yield pair
    except BaseException:
        print(pair.debug())
        raise
    finally:
        engine_proc.stop()
        if pair.phones is not None:
            await pair.phones.stop()
            await pair.phones.app.stop()
        if pair.carrier_app is not None:
            await pair.carrier_app.stop()
        server.stop()
        carrier.stop()


async def wait_registered(server: AsteriskServer, aor: str, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while True:
        out = await asyncio.to_thread(server.cli, f"pjsip show aor {aor}")
        if "Contact:" in out and f"{aor}/sip:" in out:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"phone {aor} did not register with the hotline:\n{out}\n{server.tail()}")
        await asyncio.sleep(0.2)


def clear_recordings(server: AsteriskServer) -> None:
    """An empty recording spool (the folder itself must exist, else Asterisk answers 500)."""
    shutil.rmtree(server.spool / "recording", ignore_errors=True)
    (server.spool / "recording").mkdir(parents=True)


@contextlib.asynccontextmanager
async def reference_server(root: Path) -> AsyncIterator[AsteriskServer]:
    """One plain Asterisk 22 laid out as the one the ARI captures were taken on: ``Local/1000@hotline-in``
    enters Stasis app ``hotline`` (``ivr-test-in`` enters ``ivr-test``), with the captures' sounds."""
    from ivr.asterisk.render import render_modules

    missing = asterisk_missing()
    if missing:
        pytest.skip(missing)
    http = free_port()
    files = {
        "extensions.conf": ("[hotline-in]\nexten => 1000,1,Stasis(hotline)\n same => n,Hangup()\n\n"
                            "[ivr-test-in]\nexten => 1000,1,Stasis(ivr-test)\n same => n,Hangup()\n"),
        "ari.conf": ARI_CONF,
        "http.conf": f"[general]\nenabled=yes\nbindaddr=127.0.0.1\nbindport={http}\n",
        "cdr.conf": "[general]\nenable=no\n",
        "pjsip.conf": "",
        "logger.conf": "[general]\ndateformat=%F %T.%3q\n[logfiles]\nmessages.log => notice,warning,error,verbose(3)\n",
        # the hotline's modules, and TALK_DETECT, which one capture uses
        "modules.conf": render_modules() + "load => func_talkdetect.so\n",
    }
    sounds = SHARED / "asterisk-ari" / "sounds"
    server = AsteriskServer("reference", root, files, http_port=http,
                            sounds={"en": sounds / "en", "accept": sounds / "accept"})
    try:
        server.start()
        await server.wait_ready()
        yield server
    except BaseException:
        print(server.tail())
        raise
    finally:
        server.stop()
