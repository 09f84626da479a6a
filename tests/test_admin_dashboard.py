# ruff: noqa: F811  (fixtures imported from admin_helpers are parameters here)
"""The dashboard's chosen days against the days before, over real HTTP and in its CSV."""

from __future__ import annotations

import csv
import io

from admin_helpers import (  # noqa: F401
    Client,
    admin_template,
    client,
    insert_case,
    server,
    users,
    web_db,
    web_settings,
)

from ivr.db.writer import Database


async def test_period_against_the_previous_one(client: Client, web_db: Database, users: dict[str, int]) -> None:
    # 03:30 UTC is 10:30 in Bangkok: the hour of day is counted in the office's zone.
    calls = [("2026-03-10T03:30:00.000000Z", "th", "wages", "completed"),
             ("2026-03-11T03:30:00.000000Z", "my", None, "abandoned"),
             ("2026-03-12T03:30:00.000000Z", "th", "documents", "completed"),
             ("2026-03-05T03:30:00.000000Z", "th", "wages", "completed")]  # the 5 days before 03-08
    await web_db.write(lambda db: db.conn.executemany(
        "insert into calls (id, channel_id, started_at, ended_at, language, menu_choice, outcome) "
        "values (?, 'ch', ?, ?, ?, ?, ?)", [(f"c{i}", at, at, lang, choice, outcome)
                                            for i, (at, lang, choice, outcome) in enumerate(calls)]))
    await client.login("super")
    status, page = await client.get("/dashboard?from=2026-03-10&to=2026-03-12")
    assert status == 200 and "2026-03-10 to 2026-03-12 (3 days)" in page
    async with client.session.get(client.base + "/dashboard/period.csv?from=2026-03-10&to=2026-03-12") as r:
        rows = list(csv.reader(io.StringIO(await r.text())))
    assert rows[0] == ["Measure", "2026-03-10 to 2026-03-12", "Previous 3 days", "Change"]
    assert rows[1] == ["Calls", "3", "0", "new"]
    assert rows[2][:3] == ["Abandoned calls (hung up before choosing)", "1", "0"]
    async with client.session.get(client.base + "/dashboard/by_hour_of_day.csv?from=2026-03-10&to=2026-03-12") as r:
        hours = {row[0]: row[1:] for row in csv.reader(io.StringIO(await r.text()))}
    assert hours["10"] == ["3", "0"] and hours["03"] == ["0", "0"]
    async with client.session.get(client.base + "/dashboard/by_outcome.csv?from=2026-03-08&to=2026-03-12") as r:
        outcomes = {row[0]: row[1:] for row in csv.reader(io.StringIO(await r.text()))}
    assert outcomes["Completed"] == ["2", "1"] and outcomes["Hung up before choosing"] == ["1", "0"]
    status, text = await client.get("/dashboard?from=2026-03-12&to=2026-03-10")
    assert status == 400 and "after" in text
    status, text = await client.get("/dashboard?from=yesterday")
    assert status == 400 and "2026-01-31" in text
