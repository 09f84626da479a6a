"""The emulator's REST paths under /ari, with the status codes and messages of Asterisk 22."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ivr.sim.playback import Playback
from ivr.sim.recording import FORMATS, LiveRecording, stored_names, stored_path, valid_name
from ivr.sim.state import Bridge, Channel, World
from ivr.sim.switch import CAUSES, DTMF_DIGITS, SOFTHANGUP_EXPLICIT, Switch, parse_caller_id

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_CONTENT = 204


class AriError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def fail(status: int, message: str) -> AriError:
    return AriError(status, message)


def _bool(value: str | None) -> bool:
    return (value or "").lower() in ("true", "yes", "1", "on")


def _int(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise fail(400, f"{name} must be an integer") from None


def _choice(request: web.Request, name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.query.get(name, default)
    if value not in allowed:
        raise fail(400, f"{name}: invalid value")
    return value


class Routes:
    def __init__(self, world: World, switch: Switch) -> None:
        self.world = world
        self.switch = switch
        self._dtmf_tasks: set[asyncio.Task[None]] = set()

    def add_to(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/ari/channels", self.list_channels)
        r.add_post("/ari/channels", self.originate)
        r.add_post("/ari/channels/externalMedia", self.external_media)
        r.add_get("/ari/channels/{id}", self.get_channel)
        r.add_post("/ari/channels/{id}", self.originate)
        r.add_delete("/ari/channels/{id}", self.hangup)
        r.add_post("/ari/channels/{id}/answer", self.answer)
        r.add_post("/ari/channels/{id}/play", self.play)
        r.add_post("/ari/channels/{id}/play/{pid}", self.play)
        r.add_post("/ari/channels/{id}/record", self.record)
        r.add_post("/ari/channels/{id}/dtmf", self.dtmf)
        r.add_post("/ari/channels/{id}/continue", self.continue_)
        r.add_post("/ari/channels/{id}/variable", self.set_variable)
        r.add_get("/ari/channels/{id}/variable", self.get_variable)
        for verb in ("ring", "progress", "hold", "moh", "silence", "mute"):
            r.add_post(f"/ari/channels/{{id}}/{verb}", self.no_op)
            r.add_delete(f"/ari/channels/{{id}}/{verb}", self.no_op)
        r.add_get("/ari/playbacks/{pid}", self.get_playback)
        r.add_delete("/ari/playbacks/{pid}", self.stop_playback)
        r.add_get("/ari/recordings/live/{name}", self.get_live)
        r.add_post("/ari/recordings/live/{name}/stop", self.stop_live)
        r.add_delete("/ari/recordings/live/{name}", self.cancel_live)
        r.add_get("/ari/recordings/stored", self.list_stored)
        r.add_get("/ari/recordings/stored/{name}", self.get_stored)
        r.add_delete("/ari/recordings/stored/{name}", self.delete_stored)
        r.add_get("/ari/recordings/stored/{name}/file", self.stored_file)
        r.add_get("/ari/bridges", self.list_bridges)
        r.add_post("/ari/bridges", self.create_bridge)
        r.add_post("/ari/bridges/{bid}", self.create_bridge)
        r.add_get("/ari/bridges/{bid}", self.get_bridge)
        r.add_delete("/ari/bridges/{bid}", self.destroy_bridge)
        r.add_post("/ari/bridges/{bid}/addChannel", self.add_channel)
        r.add_post("/ari/bridges/{bid}/removeChannel", self.remove_channel)
        r.add_get("/ari/asterisk/info", self.info)

    # -- lookups ----------------------------------------------------------------------------------------------

    def _channel(self, request: web.Request) -> Channel:
        ch = self.world.channels.get(request.match_info["id"])
        if ch is None or ch.hanging_up:
            raise fail(404, "Channel not found")
        return ch

    def _in_stasis(self, request: web.Request) -> Channel:
        ch = self._channel(request)
        if ch.stasis_app is None:
            raise fail(409, "Channel not in Stasis application")
        return ch

    def _bridge(self, request: web.Request) -> Bridge:
        bridge = self.world.bridges.get(request.match_info["bid"])
        if bridge is None:
            raise fail(404, "Bridge not found")
        return bridge

    # -- channels ---------------------------------------------------------------------------------------------

    async def list_channels(self, request: web.Request) -> web.Response:
        return web.json_response([c.json() for c in self.world.channels.values() if not c.hanging_up])

    async def get_channel(self, request: web.Request) -> web.Response:
        return web.json_response(self._channel(request).json())

    async def originate(self, request: web.Request) -> web.Response:
        q = request.query
        endpoint = q.get("endpoint", "")
        if not endpoint:
            raise fail(400, "Endpoint must be specified")
        app = q.get("app") or None
        if app is None and not q.get("extension"):
            raise fail(400, "Application or extension must be specified")
        channel_id = request.match_info.get("id") or q.get("channelId") or None
        if channel_id and channel_id in self.world.channels:
            raise fail(409, "Channel with given unique ID already exists")
        body = await request.json() if request.can_read_body else {}
        variables = {str(k): str(v) for k, v in ((body or {}).get("variables") or {}).items()}
        caller = parse_caller_id(q.get("callerId"))
        timeout = _int(request, "timeout", 30)
        tech, _, resource = endpoint.partition("/")
        if tech.lower() == "local":
            exten, _, context = resource.split("/")[0].partition("@")
            if not exten or not context:
                raise fail(400, "Invalid endpoint")
            ch = self.switch.originate_local(
                exten, context, app=app, app_args=q.get("appArgs", ""), caller=caller, timeout=timeout,
                channel_id=channel_id, other_channel_id=q.get("otherChannelId") or None, variables=variables,
            )
        else:
            ch = self._originate_far(endpoint, app, q, caller, channel_id, variables)
        return web.json_response(ch.json())

    def _originate_far(
        self, endpoint: str, app: str | None, q: Any, caller: dict[str, str], channel_id: str | None,
        variables: dict[str, str],
    ) -> Channel:
        """A call out to a phone (PJSIP/...): it rings, answers after two seconds, then stays silent."""
        number = self.world.next_number()
        ch = Channel(
            id=channel_id or self.world.new_channel_id(), name=f"{endpoint}-{number:08x}", state="Down",
            caller=caller, context=q.get("context", "default"), exten=q.get("extension", "s"), priority=1,
        )
        ch.variables.update(variables)
        if app:
            ch.origin_apps.add(app)
        self.world.channels[ch.id] = ch

        def answered() -> None:
            if ch.id not in self.world.channels:
                return
            ch.state = "Up"
            self.world.channel_event("ChannelStateChange", ch)
            if app:
                args = q.get("appArgs", "")
                ch.app_name, ch.app_data = "Stasis", f"{app},{args}" if args else app
                self.switch.enter_stasis(ch, app, [args] if args else [])
            else:
                self.switch.continue_in_dialplan(ch, ch.context, ch.exten, 1)

        self.world.clock.call_at(self.world.clock.now() + 2.0, answered)
        return ch

    async def external_media(self, request: web.Request) -> web.Response:
        q = request.query
        app = q.get("app")
        if not app or not q.get("format"):
            raise fail(400, "app and format are required")
        host = q.get("external_host", "")
        ch = Channel(
            id=q.get("channelId") or self.world.new_channel_id(),
            name=f"UnicastRTP/{host}-{self.world.next_number():08x}", state="Up",
            caller={"name": "", "number": ""}, context="default", exten="s", priority=1,
            app_name="Stasis", app_data=app,
        )
        ch.variables.update(UNICASTRTP_LOCAL_ADDRESS="127.0.0.1", UNICASTRTP_LOCAL_PORT="0")
        self.world.channels[ch.id] = ch
        asyncio.get_running_loop().call_soon(self.switch.enter_stasis, ch, app, [])
        return web.json_response(ch.json())

    async def hangup(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        reason = request.query.get("reason", "normal")
        if reason not in CAUSES:
            raise fail(400, "Invalid reason for hangup provided")
        cause = _int(request, "reason_code", CAUSES[reason])
        self.switch.hangup(ch, cause=SOFTHANGUP_EXPLICIT, soft=True, final_cause=cause)
        return web.Response(status=NO_CONTENT)

    async def answer(self, request: web.Request) -> web.Response:
        self.switch.answer(self._in_stasis(request))
        return web.Response(status=NO_CONTENT)

    async def no_op(self, request: web.Request) -> web.Response:
        self._in_stasis(request)
        return web.Response(status=NO_CONTENT)

    async def play(self, request: web.Request) -> web.Response:
        ch = self._in_stasis(request)
        uris = [m for m in request.query.get("media", "").split(",") if m]
        if not uris:
            raise fail(400, "media is required")
        pid = request.match_info.get("pid") or request.query.get("playbackId") or None
        if pid and pid in self.world.playbacks:
            raise fail(409, "Playback with given id already exists")
        playback = Playback(self.switch.media, ch, uris, lang=request.query.get("lang") or None, playback_id=pid)
        self.world.playbacks[playback.id] = playback
        self.switch.queue_op(ch, playback)
        return web.json_response(playback.json(), status=201)

    async def record(self, request: web.Request) -> web.Response:
        ch = self._in_stasis(request)
        q = request.query
        if q.get("format") not in FORMATS:
            raise fail(422, "specified format is unknown on this system")
        name = q.get("name", "")
        if not valid_name(name):
            raise fail(400, "Recording name is invalid")
        if_exists = _choice(request, "ifExists", ("fail", "overwrite", "append"), "fail")
        terminate_on = _choice(request, "terminateOn", ("none", "any", "*", "#"), "none")
        max_duration = _int(request, "maxDurationSeconds", 0)
        max_silence = _int(request, "maxSilenceSeconds", 0)
        if max_duration < 0 or max_silence < 0:
            raise fail(400, "maxDurationSeconds and maxSilenceSeconds may not be negative")
        if name in self.world.recordings or (if_exists == "fail" and stored_path(self.world.spool_dir, name).exists()):
            raise fail(409, f"Recording '{name}' already exists and can not be overwritten")
        if not self.world.spool_dir.is_dir():
            raise fail(500, "Internal Server Error")
        rec = LiveRecording(
            self.switch.media, ch, name, max_duration=max_duration, max_silence=max_silence, beep=_bool(q.get("beep")),
            terminate_on=terminate_on, if_exists=if_exists,
        )
        self.world.recordings[name] = rec
        self.switch.queue_op(ch, rec)
        return web.json_response(rec.json(), status=201)

    async def dtmf(self, request: web.Request) -> web.Response:
        ch = self._in_stasis(request)
        digits = request.query.get("dtmf", "")
        if not digits:
            raise fail(400, "DTMF is required")
        if any(d not in DTMF_DIGITS and d != "," for d in digits):
            raise fail(400, "Invalid DTMF digits")
        task = asyncio.create_task(
            self.switch.send_dtmf(
                ch, digits, before=_int(request, "before", 0), between=_int(request, "between", 100),
                duration=_int(request, "duration", 100),
            )
        )
        self._dtmf_tasks.add(task)
        task.add_done_callback(self._dtmf_tasks.discard)
        return web.Response(status=NO_CONTENT)

    async def continue_(self, request: web.Request) -> web.Response:
        ch = self._in_stasis(request)
        q = request.query
        self.switch.continue_in_dialplan(
            ch, q.get("context") or None, q.get("extension") or None, _int(request, "priority", 0) or None
        )
        return web.Response(status=NO_CONTENT)

    async def set_variable(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        name = request.query.get("variable", "")
        if not name:
            raise fail(400, "Variable name is required")
        value = request.query.get("value", "")
        if name.upper().startswith("TALK_DETECT("):
            self._talk_detect(ch, name, value)
        elif "(" not in name:
            ch.variables[name] = value
            self.world.channel_event("ChannelVarset", ch, variable=name, value=value)
        return web.Response(status=NO_CONTENT)

    def _talk_detect(self, ch: Channel, name: str, value: str) -> None:
        if name.upper() == "TALK_DETECT(REMOVE)":
            ch.talk_detect = None
            return
        parts = [p for p in value.split(",") if p]
        try:
            silence_ms = int(parts[0]) if parts else 2500
            talk_ms = int(parts[1]) if len(parts) > 1 else 160
        except ValueError:
            raise fail(400, "TALK_DETECT: thresholds must be numbers") from None
        ch.talk_detect = (silence_ms / 1000, talk_ms / 1000)
        self.switch._talk_schedule(ch)

    async def get_variable(self, request: web.Request) -> web.Response:
        ch = self._channel(request)
        name = request.query.get("variable", "")
        if not name:
            raise fail(400, "Variable name is required")
        builtin = {"CALLERID(num)": ch.caller["number"], "CALLERID(name)": ch.caller["name"],
                   "CHANNEL(language)": ch.language, "UNIQUEID": ch.id}
        value = builtin.get(name, ch.variables.get(name))
        if value is None:
            raise fail(404, "Provided variable was not found")
        return web.json_response({"value": value})

    # -- playbacks and recordings -----------------------------------------------------------------------------

    async def get_playback(self, request: web.Request) -> web.Response:
        playback = self.world.playbacks.get(request.match_info["pid"])
        if playback is None:
            raise fail(404, "Playback not found")
        return web.json_response(playback.json())

    async def stop_playback(self, request: web.Request) -> web.Response:
        playback = self.world.playbacks.get(request.match_info["pid"])
        if playback is None:
            raise fail(404, "Playback not found")
        playback.stop()
        return web.Response(status=NO_CONTENT)

    def _live(self, request: web.Request) -> LiveRecording:
        rec = self.world.recordings.get(request.match_info["name"])
        if not isinstance(rec, LiveRecording):
            raise fail(404, "Recording not found")
        return rec

    async def get_live(self, request: web.Request) -> web.Response:
        return web.json_response(self._live(request).json())

    async def stop_live(self, request: web.Request) -> web.Response:
        self._live(request).stop()
        return web.Response(status=NO_CONTENT)

    async def cancel_live(self, request: web.Request) -> web.Response:
        self._live(request).cancel()
        return web.Response(status=NO_CONTENT)

    async def list_stored(self, request: web.Request) -> web.Response:
        return web.json_response([{"name": n, "format": "wav"} for n in stored_names(self.world.spool_dir)])

    def _stored(self, request: web.Request) -> tuple[str, Any]:
        name = request.match_info["name"]
        path = stored_path(self.world.spool_dir, name)
        if not valid_name(name) or not path.is_file():
            raise fail(404, "Recording not found")
        return name, path

    async def get_stored(self, request: web.Request) -> web.Response:
        name, _ = self._stored(request)
        return web.json_response({"name": name, "format": "wav"})

    async def stored_file(self, request: web.Request) -> web.Response:
        _, path = self._stored(request)
        return web.Response(body=path.read_bytes(), content_type="audio/wav")

    async def delete_stored(self, request: web.Request) -> web.Response:
        _, path = self._stored(request)
        path.unlink()
        return web.Response(status=NO_CONTENT)

    # -- bridges ----------------------------------------------------------------------------------------------

    async def list_bridges(self, request: web.Request) -> web.Response:
        return web.json_response([b.json() for b in self.world.bridges.values()])

    async def create_bridge(self, request: web.Request) -> web.Response:
        q = request.query
        bid = request.match_info.get("bid") or q.get("bridgeId") or f"bridge-{self.world.next_number()}"
        if bid in self.world.bridges:
            return web.json_response(self.world.bridges[bid].json())
        bridge_type = q.get("type", "mixing") or "mixing"
        if any(t not in ("mixing", "holding", "dtmf_events", "proxy_media", "video_sfu", "video_single", "sdp_label")
               for t in bridge_type.split(",")):
            raise fail(400, "Invalid bridge type")
        bridge = Bridge(bid, bridge_type, q.get("name", ""), creator_app=None)
        self.world.bridges[bid] = bridge
        return web.json_response(bridge.json())

    async def get_bridge(self, request: web.Request) -> web.Response:
        return web.json_response(self._bridge(request).json())

    async def destroy_bridge(self, request: web.Request) -> web.Response:
        self.switch.destroy_bridge(self._bridge(request))
        return web.Response(status=NO_CONTENT)

    def _bridge_channels(self, request: web.Request) -> list[Channel]:
        ids = [c for c in request.query.get("channel", "").split(",") if c]
        if not ids:
            raise fail(400, "Missing parameter channel")
        chans = [self.world.channels.get(i) for i in ids]
        if any(c is None for c in chans):
            raise fail(400, "Channel not found")
        return [c for c in chans if c is not None]

    async def add_channel(self, request: web.Request) -> web.Response:
        bridge = self._bridge(request)
        chans = self._bridge_channels(request)
        if any(c.stasis_app is None for c in chans):
            raise fail(422, "Channel not in Stasis application")
        for ch in chans:
            self.switch.join_bridge(bridge, ch)
        return web.Response(status=NO_CONTENT)

    async def remove_channel(self, request: web.Request) -> web.Response:
        bridge = self._bridge(request)
        chans = self._bridge_channels(request)
        if any(c.bridge is not bridge for c in chans):
            raise fail(422, "Channel not in this bridge")
        for ch in chans:
            self.switch.leave_bridge(ch)
        return web.Response(status=NO_CONTENT)

    async def info(self, request: web.Request) -> web.Response:
        return web.json_response({"system": {"version": "22.0.0-ivr-sim", "entity_id": "02:fc:00:00:00:01"}})


