"""A thin, typed asyncio client for the Asterisk 22 REST Interface (ARI).

Every method is one REST request. Errors raise :mod:`ivr.ari.errors` exceptions carrying the
HTTP status and Asterisk's message; a 404 after the caller hung up is a ``ChannelNotFound``
that the engine treats as routine. Credentials travel in an HTTP Basic ``Authorization``
header, never in a URL (URLs end up in logs).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import aiohttp
from yarl import URL

from ivr.ari.errors import AriTimeout, AriUnavailable, error_for

log = logging.getLogger(__name__)

Json = dict[str, Any]
RequestHook = Callable[[str, str], None]
HANGUP_REASONS = frozenset(
    {"normal", "busy", "congestion", "no_answer", "timeout", "rejected", "unallocated", "normal_unspecified",
     "number_incomplete", "codec_mismatch", "interworking", "failure", "answered_elsewhere"}
)


def seg(value: str) -> str:
    """One path segment, percent-encoded: a recording name 'a/b' becomes 'a%2Fb' (else Asterisk answers 404)."""
    return quote(value, safe="")


def _param(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def api_base(url: str) -> str:
    """``http://host:8088`` or ``http://host:8088/ari`` -> ``http://host:8088/ari``."""
    parts = urlsplit(url.rstrip("/"))
    path = parts.path.rstrip("/")
    if not path.endswith("/ari"):
        path += "/ari"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class AriClient:
    """REST operations of one Asterisk. Create it inside the event loop; ``await close()`` when done.

    ``on_request(method, path)``, when given, is called synchronously just before each request is sent
    (used by the benchmark to time DTMF-to-stop; nothing is measured when it is None).
    """

    def __init__(
        self,
        base_url: str,
        user: str,
        password: str,
        *,
        timeout: float = 10.0,
        on_request: RequestHook | None = None,
    ) -> None:
        self.base_url = api_base(base_url)
        self.timeout = timeout
        self.on_request = on_request
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self._headers = {"Authorization": f"Basic {token}"}
        self._session: aiohttp.ClientSession | None = None

    # -- plumbing ---------------------------------------------------------------------------------------------

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=200),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    def url(self, path: str, params: Mapping[str, object] | None = None) -> URL:
        """The full URL of ``path`` (already percent-encoded) with ``params`` (None values dropped)."""
        query = urlencode({k: _param(v) for k, v in (params or {}).items() if v is not None}, quote_via=quote)
        return URL(self.base_url + path + (f"?{query}" if query else ""), encoded=True)

    async def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, object] | None = None,
        body: Json | None = None,
        *,
        raw: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON (None for 204), or bytes when ``raw``."""
        url = self.url(path, params)
        if self.on_request is not None:
            self.on_request(method, path)
        try:
            async with self.session.request(method, url, json=body) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    raise error_for(resp.status, _message(data, resp.reason), method=method, path=path)
        except TimeoutError:
            raise AriTimeout(0, f"no answer within {self.timeout:g}s", method=method, path=path) from None
        except aiohttp.ClientError as exc:
            raise AriUnavailable(0, f"cannot reach Asterisk: {type(exc).__name__}", method=method, path=path) from exc
        if raw:
            return data
        if not data:
            return None
        return json.loads(data)

    async def connect_events(self, app: str, *, subscribe_all: bool = False) -> aiohttp.ClientWebSocketResponse:
        """Open the app's event WebSocket (``/ari/events``), Basic auth in the header."""
        ws_url = URL(self.base_url.replace("http", "ws", 1) + "/events").with_query(
            app=app, subscribeAll=_param(subscribe_all)
        )
        return await self.session.ws_connect(
            ws_url, headers=self._headers, heartbeat=20.0, timeout=aiohttp.ClientWSTimeout(ws_close=5.0)
        )

    # -- channels ---------------------------------------------------------------------------------------------

    async def list_channels(self) -> list[Json]:
        result: list[Json] = await self.request("GET", "/channels")
        return result

    async def get_channel(self, ch: str) -> Json:
        result: Json = await self.request("GET", f"/channels/{seg(ch)}")
        return result

    async def answer(self, ch: str) -> None:
        await self.request("POST", f"/channels/{seg(ch)}/answer")

    async def hangup(self, ch: str, reason: str = "normal") -> None:
        if reason not in HANGUP_REASONS:
            raise ValueError(f"unknown hangup reason {reason!r}")
        await self.request("DELETE", f"/channels/{seg(ch)}", {"reason": reason})

    async def originate(
        self,
        endpoint: str,
        *,
        app: str | None = None,
        app_args: str | None = None,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        caller_id: str | None = None,
        timeout: int = 30,  # noqa: ASYNC109 - the ring timeout Asterisk applies, not ours
        channel_id: str | None = None,
        other_channel_id: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Json:
        """Create a channel (a call-back, a transfer leg, or a test caller). Returns the Channel."""
        params = {
            "endpoint": endpoint, "app": app, "appArgs": app_args, "context": context, "extension": extension,
            "priority": priority, "callerId": caller_id, "timeout": timeout, "channelId": channel_id,
            "otherChannelId": other_channel_id,
        }
        body = {"variables": dict(variables)} if variables else None
        result: Json = await self.request("POST", "/channels", params, body)
        return result

    async def continue_in_dialplan(
        self,
        ch: str,
        *,
        context: str | None = None,
        extension: str | None = None,
        priority: int | None = None,
        label: str | None = None,
    ) -> None:
        params = {"context": context, "extension": extension, "priority": priority, "label": label}
        await self.request("POST", f"/channels/{seg(ch)}/continue", params)

    async def set_variable(self, ch: str, name: str, value: str) -> None:
        await self.request("POST", f"/channels/{seg(ch)}/variable", {"variable": name, "value": value})

    async def get_variable(self, ch: str, name: str) -> str:
        result = await self.request("GET", f"/channels/{seg(ch)}/variable", {"variable": name})
        return str(result.get("value", "")) if result else ""

    async def send_dtmf(self, ch: str, dtmf: str, *, between: int | None = None, duration: int | None = None) -> None:
        """Send digits on ``ch``: they arrive as ChannelDtmfReceived on the channel at the other end."""
        params = {"dtmf": dtmf, "between": between, "duration": duration}
        await self.request("POST", f"/channels/{seg(ch)}/dtmf", params)

    async def external_media(
        self,
        app: str,
        external_host: str,
        format: str = "slin16",
        *,
        channel_id: str | None = None,
        encapsulation: Literal["rtp", "audiosocket", "none"] = "rtp",
        transport: Literal["udp", "tcp", "websocket"] = "udp",
        connection_type: Literal["client", "server"] = "client",
        direction: Literal["both"] = "both",
        data: str | None = None,
        variables: Mapping[str, str] | None = None,
    ) -> Json:
        params = {
            "app": app, "external_host": external_host, "format": format, "channelId": channel_id,
            "encapsulation": encapsulation, "transport": transport, "connection_type": connection_type,
            "direction": direction, "data": data,
        }
        body = {"variables": dict(variables)} if variables else None
        result: Json = await self.request("POST", "/channels/externalMedia", params, body)
        return result

    # -- playbacks --------------------------------------------------------------------------------------------

    async def play(
        self, ch: str, media: Sequence[str], *, lang: str | None = None, playback_id: str | None = None
    ) -> Json:
        """Play a media list; returns the Playback (state 'queued'). Events follow on the WebSocket."""
        if isinstance(media, str):
            media = [media]
        params = {"media": ",".join(media), "lang": lang, "playbackId": playback_id}
        result: Json = await self.request("POST", f"/channels/{seg(ch)}/play", params)
        return result

    async def stop_playback(self, playback_id: str) -> None:
        await self.request("DELETE", f"/playbacks/{seg(playback_id)}")

    # -- recordings -------------------------------------------------------------------------------------------

    async def record(
        self,
        ch: str,
        name: str,
        *,
        format: str = "wav",
        max_duration: int = 0,
        max_silence: int = 0,
        beep: bool = False,
        terminate_on: Literal["none", "any", "*", "#"] = "none",
        if_exists: Literal["fail", "overwrite", "append"] = "fail",
    ) -> Json:
        """Start a live recording of what the caller says; returns the LiveRecording (state 'queued')."""
        params = {
            "name": name, "format": format, "maxDurationSeconds": max_duration, "maxSilenceSeconds": max_silence,
            "beep": beep, "terminateOn": terminate_on, "ifExists": if_exists,
        }
        result: Json = await self.request("POST", f"/channels/{seg(ch)}/record", params)
        return result

    async def get_live_recording(self, name: str) -> Json:
        """The LiveRecording (its ``state``: queued, recording, paused, done, failed...)."""
        result: Json = await self.request("GET", f"/recordings/live/{seg(name)}")
        return result

    async def stop_recording(self, name: str) -> None:
        """Stop a live recording and keep it."""
        await self.request("POST", f"/recordings/live/{seg(name)}/stop")

    async def cancel_recording(self, name: str) -> None:
        """Stop a live recording and discard it."""
        await self.request("DELETE", f"/recordings/live/{seg(name)}")

    async def list_stored_recordings(self) -> list[Json]:
        result: list[Json] = await self.request("GET", "/recordings/stored")
        return result

    async def get_stored_recording(self, name: str) -> Json:
        result: Json = await self.request("GET", f"/recordings/stored/{seg(name)}")
        return result

    async def download_stored_recording(self, name: str) -> bytes:
        result: bytes = await self.request("GET", f"/recordings/stored/{seg(name)}/file", raw=True)
        return result

    async def delete_stored_recording(self, name: str) -> None:
        await self.request("DELETE", f"/recordings/stored/{seg(name)}")

    # -- bridges ----------------------------------------------------------------------------------------------

    async def create_bridge(
        self, bridge_type: str = "mixing", *, bridge_id: str | None = None, name: str | None = None
    ) -> Json:
        params = {"type": bridge_type, "bridgeId": bridge_id, "name": name}
        result: Json = await self.request("POST", "/bridges", params)
        return result

    async def add_to_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request("POST", f"/bridges/{seg(bridge_id)}/addChannel", {"channel": ",".join(channel_ids)})

    async def remove_from_bridge(self, bridge_id: str, channel_ids: Sequence[str]) -> None:
        await self.request("POST", f"/bridges/{seg(bridge_id)}/removeChannel", {"channel": ",".join(channel_ids)})

    async def destroy_bridge(self, bridge_id: str) -> None:
        await self.request("DELETE", f"/bridges/{seg(bridge_id)}")


def _message(data: bytes, reason: str | None) -> str:
    """Asterisk's ``{"message": ...}`` text, else the HTTP reason phrase."""
    try:
        decoded = json.loads(data)
    except ValueError:
        decoded = None
    if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
        return decoded["message"]
    return reason or "error"


__all__ = ["AriClient", "api_base", "seg"]

