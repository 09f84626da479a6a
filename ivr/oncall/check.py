"""Start-up and `ivr check` problems of the on-call set-up, one line each.

Settings problems (bad SMTP settings, a webhook URL that is not https) already stop
start-up in :func:`ivr.settings.validate`. The rota lives in the database, so a rota with
nobody, or a phone that cannot be rung, is a line here: `ivr check` exits 1 with it, and
the engine logs it as an ERROR and still starts (callers must be answered regardless).
"""

from __future__ import annotations

import logging
import sqlite3

from ivr.ari.client import AriClient
from ivr.ari.errors import AriError, NotFound
from ivr.checks import check
from ivr.db import connect
from ivr.oncall import rota
from ivr.settings import Settings

log = logging.getLogger(__name__)
# Technologies whose endpoints Asterisk lists (GET /endpoints/{tech}/{resource}); Local is dialplan.
LISTED = ("PJSIP", "SIP", "IAX2")


def rota_problems(staff: list[rota.Staff], settings: Settings) -> list[str]:
    active = [s for s in staff if s.active]
    if not active:
        return ["oncall: the on-call rota has nobody, so an emergency rings no phone; add staff with "
                "`ivr oncall add` or at /oncall"]
    return [f"oncall: {s.name} (#{s.id}) has a phone number but IVR_ONCALL_TRUNK is not set, so it cannot be rung"
            for s in active if s.is_number and not settings.oncall_trunk]


async def endpoint_problems(client: AriClient, staff: list[rota.Staff]) -> list[str]:
    problems = []
    for s in staff:
        tech, _, resource = s.phone.partition("/")
        if not s.active or tech not in LISTED or "@" in resource:
            continue
        try:
            await client.request("GET", f"/endpoints/{tech}/{resource}")
        except NotFound:
            problems.append(f"oncall: {s.name} (#{s.id}): Asterisk has no endpoint {s.phone}")
        except AriError:
            return problems   # Asterisk away: the engine says so itself
    return problems


def load_staff(settings: Settings) -> list[rota.Staff] | None:
    if not settings.db_path.exists():
        return None
    try:
        db = connect(settings.db_path, readonly=True)
        try:
            return rota.list_staff(db, active_only=True)
        finally:
            db.conn.close()
    except sqlite3.Error:
        return None   # not migrated yet: `ivr db` checks say so


@check("oncall")
def check_oncall(settings: Settings) -> list[str]:
    staff = load_staff(settings)
    return [] if staff is None else rota_problems(staff, settings)
