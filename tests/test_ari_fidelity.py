"""Fidelity against a real Asterisk 22: (a) every client request fits the Swagger spec it served;
(b) each recorded capture, replayed against the emulator, gives the same REST statuses and the
same event sequence for the hotline app (types, order, playback and recording states)."""

from __future__ import annotations

import inspect
import json
import re
import typing
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from aiohttp import web
from ari_replay import replay, signature
from conftest import ARI_SHARED, requires_shared
from sim_support import PASSWORD, USER, stub_server

from ivr.ari.client import AriClient
from ivr.sim.server import Emulator

pytestmark = requires_shared
API_DOCS = ARI_SHARED / "api-docs"
CAPTURES = sorted((ARI_SHARED / "captures").glob("*.jsonl")) if ARI_SHARED.is_dir() else []
SPEED = 4.0

# -- (a) the client against the spec ------------------------------------------------------------------------

SAMPLES: dict[str, Any] = {
    "ch": "1795539440.47", "media": ["sound:hello-world", "sound:vm-intro"], "lang": "en", "playback_id": "pb-1",
    "name": "scen/vm", "value": "800", "dtmf": "12#", "endpoint": "Local/1000@hotline-in", "app": "hotline",
    "app_args": "caller", "context": "hotline-in", "extension": "1000", "priority": 2, "label": "start",
    "caller_id": "Worker <66812345678>", "channel_id": "call-1", "other_channel_id": "call-2",
    "variables": {"IVR_CASE": "1"}, "bridge_id": "b-1", "bridge_type": "holding", "channel_ids": ["c-1", "c-2"],
    "external_host": "127.0.0.1:4000", "format": "slin16", "data": "x", "reason": "busy", "between": 200,
    "duration": 150, "max_duration": 60, "max_silence": 4, "timeout": 20, "beep": True,
}


def _operations() -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    ops = []
    for doc in API_DOCS.glob("*.json"):
        spec = json.loads(doc.read_text())
        for api in spec.get("apis", []):
            pattern = re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", api["path"]) + "$")
            for op in api.get("operations", []):
                ops.append((op["httpMethod"], pattern, op))
    return ops


def _kwargs(method: Any) -> tuple[list[Any], dict[str, Any]]:
    """Arguments for every parameter, choosing non-default values so every optional parameter is sent."""
    hints = typing.get_type_hints(method)
    args, kwargs = [], {}
    for name, param in inspect.signature(method).parameters.items():
        if name == "self":
            continue
        hint = hints.get(name)
        if typing.get_origin(hint) is typing.Literal:
            choices = typing.get_args(hint)
            value: Any = next((v for v in choices if v != param.default), choices[0])
        elif name in SAMPLES:
            value = SAMPLES[name]
        else:
            raise AssertionError(f"add a sample value for parameter {name!r} of {method.__name__}")
        if param.kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs[name] = value
        else:
            args.append(value)
    return args, kwargs


async def test_every_client_request_matches_the_spec() -> None:
    seen: list[tuple[str, str, dict[str, str], Any]] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else None
        seen.append((request.method, request.raw_path, dict(parse_qsl(request.query_string)), body))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    methods = [m for n, m in inspect.getmembers(AriClient, inspect.iscoroutinefunction)
               if not n.startswith("_") and n not in ("close", "request", "connect_events")]
    assert len(methods) >= 20
    ops = _operations()
    async with stub_server(app) as url:
        client = AriClient(url, USER, PASSWORD)
        try:
            for method in methods:
                before = len(seen)
                args, kwargs = _kwargs(method)
                await method(client, *args, **kwargs)
                assert len(seen) == before + 1, method.__name__
                verb, raw_path, query, body = seen[-1]
                path = urlsplit(raw_path).path.removeprefix("/ari")
                matches = [(pattern.pattern.count("[^/]+"), op) for v, pattern, op in ops
                           if v == verb and pattern.match(path)]
                assert matches, f"{method.__name__}: {verb} {path} is not in the spec"
                op = min(matches, key=lambda m: m[0])[1]  # a literal segment beats a {placeholder}
                params = {p["name"]: p for p in op.get("parameters", [])}
                for name, p in params.items():
                    if p.get("required") and p["paramType"] == "query":
                        assert name in query, f"{method.__name__}: required {name} missing"
                for name, value in query.items():
                    assert name in params and params[name]["paramType"] == "query", f"{method.__name__}: {name}"
                    allowed = (params[name].get("allowableValues") or {})
                    if allowed.get("valueType") == "LIST":
                        assert value in allowed["values"], f"{method.__name__}: {name}={value}"
                if body is not None:
                    assert set(body) <= {n for n, p in params.items() if p["paramType"] == "body"}, method.__name__
        finally:
            await client.close()
    # names with '/' travel percent-encoded
    assert any(p == "/ari/recordings/stored/scen%2Fvm/file" for _, p, _, _ in seen)


# -- (b) the captures replayed against the emulator --------------------------------------------------------

def _required(doc: str, model: str) -> set[str]:
    spec = json.loads((API_DOCS / doc).read_text())
    return {k for k, v in spec["models"][model]["properties"].items() if v.get("required")}


def check_fields(event: dict[str, Any]) -> None:
    """The fields events.json (and the nested models) mark required are present."""
    required = _required("events.json", event["type"]) | {"type", "application", "timestamp"}
    missing = required - set(event)
    assert not missing, f"{event['type']} lacks {missing}"
    nested = {"channel": ("channels.json", "Channel"), "playback": ("playbacks.json", "Playback"),
              "recording": ("recordings.json", "LiveRecording")}
    for key, (doc, model) in nested.items():
        if isinstance(event.get(key), dict):
            assert not _required(doc, model) - set(event[key]), f"{event['type']}.{key}"


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    # Each capture was taken on a fresh server with an empty recording spool (the folder itself exists).
    spool = tmp_path / "spool"
    spool.mkdir()
    emu = Emulator(user=USER, password=PASSWORD, sounds_dir=ARI_SHARED / "sounds", spool_dir=spool,
                   routes={"hotline-in": "hotline"}, speed=SPEED)
    await emu.start()
    yield emu
    await emu.stop()


@pytest.mark.parametrize("capture", CAPTURES, ids=[p.stem for p in CAPTURES])
async def test_capture_replays_the_same(capture: Path, emulator: Emulator) -> None:
    result = await replay(capture, emulator.url, USER, PASSWORD, speed=SPEED)
    assert [(what, real) for what, real, _ in result.statuses] == [(what, ours) for what, _, ours in result.statuses]
    assert all(real == ours for _, real, ours in result.messages), result.messages
    assert [signature(e) for e in result.hotline] == [signature(e) for e in result.real_hotline]
    for event in result.hotline + result.tester:
        check_fields(event)
    assert all(e["application"] == "hotline" for e in result.hotline)
