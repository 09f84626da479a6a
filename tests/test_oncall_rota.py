"""The on-call rota: parsing, hours in IVR_TIMEZONE, calling order, `ivr oncall`, `ivr check`, settings."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import TEST_SECRET

from ivr.cli import main
from ivr.db import connect
from ivr.oncall import rota
from ivr.oncall.check import rota_problems
from ivr.oncall.payload import email_text
from ivr.oncall.phone import Alert, alert_media, dial_string
from ivr.settings import Settings, SettingsError, load

BANGKOK = ZoneInfo("Asia/Bangkok")


def at(hhmm: str, day: int = 2) -> datetime:
    """Wednesday 2 December 2026 (day=2) at ``hhmm`` in Bangkok."""
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 12, day, h, m, tzinfo=BANGKOK)


def test_parse_refuses_bad_input_with_a_reason() -> None:
    for args, words in [(("", "PJSIP/mai"), "name"), (("Mai", "mai"), "SIP endpoint"),
                        (("Mai", "PJSIP/mai", "xx"), "Unknown language"),
                        (("Mai", "PJSIP/mai", "", "funday"), "Unknown day"),
                        (("Mai", "PJSIP/mai", "", "", "8-20"), "Hours must look like"),
                        (("Mai", "PJSIP/mai", "", "", "25:00-06:00"), "Hours must look like")]:
        with pytest.raises(rota.RotaError, match=words):
            rota.parse(*args)
    staff = rota.parse(" Mai  Thu ", "+66 81 234 5678", "my, th", "mon,TUE", "22:00-06:00")
    assert (staff.name, staff.phone, staff.languages, staff.days) == ("Mai Thu", "+66812345678", ("my", "th"),
                                                                     ("mon", "tue"))


def test_hours_are_local_and_a_night_shift_runs_past_midnight() -> None:
    night = rota.parse("N", "PJSIP/n", days="wed", hours="22:00-06:00")
    assert night.on_duty(at("23:30"), BANGKOK)                 # Wednesday night
    assert night.on_duty(at("05:59", day=3), BANGKOK)          # ...into Thursday morning
    assert not night.on_duty(at("05:59"), BANGKOK)             # Wednesday morning belongs to Tuesday's shift
    assert not night.on_duty(at("12:00"), BANGKOK)
    # 16:30 UTC is 23:30 in Bangkok: the rota's hours are IVR_TIMEZONE's, not the server's.
    assert night.on_duty(datetime(2026, 12, 2, 16, 30, tzinfo=UTC), BANGKOK)


def test_call_order_prefers_on_duty_speakers_then_on_duty_then_everyone() -> None:
    day = rota.parse("Day", "PJSIP/day", "th", hours="08:00-20:00")
    night_my = rota.parse("NightMy", "PJSIP/nm", "my", hours="20:00-08:00")
    night_any = rota.parse("NightAny", "PJSIP/na", "ne", hours="20:00-08:00")
    staff = [day, night_any, night_my]
    assert [s.name for s in rota.call_order(staff, "my", at("02:00"), BANGKOK)] == ["NightMy", "NightAny", "Day"]
    assert [s.name for s in rota.call_order(staff, "th", at("10:00"), BANGKOK)] == ["Day", "NightAny", "NightMy"]
    # No languages listed means any language: such a person counts as a speaker.
    anyone = rota.parse("Anyone", "PJSIP/any", hours="20:00-08:00")
    assert [s.name for s in rota.call_order([anyone, night_my], "my", at("02:00"), BANGKOK)] == ["Anyone", "NightMy"]


def test_the_alert_says_case_language_and_press_1_in_the_staff_language(settings: Settings) -> None:
    class Media:
        def media(self, key: str, lang: str) -> list[str]:
            return [f"{lang}/{key}"]

        def digits(self, digits: str, lang: str) -> list[str]:
            return [f"{lang}/digit_{d}" for d in digits]

    staff = rota.parse("Mai", "PJSIP/mai", "th,my")
    media, lang = alert_media(Media(), Alert(case_id=42, caller_language="my", staff=staff), settings)
    assert lang == "th"
    assert media == ["th/oncall_alert", "th/digit_4", "th/digit_2", "th/oncall_caller_language", "th/lang_name_my",
                     "th/oncall_press_1"]
    assert dial_string(rota.parse("N", "+66812345678"), "PJSIP/{number}@carrier") == "PJSIP/+66812345678@carrier"
    with pytest.raises(ValueError, match="IVR_ONCALL_TRUNK"):
        dial_string(rota.parse("N", "+66812345678"), "")


def test_email_words_carry_no_number_transcript_or_name() -> None:
    subject, body = email_text({"case_id": 7, "language": "my", "opened_at": "2026-12-02T10:00:00Z",
                                "link": "https://hotline.example/cases/7"})
    assert "case 7" in subject and "https://hotline.example/cases/7" in body and "my" in body


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_SECRET_KEY": TEST_SECRET}


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    result = CliRunner(mix_stderr=False).invoke(main, list(args), env=env) if _mixes() else \
        CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.output + (result.stderr if _mixes() else "")


def _mixes() -> bool:
    import inspect

    return "mix_stderr" in inspect.signature(CliRunner).parameters


def test_cli_add_list_move_edit_remove_all_audited(env: dict[str, str], tmp_path: Path) -> None:
    code, out = run(env, "oncall", "list")
    assert code == 0 and "rota has nobody" in out
    assert run(env, "oncall", "add", "Mai", "--phone", "PJSIP/mai", "--languages", "my,th")[0] == 0
    assert run(env, "oncall", "add", "Somchai", "--phone", "+66812345678", "--hours", "22:00-06:00")[0] == 0
    code, out = run(env, "oncall", "add", "Bad", "--phone", "PJSIP/bad", "--hours", "8-20")
    assert code == 1 and "Hours must look like" in out
    code, out = run(env, "oncall", "list")
    assert out.index("Mai") < out.index("Somchai") and "IVR_ONCALL_TRUNK is not set" in out
    assert run(env, "oncall", "move", "Somchai", "1")[0] == 0
    assert run(env, "oncall", "edit", "Mai", "--hours", "08:00-20:00")[0] == 0
    assert run(env, "oncall", "remove", "Mai")[0] == 0
    code, out = run(env, "oncall", "remove", "Nobody")
    assert code == 1 and "Nobody called 'Nobody'" in out
    code, out = run(env, "oncall", "list")
    assert "Somchai" in out and "Mai" not in out
    db = connect(tmp_path / "var" / "ivr.db")
    actions = [r[0] for r in db.execute("select action from audit_log where object_type = 'oncall_staff'"
                                        " order by id").fetchall()]
    assert actions == ["oncall.add", "oncall.add", "oncall.move", "oncall.edit", "oncall.remove"]
    details = " ".join(str(r[0]) for r in db.execute("select detail from audit_log").fetchall())
    assert "66812345678" not in details and "Somchai" not in details   # who is a row id; no phone in the log


def test_ivr_check_names_an_empty_rota(env: dict[str, str]) -> None:
    run(env, "oncall", "list")        # creates the database
    code, out = run(env, "check")
    assert code == 1 and "oncall: the on-call rota has nobody" in out


def test_rota_problems_are_one_line_each(settings: Settings) -> None:
    assert rota_problems([], settings) == [
        "oncall: the on-call rota has nobody, so an emergency rings no phone; add staff with "
        "`ivr oncall add` or at /oncall"]
    assert rota_problems([rota.parse("A", "PJSIP/a")], settings) == []


@pytest.mark.parametrize(("flags", "message"), [
    ({"alert_email_to": "duty@example.org"}, "IVR_SMTP_HOST: empty"),
    ({"smtp_host": "mail.example.org", "alert_email_to": "duty@example.org", "smtp_from": "nope"}, "IVR_SMTP_FROM"),
    ({"smtp_host": "mail.example.org", "alert_email_to": "x", "smtp_from": "a@b.org"}, "IVR_ALERT_EMAIL_TO: 'x'"),
    ({"smtp_host": "mail.example.org", "alert_email_to": "d@e.org", "smtp_from": "a@b.org", "smtp_port": "0"},
     "IVR_SMTP_PORT"),
    ({"alert_webhook_url": "http://chat.example.org/hook", "alert_webhook_secret": "x" * 20},
     "IVR_ALERT_WEBHOOK_URL: 'http://chat.example.org/hook' is not an https:// URL"),
    ({"alert_webhook_url": "https://chat.example.org/hook", "alert_webhook_secret": "short"},
     "IVR_ALERT_WEBHOOK_SECRET"),
    ({"oncall_trunk": "PJSIP/carrier"}, "IVR_ONCALL_TRUNK"),
])
def test_bad_alert_settings_stop_start_up_with_one_line(flags: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")) as info:
        load(environ={}, flags=flags)
    assert "\n" not in str(info.value)


async def test_engine_start_says_in_one_line_that_the_rota_has_nobody(
        settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from ivr.ari.client import AriClient
    from ivr.db.writer import Database
    from ivr.oncall.service import build_escalations

    database = Database(settings.db_path)
    client = AriClient("http://127.0.0.1:9", "u", "p")
    service = build_escalations(settings, database, client, prompts=None)  # type: ignore[arg-type]
    try:
        with caplog.at_level(logging.INFO, logger="ivr.oncall"):
            await service.start()
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert errors == ["oncall: the on-call rota has nobody, so an emergency rings no phone; add staff with "
                          "`ivr oncall add` or at /oncall"]
    finally:
        await service.stop()
        await client.close()
        database.close()
