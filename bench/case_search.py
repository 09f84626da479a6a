"""Search on /cases at 100k cases, each with a transcript in its own language and some with notes.

    .venv/bin/python bench/case_search.py [--cases 100000] [--calls 10000] [--requests 40] [--db PATH]

Builds the queue's database as bench/admin_pages.py does, gives every case a machine transcript
(Thai, Burmese, Khmer, Lao sentences without spaces; Nepali, Vietnamese, English with spaces)
through the real triggers that keep ``case_search``, then signs in to the real web UI and
times searches: server time (Server-Timing) p50/p95/p99. The reference, in the same run, is the
plain queue page without a search. Target: search p95 < 100 ms.

Words of one or two characters were found with LIKE over every case's text before m1604; they now
come from the index's vocabulary (ivr/admin/case_search.py). Both ways are timed on the same
database in the same run (the SQL alone, with the cases each finds, which must be the same).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import tempfile
import time
from pathlib import Path

from admin_pages import build, measure, pct

from ivr.admin.server import AdminServer
from ivr.db import connect
from ivr.db.schema import case_search_body_sql
from ivr.db.writer import Database
from ivr.settings import load

WORDS = {
    "th": ["นายจ้าง", "ยึด", "หนังสือเดินทาง", "ค่าแรง", "ไม่จ่าย", "ทำงาน", "ล่วงเวลา", "หนี้", "นายหน้า", "โรงงาน"],
    "my": ["အလုပ်ရှင်", "ပတ်စပို့", "လစာ", "မပေး", "အချိန်ပို", "ကြွေးမြီ", "ပွဲစား", "စက်ရုံ", "သိမ်း", "အလုပ်"],
    "km": ["និយោជក", "លិខិតឆ្លងដែន", "ប្រាក់ខែ", "មិនបង់", "ការងារ", "បំណុល", "ឈ្មួញកណ្តាល", "រោងចក្រ"],
    "lo": ["ນາຍຈ້າງ", "ໜັງສືຜ່ານແດນ", "ຄ່າແຮງ", "ບໍ່ຈ່າຍ", "ເຮັດວຽກ", "ໜີ້", "ນາຍໜ້າ", "ໂຮງງານ"],
    "ne": ["मालिक", "राहदानी", "तलब", "दिएन", "काम", "ऋण", "दलाल", "कारखाना"],
    "vi": ["chủ", "hộ chiếu", "lương", "không trả", "làm việc", "nợ", "môi giới", "nhà máy"],
    "en": ["employer", "passport", "wages", "unpaid", "overtime", "debt", "broker", "factory", "kept", "threatened"],
}
UNSPACED = {"th", "my", "km", "lo"}


def add_texts(path: Path) -> None:
    rnd = random.Random(11)
    db = connect(path)
    conn = db.conn
    started = time.perf_counter()
    conn.execute("BEGIN")
    cases = conn.execute("select id, language, created_at from cases").fetchall()
    # Bulk loading row by row through the index's triggers would time the loader, not the search: set
    # the triggers aside, load, fill the index in one statement as the migration does, put them back.
    triggers = conn.execute("select name, sql from sqlite_master where type = 'trigger' "
                            "and name like 'case_search_%'").fetchall()
    for name, _ in triggers:
        conn.execute(f"drop trigger {name}")
    for case_id, language, created in cases:
        words = WORDS[language]
        sentence = ("" if language in UNSPACED else " ").join(rnd.choices(words, k=rnd.randint(8, 30)))
        rec = conn.execute("insert into recordings (case_id, kind, path, state, created_at) "
                           "values (?, 'voicemail', 'x.wav', 'stored', ?)", [case_id, created]).lastrowid
        conn.execute("insert into transcripts (recording_id, kind, engine, language, text, version, created_at) "
                     "values (?, 'transcript', 'vosk', ?, ?, 1, ?)", [rec, language, sentence, created])
        if rnd.random() < 0.2:
            conn.execute("insert into case_notes (case_id, body, created_at) values (?, ?, ?)",
                         [case_id, f"Called back, spoke to worker {rnd.randint(1, 99999)}", created])
    conn.execute("delete from case_search")
    conn.execute(f"insert into case_search (rowid, body) select c.id, {case_search_body_sql('c.id')} from cases c")
    for _, sql in triggers:
        conn.execute(sql)
    conn.execute("COMMIT")
    print(f"added transcripts to {len(cases)} cases in {time.perf_counter() - started:.1f} s")
    # What the index costs a caseworker's write: one note, one transaction, through the triggers.
    costs = []
    for case_id, _, _ in cases[:: max(1, len(cases) // 200)][:200]:
        t0 = time.perf_counter()
        conn.execute("BEGIN")
        conn.execute("insert into case_notes (case_id, body, created_at) values (?, 'bench note', '2026')", [case_id])
        conn.execute("COMMIT")
        costs.append((time.perf_counter() - t0) * 1000)
    print(f"adding a note (its own transaction, index kept by triggers): p50 {statistics.median(costs):.2f} ms, "
          f"p95 {pct(costs, .95):.2f} ms")
    conn.close()


def short_words(path: Path, words: list[str], tries: int) -> None:
    """The old way (LIKE over every case's text) against the new (the vocabulary), SQL only."""
    conn = connect(path, readonly=True).conn
    for word in words:
        ways = {
            "LIKE scan (before)": ("select rowid from case_search where body like ? escape '\\'", [f"%{word}%"]),
            "vocabulary (after)": ("select rowid from case_search where rowid in (select doc from "
                                   "case_search_terms where term >= ? and term < ?)",
                                   [word.lower(), word.lower() + "\U0010ffff"]),
        }
        found = {}
        for name, (sql, sql_args) in ways.items():
            times = []
            for _ in range(tries):
                t0 = time.perf_counter()
                rows = conn.execute(sql, sql_args).fetchall()
                times.append((time.perf_counter() - t0) * 1000)
            found[name] = {r[0] for r in rows}
            print(f"  {word!r:8} {name:20} {len(rows):6} cases | p50 {statistics.median(times):6.1f} "
                  f"p95 {pct(times, .95):6.1f} ms")
        before, after = found.values()
        # LIKE folds only ASCII letters; the index folds every script's case, so it may find more, never less.
        assert before <= after, f"{word}: the vocabulary misses {len(before - after)} cases LIKE finds"
    conn.close()


async def run(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="ivr-bench-search-"))
    db_path = Path(args.db) if args.db else tmp / "ivr.db"
    if not db_path.exists():
        build(db_path, args.cases, args.calls)
        add_texts(db_path)
    settings = load(environ={}, mode="admin", flags={
        "data_dir": str(tmp), "db": str(db_path), "secret_key": "bench-secret-0123456789",
        "admin_bind": "127.0.0.1:0"})
    settings = dataclasses.replace(settings, cookie_secure=False)
    short_words(db_path, ["ऋण", "ខែ", "လ", "WA"], args.requests)
    database = Database(settings.db_path)
    server = AdminServer(settings, database)
    await server.start()
    try:
        searches = [
            "/cases",  # the reference: the queue without a search
            "/cases?q=หนังสือเดินทาง",  # Thai, mid-sentence, in about 1 case in 7
            "/cases?q=ပတ်စပို့&status=all",
            "/cases?q=passport+broker&status=all",  # two words
            "/cases?q=worker+4242&status=all",  # a rare note
            "/cases?q=ยึด&language=th",  # shorter than... no: 3 Thai code points, still through the index
            "/cases?q=ऋण&status=all",  # two characters: from the index's vocabulary
            "/cases?q=ខែ&status=all",  # Khmer, two code points, mid-word
            "/cases?q=လ&status=all",  # one Burmese letter: in most Burmese cases
            "/cases?q=WA&status=all",  # two ASCII letters, any case
        ]
        await measure(server.url, "super", searches, args.requests)
        await measure(server.url, "cw_bench", ["/cases", "/cases?q=ပတ်စပို့", "/cases?q=passport"], args.requests)
    finally:
        await server.stop()
        database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--db", help="keep the built database here (reused when it exists)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
