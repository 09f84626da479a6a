"""Backups: how long `ivr backup create/verify/restore` take, against plain `sqlite3 .backup` + `tar`,
and what a backup does to writers (the engine's inserts) while it runs.

    .venv/bin/python bench/backup.py [--cases 20000] [--recordings 100] [--seconds 30] [--runs 3]

The data dir is synthetic: a migrated database with N cases and calls, and M voicemails of S
seconds (8 kHz 16-bit, as the engine stores them).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ivr.db import connect, utcnow
from ivr.db.schema import migrate
from ivr.ops import backup


def make_data(root: Path, cases: int, recordings: int, seconds: int) -> Path:
    data = root / "var"
    db = connect(data / "ivr.db")
    migrate(db)
    now = utcnow()
    db.execute("BEGIN")
    db.conn.executemany("insert into calls (id, channel_id, started_at, ended_at, outcome) values (?, ?, ?, ?, ?)",
                        [(f"c{i}", f"ch{i}", now, now, "completed") for i in range(cases)])
    db.conn.executemany("insert into cases (category, language, created_at, updated_at, source_call_id) "
                        "values ('wages', 'my', ?, ?, ?)", [(now, now, f"c{i}") for i in range(cases)])
    db.execute("COMMIT")
    db.conn.close()
    folder = data / "recordings"
    folder.mkdir(parents=True)
    blob = bytes(range(256)) * (16000 * seconds // 256)
    for i in range(recordings):
        (folder / f"r{i}.wav").write_bytes(blob[i % 256:] + blob[:i % 256])
    return data


def timed(fn: object, runs: int) -> float:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def writer_latencies(db_path: Path, stop: threading.Event, first: int) -> list[float]:
    """Small write transactions, as the engine's writer thread makes them; seconds each."""
    db = connect(db_path)
    lat = []
    i = first
    while not stop.is_set():
        start = time.perf_counter()
        db.execute("BEGIN IMMEDIATE")
        db.execute("insert into call_steps (call_id, seq, at, node) values ('c0', ?, ?, 'bench')", [i, utcnow()])
        db.execute("COMMIT")
        lat.append(time.perf_counter() - start)
        i += 1
        time.sleep(0.002)
    db.conn.close()
    return lat


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--recordings", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    private, public = backup.generate_key()
    identity = backup.x25519.Identity.from_str(private)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = make_data(tmp, args.cases, args.recordings, args.seconds)
        size = sum(p.stat().st_size for p in data.rglob("*") if p.is_file()) / 1e6
        print(f"data dir: {size:.1f} MB ({args.cases} cases, {args.recordings} voicemails of {args.seconds} s)")

        made: list[Path] = []

        def ours() -> None:
            made.append(backup.create(data, data / "ivr.db", tmp / "out", public).path)
            time.sleep(1.01)  # distinct file names (one per second)

        def reference() -> None:
            subprocess.run(["sqlite3", str(data / "ivr.db"), f".backup {tmp / 'ref.db'}"], check=True)
            subprocess.run(["tar", "-cf", str(tmp / "ref.tar"), "-C", str(data), "recordings", "-C", str(tmp),
                            "ref.db"], check=True)

        t_ours = timed(ours, args.runs) - 1.01
        t_ref = timed(reference, args.runs)
        t_verify = timed(lambda: backup.verify(made[-1], identity), args.runs)
        n = iter(range(100))
        t_restore = timed(lambda: backup.restore(made[-1], identity, tmp / f"r{next(n)}"), args.runs)
        print(f"create   median {t_ours:.2f} s  ({size / t_ours:.0f} MB/s)  vs sqlite3 .backup + tar "
              f"{t_ref:.2f} s: {t_ours / t_ref:.2f}x (adds sha256 and age encryption)")
        print(f"verify   median {t_verify:.2f} s;  restore median {t_restore:.2f} s")

        window = 0.0
        for run, (label, during) in enumerate((("during 5 backups", True), ("no backup", False))):
            stop = threading.Event()
            result: list[float] = []
            worker = threading.Thread(target=lambda r=result, s=stop, f=run * 10**6: r.extend(
                writer_latencies(data / "ivr.db", s, f)))
            worker.start()
            if during:
                start = time.perf_counter()
                for k in range(5):
                    backup.create(data, data / "ivr.db", tmp / f"load{k}", public)
                window = time.perf_counter() - start
            else:
                time.sleep(window)
            stop.set()
            worker.join()
            ms = sorted(x * 1000 for x in result)
            print(f"writer {label:>16}: {len(ms)} inserts, p50 {ms[len(ms) // 2]:.2f} ms, "
                  f"p99 {ms[int(len(ms) * 0.99)]:.2f} ms, max {ms[-1]:.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
