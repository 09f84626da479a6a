"""The full default flow (callflows/hotline.yaml) in the ARI concurrency harness.

A handler and a caller script for bench/ari_concurrency.py. Each call runs the real engine
(``Engine.handle``: flow interpreter, SQLite writes through the writer thread, case code
hashing, recording fetched over ARI and verified, transcription job queued) against the
emulator; each caller picks a language, reports a problem (category 1), skips the workplace
code, leaves a spoken message, keeps it at review and hears the case code read back twice.

    .venv/bin/python bench/ari_concurrency.py --calls 50 --rate 25 --speed 4 \\
        --handler bench.engine_flow:handle --caller bench.engine_flow:caller

BENCH_SPEED must equal --speed (the engine scales its waits for the caller to match the
emulator's media clock); it defaults to the --speed found on the command line. Prompts are
1 s tones for every catalog key. After the run, the engine's database is summarised on stderr.
DTMF-to-stop is measured at the engine's barge-in (ivr.engine.channel.Channel), wrapped here.
"""

from __future__ import annotations

import array
import atexit
import math
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from ivr.ari.events import Event
from ivr.ari.stasis import Call
from ivr.db.writer import Database
from ivr.engine import channel as engine_channel
from ivr.engine.service import Engine
from ivr.flows.load import flow_path, load_flow
from ivr.prompts.catalog import load_catalog
from ivr.prompts.resolve import PromptResolver
from ivr.settings import load
from ivr.sim.caller import ScriptedCaller
from ivr.sim.media import write_wav

REPO = Path(__file__).resolve().parents[1]
_engine: Engine | None = None


def _speed() -> float:
    if os.environ.get("BENCH_SPEED"):
        return float(os.environ["BENCH_SPEED"])
    argv = sys.argv
    return float(argv[argv.index("--speed") + 1]) if "--speed" in argv else 1.0


def _tone(path: Path, seconds: float, freq: float = 440.0) -> None:
    rate = 8000
    write_wav(path, array.array("h", (int(6000 * math.sin(2 * math.pi * freq * i / rate))
                                      for i in range(int(seconds * rate)))))


def _measure_barge_in() -> None:
    """Hand the harness the DTMF event's arrival time just before the engine stops the prompt."""
    main = sys.modules.get("__main__")
    if main is not None and hasattr(main, "DTMF_AT"):
        dtmf_at_var = main.DTMF_AT   # the harness runs as a script
    else:
        from bench.ari_concurrency import DTMF_AT as dtmf_at_var

    digit, stop = engine_channel.Channel._digit, engine_channel.Channel._stop_playback

    def timed_digit(self: Any, event: Event) -> str | None:
        found = digit(self, event)
        if found is not None:
            self._dtmf_at = event.received_at
        return found

    async def timed_stop(self: Any, playback_id: str) -> None:
        if getattr(self, "_dtmf_at", None):
            dtmf_at_var.set(self._dtmf_at)
            self._dtmf_at = None
        await stop(self, playback_id)

    engine_channel.Channel._digit = timed_digit  # type: ignore[method-assign]
    engine_channel.Channel._stop_playback = timed_stop  # type: ignore[method-assign]


def _build(client_url: str = "http://127.0.0.1:8088") -> Engine:
    """The engine, built once when the harness loads this module (so its set-up is not measured).

    It never opens its own ARI connection: the harness's StasisApp hands it each call.
    """
    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-engine-"))
    settings = load(environ={}, mode="engine", flags={
        "data_dir": str(tmp / "var"), "secret_key": secrets.token_hex(16), "prompts_dir": str(REPO / "prompts"),
        "flows_dir": str(REPO / "callflows"), "models_dir": str(tmp / "models"), "ari_url": client_url,
        "languages": "my,km,lo,th,ne,vi,en", "log_level": "WARNING",
    })
    _tone(tmp / "tone.wav", 1.0)
    data = (tmp / "tone.wav").read_bytes()
    keys = list(load_catalog(settings.prompts_dir).prompts)
    for lang in settings.languages:
        for key in keys:
            path = settings.data_dir / "prompts" / lang / f"{key}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    database = Database(settings.db_path)
    engine = Engine(settings, database, prompts=PromptResolver(settings), time_scale=_speed())
    engine.flow = load_flow(flow_path(settings.flows_dir, settings.flow))
    engine.prompts = PromptResolver(settings)
    atexit.register(_summary, database)
    _measure_barge_in()
    return engine


def _summary(database: Database) -> None:
    calls = database.query_sync("select outcome, count(*) n, avg(duration_s) d from calls group by outcome")
    recs = database.query_sync("select state, count(*) n from recordings group by state")
    jobs = database.query_sync("select count(*) n from jobs")[0]["n"]
    cases = database.query_sync("select count(*) n from cases")[0]["n"]
    print("engine db: calls " + ", ".join(f"{r['outcome']}={r['n']} (avg {r['d']:.1f} s)" for r in calls)
          + f"; cases={cases}; recordings " + ", ".join(f"{r['state']}={r['n']}" for r in recs)
          + f"; transcription jobs={jobs}", file=sys.stderr)
    database.close()


async def handle(call: Call) -> None:
    """The harness's per-call handler: the real engine's."""
    global _engine
    if _engine is None:
        _engine = _build()
    await _engine.handle(call)


if "--handler" in sys.argv and any("engine_flow:handle" in a for a in sys.argv):
    _engine = _build()


async def caller(c: ScriptedCaller, sounds: Path) -> None:
    """Language 7 (English), report, wages, no workplace code, a message, keep it, hear the code."""
    await c.wait_answered(120)
    await c.wait_prompt("choose_language", slack=120)
    await c.press("7")
    await c.wait_prompt("main_menu", slack=120)
    await c.press("1")                        # barge-in: stops the main menu prompt
    await c.wait_prompt("category_menu", slack=120)
    await c.press("1")
    await c.wait_prompt("workplace_code", slack=120)
    await c.press("#")
    await c.wait_recording(120)
    await c.speak(sounds / "speech.wav")
    await c.press("#")
    await c.wait_prompt("review_menu", slack=120)
    await c.press("1")
    await c.wait_prompt("case_code_repeat", slack=120)
    await c.wait_hung_up(180)
