"""``GET /metrics``: Prometheus text, read from the database and the health checks at scrape time.

Nothing is counted in memory: whichever process serves the scrape sees the same figures, and a
restart loses none. Names follow Prometheus conventions (``ivr_`` prefix, ``_total`` counters).
"""

from __future__ import annotations

from collections.abc import Iterator

import sqlite_utils
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ivr.db.connect import connect
from ivr.oncall.status import unacknowledged_emergencies
from ivr.ops.health import Report, collect
from ivr.settings import Settings

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HotlineCollector(Collector):
    def __init__(self, settings: Settings, report: Report) -> None:
        self.settings = settings
        self.report = report

    def collect(self) -> Iterator[Metric]:
        r = self.report
        up = GaugeMetricFamily("ivr_healthy", "1 when every health check passes", value=int(r.ok))
        yield up
        checks = GaugeMetricFamily("ivr_check_ok", "1 when this health check passes", labels=["check"])
        for c in r.checks:
            checks.add_metric([c.name], int(c.ok))
        yield checks
        yield GaugeMetricFamily("ivr_active_calls", "calls in progress in the engine",
                                value=r.value("engine", "active_calls") or 0)
        yield CounterMetricFamily("ivr_ari_reconnects", "times the engine's ARI event socket was reopened",
                                  value=r.value("engine", "ari_reconnects") or 0)
        age = r.value("engine", "last_event_age_s")
        if age is not None:
            yield GaugeMetricFamily("ivr_ari_last_event_age_seconds", "seconds since the last ARI event", value=age)
        yield GaugeMetricFamily("ivr_transcription_queue_depth", "recordings waiting for transcription",
                                value=r.value("transcription", "depth") or 0)
        yield GaugeMetricFamily("ivr_transcription_oldest_age_seconds", "age of the oldest waiting transcription",
                                value=r.value("transcription", "oldest_age_s") or 0)
        yield GaugeMetricFamily("ivr_fallback_files", "voicemails in the fallback folder not yet imported",
                                value=r.value("fallback", "files") or 0)
        yield GaugeMetricFamily("ivr_disk_free_bytes", "free space under the data dir",
                                value=r.value("disk", "free_bytes") or 0)
        if not r.checks[0].ok:
            return
        db = connect(self.settings.db_path, readonly=True)
        try:
            yield from self._from_db(db)
        finally:
            db.conn.close()

    def _from_db(self, db: sqlite_utils.Database) -> Iterator[Metric]:
        calls = CounterMetricFamily("ivr_calls", "calls ended, by outcome", labels=["outcome"])
        for outcome, n in db.execute(
                "select coalesce(outcome, 'unknown'), count(*) from calls where ended_at is not null group by 1"):
            calls.add_metric([outcome], n)
        yield calls
        kept = db.execute("select count(*) from recordings where kind != 'reply' and state = 'stored'").fetchone()
        yield CounterMetricFamily("ivr_messages_kept", "callers' messages stored", value=kept[0])
        failed = db.execute("select count(*) from audit_log where action = 'signin.failed'").fetchone()
        yield CounterMetricFamily("ivr_signin_failures", "failed web UI sign-ins", value=failed[0])
        # What counts as unacknowledged is the on-call package's to say (ivr.oncall.status).
        emergencies = unacknowledged_emergencies(db)
        yield GaugeMetricFamily("ivr_emergencies_unacknowledged", "emergency cases nobody has taken yet",
                                value=emergencies.count)
        yield GaugeMetricFamily("ivr_emergency_oldest_age_seconds",
                                "age of the oldest emergency nobody has taken (0 when none)",
                                value=emergencies.oldest_age_s or 0.0)


def render(settings: Settings, report: Report | None = None) -> bytes:
    """The Prometheus text for one scrape. Sync (reads SQLite): run it in a thread from async code."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HotlineCollector(settings, report or collect(settings)))
    return generate_latest(registry)
