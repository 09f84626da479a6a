"""The case database's schema, as migrations.

Append new migrations at the end with the next number; never edit one that has
shipped. Times are ISO-8601 UTC text (see :func:`ivr.db.utcnow`).
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils

from ivr.db.migrations import Migrations

migrations = Migrations("ivr")


def migrate(db: sqlite_utils.Database) -> list[str]:
    """Bring ``db`` up to the current schema; return the names of the migrations applied."""
    return migrations.apply(db)


@migrations
def m0001_core(db: sqlite_utils.Database) -> None:
    db.execute("""
        create table users (
            id integer primary key,
            username text not null unique,
            password_hash text not null,
            role text not null check (role in ('caseworker', 'supervisor', 'admin', 'brand')),
            languages text not null default '',      -- comma-separated codes; '' = all
            brand_id integer,                         -- for role 'brand' (supply-chain reports)
            active integer not null default 1,
            failed_logins integer not null default 0,
            locked_until text,
            created_at text not null,
            last_login_at text
        )""")

    db.execute("""
        create table calls (
            id text primary key,                      -- our call id, logged on every line
            channel_id text not null,
            started_at text not null,
            answered_at text,
            ended_at text,
            duration_s real,
            language text,
            caller_ref text,                          -- keyed hash of the number, never the number
            flow text,
            flow_version text,
            menu_choice text,                         -- main-menu category, for reporting
            outcome text,                             -- completed, abandoned, hangup, quick_exit, error...
            last_node text,
            case_id integer,
            repeat_caller integer not null default 0,
            anonymised_at text
        )""")
    db.execute("create index calls_started on calls (started_at)")
    db.execute("create index calls_caller on calls (caller_ref)")
    db.execute("create index calls_open on calls (ended_at) where ended_at is null")

    db.execute("""
        create table call_steps (
            id integer primary key,
            call_id text not null references calls (id) on delete cascade,
            seq integer not null,
            at text not null,
            node text not null,
            action text,
            input text,                               -- digits pressed or 'speech'; never free text
            category text,
            unique (call_id, seq)
        )""")

    db.execute("""
        create table cases (
            id integer primary key,
            category text,                            -- ILO indicator key, see callflows
            categories_suggested text not null default '[]',   -- JSON, from keyword flagging
            priority integer not null default 1,      -- 0 low, 1 normal, 2 high, 3 emergency
            status text not null default 'new' check (status in
                ('new', 'acknowledged', 'in_progress', 'referred', 'resolved', 'closed')),
            language text,
            workplace_code text,                      -- as keyed by the caller
            workplace_id integer,                     -- confirmed link (supply-chain registry)
            workplace_confirmed integer not null default 0,
            assignee_id integer references users (id),
            caller_ref text,
            source_call_id text references calls (id),
            code_hash text,                           -- slow salted hash of the case code
            code_tag text,                            -- short keyed tag to find candidates
            needs_human_transcript integer not null default 0,
            callback_requested integer not null default 0,
            emergency integer not null default 0,
            version integer not null default 1,       -- optimistic locking for edits
            created_at text not null,
            updated_at text not null,
            acknowledged_at text,
            resolved_at text,
            closed_at text
        )""")
    db.execute("create index cases_queue on cases (status, priority desc, created_at)")
    db.execute("create index cases_language on cases (language, status)")
    db.execute("create index cases_assignee on cases (assignee_id, status)")
    db.execute("create index cases_created on cases (created_at)")
    db.execute("create index cases_code_tag on cases (code_tag)")
    db.execute("create index cases_workplace on cases (workplace_id)")

    db.execute("""
        create table recordings (
            id integer primary key,
            call_id text references calls (id),
            case_id integer references cases (id),
            kind text not null default 'voicemail',   -- voicemail, reply (caseworker to caller), fallback
            path text,                                -- relative to the data dir; null once deleted
            format text not null default 'wav',
            duration_s real,
            size_bytes integer,
            sha256 text,
            state text not null default 'pending',    -- pending, stored, empty, failed, deleted
            asterisk_name text,
            created_at text not null,
            created_by integer references users (id),
            deleted_at text
        )""")
    db.execute("create index recordings_case on recordings (case_id)")

    db.execute("""
        create table transcripts (
            id integer primary key,
            recording_id integer not null references recordings (id),
            kind text not null default 'transcript' check (kind in ('transcript', 'translation')),
            engine text not null,                     -- 'vosk' or 'human'
            model text,
            language text,
            text text not null default '',
            words text not null default '[]',         -- JSON [{word, start, end, conf}]
            confidence real,
            version integer not null,
            author_id integer references users (id),
            created_at text not null,
            unique (recording_id, kind, version)
        )""")
    db.execute(
        "create virtual table transcripts_fts using fts5 "
        "(text, content='transcripts', content_rowid='id')"
    )
    db.execute("""
        create trigger transcripts_ai after insert on transcripts begin
            insert into transcripts_fts (rowid, text) values (new.id, new.text);
        end""")
    db.execute("""
        create trigger transcripts_ad after delete on transcripts begin
            insert into transcripts_fts (transcripts_fts, rowid, text) values ('delete', old.id, old.text);
        end""")
    db.execute("""
        create trigger transcripts_au after update on transcripts begin
            insert into transcripts_fts (transcripts_fts, rowid, text) values ('delete', old.id, old.text);
            insert into transcripts_fts (rowid, text) values (new.id, new.text);
        end""")

    db.execute("""
        create table case_notes (
            id integer primary key,
            case_id integer not null references cases (id) on delete cascade,
            author_id integer references users (id),
            body text not null,
            created_at text not null
        )""")

    db.execute("""
        create table callbacks (
            id integer primary key,
            case_id integer references cases (id),
            call_id text references calls (id),
            number_encrypted text,                    -- Fernet token; null once deleted
            window text,                              -- the safe time window the caller chose
            state text not null default 'requested',  -- requested, done, expired
            consent_at text not null,
            delete_after text not null,
            created_at text not null,
            done_at text
        )""")

    db.execute("""
        create table code_attempts (
            id integer primary key,
            caller_ref text,
            call_id text,
            at text not null,
            success integer not null
        )""")
    db.execute("create index code_attempts_caller on code_attempts (caller_ref, at)")

    db.execute("""
        create table audit_log (
            id integer primary key,
            at text not null,
            user_id integer,
            username text,
            action text not null,                     -- case.view, recording.play, signin...
            object_type text,
            object_id text,
            detail text not null default '{}',        -- JSON; never a number or transcript
            prev_hash text not null,
            row_hash text not null
        )""")

    db.execute("""
        create table jobs (
            id integer primary key,
            kind text not null default 'transcribe',
            recording_id integer references recordings (id),
            language text,
            state text not null default 'queued',     -- queued, running, done, failed, needs_human, skipped
            attempts integer not null default 0,
            lease_owner text,
            lease_expires_at text,
            error text,
            created_at text not null,
            updated_at text not null
        )""")
    db.execute("create index jobs_claim on jobs (state, lease_expires_at)")


@migrations
def m0201_supply(db: sqlite_utils.Database) -> None:
    # The supply-chain registry (ivr.supply): who makes what for whom, and the
    # remediation a supplier agreed to after a case was referred to it.
    db.execute("""
        create table brands (
            id integer primary key,
            name text not null unique collate nocase,
            created_at text not null
        )""")
    db.execute("""
        create table suppliers (
            id integer primary key,
            name text not null unique collate nocase,
            country text not null default '',
            created_at text not null
        )""")
    db.execute("""
        create table workplaces (
            id integer primary key,
            code text not null unique,                -- 5 digits + Damm check digit, keyed by callers
            name text not null,
            location text not null default '',
            sector text not null default '',
            supplier_id integer references suppliers (id),
            active integer not null default 1,
            created_at text not null,
            updated_at text not null
        )""")
    db.execute("create index workplaces_supplier on workplaces (supplier_id)")
    db.execute("""
        create table workplace_brands (
            workplace_id integer not null references workplaces (id) on delete cascade,
            brand_id integer not null references brands (id) on delete cascade,
            primary key (workplace_id, brand_id)
        ) without rowid""")
    db.execute("create index workplace_brands_brand on workplace_brands (brand_id, workplace_id)")
    db.execute("""
        create table remediation (
            id integer primary key,
            case_id integer not null references cases (id) on delete cascade,
            supplier_id integer not null references suppliers (id),
            workplace_id integer references workplaces (id),
            kind text not null default 'other',       -- reporting value, see ivr.supply.remediation
            action text not null,                     -- agreed action; free text, never shown to brands
            due_date text not null,                   -- YYYY-MM-DD
            status text not null default 'agreed' check (status in
                ('agreed', 'done', 'not_done', 'cancelled')),
            created_by integer references users (id),
            created_at text not null,
            updated_at text not null,
            done_at text
        )""")
    db.execute("create index remediation_case on remediation (case_id)")
    db.execute("create index remediation_workplace on remediation (workplace_id, status)")
    # Brand reports read only these columns of a workplace's cases; covering them
    # keeps a report over a large supply chain to an index scan.
    db.execute(
        "create index cases_supply on cases "
        "(workplace_id, workplace_confirmed, created_at, category, status, resolved_at)"
    )


@migrations
def m0301_protection(db: sqlite_utils.Database) -> None:
    # Application code may only append to the audit log; the hash chain catches anyone who
    # drops these triggers to edit it.
    db.execute("""
        create trigger audit_log_no_update before update on audit_log begin
            select raise(abort, 'audit_log is append-only');
        end""")
    db.execute("""
        create trigger audit_log_no_delete before delete on audit_log begin
            select raise(abort, 'audit_log is append-only');
        end""")
    # Recording files that retention has marked deleted but not yet overwritten on disk,
    # so a crash between the two steps is finished by the next run.
    db.execute("""
        create table retention_wipes (
            id integer primary key,
            recording_id integer not null,
            path text not null,
            created_at text not null
        )""")
    db.execute("create index callbacks_delete_after on callbacks (delete_after) where number_encrypted is not null")
    db.execute("create index code_attempts_call on code_attempts (call_id)")


@migrations
def m0401_admin_sessions(db: sqlite_utils.Database) -> None:
    # Web UI sign-in sessions: only a keyed hash of the browser's token is stored.
    db.execute("""
        create table admin_sessions (
            id integer primary key,
            token_hash text not null unique,
            user_id integer not null references users (id) on delete cascade,
            created_at text not null,
            last_seen_at text not null,
            expires_at text not null
        )""")
    db.execute("create index admin_sessions_user on admin_sessions (user_id)")
    # The queue's default order (most urgent, then oldest) without a sort step.
    db.execute("create index cases_priority_age on cases (priority desc, created_at)")
    # The dashboard's call counts read only this index, never the rows.
    db.execute("create index calls_dashboard on calls (started_at, language, menu_choice, outcome)")


@migrations
def m0202_supply_link(db: sqlite_utils.Database) -> None:
    # A new case whose caller keyed a registered workplace's code is linked to it at
    # once, unconfirmed, whichever part of the hotline opened the case.
    db.execute("""
        create trigger cases_link_workplace after insert on cases
        when new.workplace_id is null and new.workplace_code is not null
        begin
            update cases set workplace_id =
                (select id from workplaces where code = new.workplace_code and active = 1)
            where id = new.id;
        end""")


@migrations
def m0402_admin_queue_dashboard(db: sqlite_utils.Database) -> None:
    # A caseworker's queue: unassigned cases in their languages, most urgent then oldest.
    db.execute("create index cases_unassigned on cases (language, priority desc, created_at) "
               "where assignee_id is null")
    db.execute("create index cases_workplace_code on cases (workplace_code)")
    # Dashboard: backlog by status and age, and time to acknowledge, from the indexes alone.
    db.execute("create index cases_status_age on cases (status, created_at)")
    db.execute("create index cases_ack on cases (created_at, acknowledged_at)")


@migrations
def m2001_signin_limits(db: sqlite_utils.Database) -> None:
    # Wrong sign-ins per (lower-cased username, client address), kept here so that a restart does
    # not forget them and every web process counts together. A right password or a reset deletes
    # the pair's row. (Metrics may read it: failures is the running count, last_at the newest.)
    db.execute("""
        create table signin_failures (
            username text not null,
            address text not null,
            failures integer not null,
            last_at text not null,
            primary key (username, address)
        ) without rowid""")
    db.execute("create index signin_failures_address on signin_failures (address, last_at)")


@migrations
def m2002_account_approval(db: sqlite_utils.Database) -> None:
    # An account that can read cases signs in only once a supervisor has approved it; a role change
    # towards a case-reading role waits in pending_role until a supervisor approves it.
    db.execute("alter table users add column approved integer not null default 1")
    db.execute("alter table users add column pending_role text")
    db.execute("alter table users add column requested_by integer references users (id)")
    # One-time set-password links: only a keyed hash of the token is stored.
    db.execute("""
        create table password_links (
            id integer primary key,
            user_id integer not null references users (id) on delete cascade,
            token_hash text not null unique,
            created_by integer references users (id),
            created_at text not null,
            expires_at text not null,
            used_at text
        )""")
    db.execute("create index password_links_user on password_links (user_id)")


@migrations
def m2003_audit_checkpoints(db: sqlite_utils.Database) -> None:
    # Ed25519 signatures over the audit chain's head; the private key never comes near the database.
    db.execute("""
        create table audit_checkpoints (
            id integer primary key,
            first_id integer not null,                -- the rows this checkpoint covers: first_id..audit_id
            audit_id integer not null,
            row_hash text not null,                   -- audit_id's row_hash (the head)
            row_hashes text not null,                 -- every covered row's hash, concatenated hex
            signed_at text not null,
            reason text not null,
            public_key text not null,
            signature text not null
        )""")


@migrations
def m2004_audio_served(db: sqlite_utils.Database) -> None:
    # Which recordings a sign-in session has been served audio of: the first bytes served are audited
    # (recording.play, case.view), whatever Range header asked for them; later seeks are not.
    db.execute("""
        create table audio_served (
            session_hash text not null,
            recording_id integer not null,
            primary key (session_hash, recording_id)
        ) without rowid""")
    db.execute("""
        create trigger admin_sessions_ad_audio after delete on admin_sessions begin
            delete from audio_served where session_hash = old.token_hash;
        end""")


@migrations
def m1401_heartbeats(db: sqlite_utils.Database) -> None:
    # Each long-running part (engine, transcription worker, web UI) writes its state here every
    # few seconds, so `/healthz`, `/metrics` and `ivr status` can tell from any process whether
    # the others are alive; a row not refreshed for a while means its process is gone.
    db.execute("""
        create table heartbeats (
            name text primary key,                    -- engine, transcribe, admin
            pid integer not null,
            started_at text not null,
            updated_at text not null,
            state text not null default '{}'          -- JSON, see ivr.ops.heartbeat
        )""")


@migrations
def m1501_oncall(db: sqlite_utils.Database) -> None:
    # The on-call rota: who is rung for an emergency, in this order. ``phone`` is a dial
    # string (PJSIP/name) or a number rung through IVR_ONCALL_TRUNK; hours are local
    # (IVR_TIMEZONE), "22:00-06:00" runs past midnight; empty languages mean any.
    db.execute("""
        create table oncall_staff (
            id integer primary key,
            name text not null unique,
            languages text not null default '',
            phone text not null,
            days text not null default 'mon,tue,wed,thu,fri,sat,sun',
            hours text not null default '00:00-24:00',
            position integer not null,
            active integer not null default 1,
            created_at text not null,
            updated_at text not null
        )""")
    # One escalation per emergency case; it ends when someone takes the case.
    db.execute("""
        create table escalations (
            id integer primary key,
            case_id integer not null unique references cases (id),
            state text not null default 'running' check (state in ('running', 'acknowledged')),
            started_at text not null,
            acknowledged_at text,
            acknowledged_by text,                     -- staff or user name (never a caller's)
            acknowledged_via text                     -- phone or web
        )""")
    db.execute("create index escalations_state on escalations (state, started_at)")
    # Every phone call of an escalation, by step number. A step row is written before its
    # phone rings, so an engine restarted after a crash never rings the same step again.
    db.execute("""
        create table escalation_steps (
            id integer primary key,
            escalation_id integer not null references escalations (id),
            seq integer not null,
            staff_id integer references oncall_staff (id),
            staff_name text not null,
            state text not null default 'calling',    -- calling, answered, no_answer, busy, failed,
                                                      -- no_ack, acknowledged, interrupted, stopped
            started_at text not null,
            finished_at text,
            unique (escalation_id, seq)
        )""")
    # Email and webhook messages: one row per channel, retried until sent.
    db.execute("""
        create table escalation_messages (
            id integer primary key,
            escalation_id integer not null references escalations (id),
            channel text not null,                    -- email or webhook
            state text not null default 'pending' check (state in ('pending', 'sent', 'failed')),
            attempts integer not null default 0,
            last_error text,
            updated_at text not null,
            unique (escalation_id, channel)
        )""")


# One searchable text per case (rowid = case id): every transcript and translation of its
# recordings (machine and human, every version), its notes, and its workplace's name. The
# trigram tokenizer indexes every run of three characters, so a word is found from the middle
# of a Thai, Burmese, Khmer or Lao sentence, which put no spaces between words.
def case_text_sql(case: str) -> str:
    return (
        f"coalesce((select group_concat(t.text, char(10)) from transcripts t where t.recording_id in "
        f"(select r.id from recordings r where r.case_id = {case})), '') || char(10) || "
        f"coalesce((select group_concat(n.body, char(10)) from case_notes n where n.case_id = {case}), '') "
        f"|| char(10) || coalesce((select w.name from workplaces w join cases c on c.id = {case} "
        f"where w.id = c.workplace_id), '')"
    )


def case_search_body_sql(case: str) -> str:
    """The text ``case_search`` holds for a case since m1604: ``case_text_sql`` and two line ends, so
    every one- or two-character word in it starts one of the index's trigrams (ivr/admin/case_search.py)."""
    return f"{case_text_sql(case)} || char(10) || char(10)"


@migrations
def m1601_case_search(db: sqlite_utils.Database) -> None:
    # The triggers below read a case's notes on every change: without this index, each read is a scan.
    db.execute("create index if not exists case_notes_case on case_notes (case_id)")
    db.execute("create virtual table case_search using fts5 (body, tokenize = 'trigram')")
    _fill_case_search(db, case_text_sql)


# Which changes refresh a case's searchable text, and whose: trigger name -> (event, case ids).
_CASE_SEARCH_TRIGGERS = {
    "case_search_cases_ai": ("after insert on cases", ["new.id"]),
    "case_search_cases_wp": ("after update of workplace_id on cases", ["new.id"]),
    "case_search_cases_ad": ("after delete on cases", []),
    "case_search_tr_ai": ("after insert on transcripts",
                          ["(select case_id from recordings where id = new.recording_id)"]),
    "case_search_tr_au": ("after update of text on transcripts",
                          ["(select case_id from recordings where id = new.recording_id)"]),
    "case_search_tr_ad": ("after delete on transcripts",
                          ["(select case_id from recordings where id = old.recording_id)"]),
    "case_search_rec_case": ("after update of case_id on recordings", ["old.case_id", "new.case_id"]),
    "case_search_notes_ai": ("after insert on case_notes", ["new.case_id"]),
    "case_search_notes_au": ("after update on case_notes", ["new.case_id"]),
    "case_search_notes_ad": ("after delete on case_notes", ["old.case_id"]),
    "case_search_wp_name": ("after update of name on workplaces", []),
}


def _fill_case_search(db: sqlite_utils.Database, text_sql: Callable[[str], str]) -> None:
    """(Re)build ``case_search`` from every case, and the triggers that keep it, with ``text_sql``."""
    for name in _CASE_SEARCH_TRIGGERS:
        db.execute(f"drop trigger if exists {name}")
    db.execute("delete from case_search")
    db.execute(f"insert into case_search (rowid, body) select c.id, {text_sql('c.id')} from cases c")

    def refresh(case: str) -> str:
        return (f"delete from case_search where rowid = {case}; insert into case_search (rowid, body) "
                f"select {case}, {text_sql(case)} where {case} is not null;")

    for name, (when, cases) in _CASE_SEARCH_TRIGGERS.items():
        body = " ".join(refresh(c) for c in cases) or "delete from case_search where rowid = old.id;"
        if name == "case_search_wp_name":
            # A renamed workplace: every case linked to it is found by the new name.
            body = ("delete from case_search where rowid in (select id from cases where workplace_id = new.id); "
                    f"insert into case_search (rowid, body) select c.id, {text_sql('c.id')} from cases c "
                    "where c.workplace_id = new.id;")
        db.execute(f"create trigger {name} {when} begin {body} end")


@migrations
def m1602_audit_by_object(db: sqlite_utils.Database) -> None:
    # A case's activity panel reads its rows of the audit log; /audit filters by user.
    db.execute("create index audit_log_object on audit_log (object_type, object_id, id)")
    db.execute("create index audit_log_user on audit_log (username, id)")


@migrations
def m1603_user_ui_language(db: sqlite_utils.Database) -> None:
    # Each user's web UI language (en, th, my): many caseworkers read Thai or Burmese first.
    db.execute("alter table users add column ui_language text not null default 'en'")


@migrations
def m1901_resume(db: sqlite_utils.Database) -> None:
    # A call resumed after an engine crash must still read the case code back, but only its slow hash
    # is kept on the case. So the code is also sealed (Fernet) on the open call row until it has been
    # read back twice, then wiped; closing the call wipes it too (ivr/engine/resume.py).
    db.execute("alter table calls add column code_sealed text")
    db.execute("alter table calls add column code_readbacks integer not null default 0")
    # A take is 'released' once it is final: Asterisk's copy may go and transcription is queued. A take
    # brought home but not released (the caller was reviewing it) is salvaged by a resumed call.
    db.execute("alter table recordings add column released_at text")


@migrations
def m1604_case_search_short_words(db: sqlite_utils.Database) -> None:
    # A word of one or two characters (a Burmese syllable, a short Thai, Khmer or Hindi word) cannot be
    # looked up in a trigram index as a word, but each of its places in a text is the start of a trigram
    # once every text ends with two more characters. The index's vocabulary, in term order, then finds
    # them by prefix (case_search_terms), instead of reading every case's text.
    _fill_case_search(db, case_search_body_sql)
    db.execute("create virtual table case_search_terms using fts5vocab (case_search, 'instance')")


@migrations
def m1701_prompt_review(db: sqlite_utils.Database) -> None:
    # Every human recording of a prompt is a draft until a second person with that language approves it
    # (ivr/prompts/review.py); only approved ones are installed where calls find them.
    db.execute("""
        create table prompt_recordings (
            id integer primary key,
            lang text not null,
            key text not null,
            state text not null check (state in ('draft', 'approved', 'rejected', 'superseded')),
            file text not null,                      -- the submitted file, under $IVR_DATA_DIR/prompt-drafts
            seconds real,
            via text not null check (via in ('web', 'upload', 'import', 'phone')),
            submitted_by integer references users (id),
            submitted_by_name text,
            submitted_at text not null,
            reviewed_by integer references users (id),
            reviewed_by_name text,
            reviewed_at text,
            reason text
        )""")
    db.execute("create index prompt_recordings_key on prompt_recordings (lang, key, state)")
    # The catalog text as people edit it in the web UI: every version is kept, the newest counts.
    db.execute("""
        create table prompt_texts (
            id integer primary key,
            lang text not null,
            key text not null,
            text text not null,
            reviewed integer not null,
            by_id integer references users (id),
            by_name text,
            at text not null
        )""")
    db.execute("create index prompt_texts_key on prompt_texts (lang, key, id)")


@migrations
def m1902_case_workplace_link_in_lifecycle(db: sqlite_utils.Database) -> None:
    # Linking a case to the workplace its caller keyed moved into ivr/cases/lifecycle.py (open_case, and
    # link_unlinked_to_workplaces when a workplace is registered later), where it is on the audit log under
    # the registry's name: the trigger of m0202 linked cases outside it, with no record. Links it made stay.
    db.execute("drop trigger if exists cases_link_workplace")


@migrations
def m1903_calls_sealed_codes(db: sqlite_utils.Database) -> None:
    # The engine's sweep looks every minute for ended calls whose sealed case code still waits for its
    # hash (ivr/engine/codehash.py): a handful at most, found without reading every call.
    db.execute("create index calls_code_sealed on calls (started_at) where code_sealed is not null")


@migrations
def m1951_prompt_line_pins(db: sqlite_utils.Database) -> None:
    # Wrong PINs on the staff prompt line, kept across engine restarts so a restart gives a brute-forcer no
    # fresh tries (ivr/prompts/pins.py). ``caller`` is a keyed hash of the calling number, never the number.
    db.execute("""
        create table prompt_line_pin_failures (
            id integer primary key,
            caller text not null,
            at text not null
        )""")
    db.execute("create index prompt_line_pin_failures_at on prompt_line_pin_failures (at)")
    db.execute("create index prompt_line_pin_failures_caller on prompt_line_pin_failures (caller, at)")
    # A lockout: one caller's (``who`` = its keyed hash) or, with ``who`` = '*', the PIN's for everyone.
    db.execute("""
        create table prompt_line_lockouts (
            who text primary key,
            until text not null
        )""")


@migrations
def m1952_prompt_recording_hash(db: sqlite_utils.Database) -> None:
    # The SHA-256 of each submitted recording: approving installs a byte copy of it, so a file in the prompts
    # folder whose hash no approved row has was put there by hand (ivr/prompts/provenance.py).
    db.execute("alter table prompt_recordings add column sha256 text")
