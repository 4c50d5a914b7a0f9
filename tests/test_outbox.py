"""The outbox: jobs written with the change that causes them, claimed under a lease, in order
per key, at most one live per dedupe key, retried with backoff, given up when hopeless, and
Slack posts made once even when a job runs again after a crash."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import event, select

from bot.core import outbox
from bot.core.outbox import Busy, Job, Lane
from bot.core.outbox_worker import JobRun, JobSpec, OutboxWorkers, PermanentFailure, _Wakeups
from bot.slack.once import post_once
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import OutboxJob, OutboxState
from tests.bench import BOB, INCIDENT_CHANNEL

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _enqueue(db: Database, kind: str = "test.job", **kwargs: object) -> None:
    with db.session() as session:
        outbox.enqueue(session, kind, {"n": kwargs.pop("n", 0)}, team_id="T1", **kwargs)  # type: ignore[arg-type]


def _claim(db: Database, *, at: datetime | None = None, worker: str = "w1") -> Job | None:
    with db.session() as session:
        return outbox.claim(session, Lane.FAST, now=at or outbox.utc_now(), worker=worker)


def _finish(db: Database, job: Job, worker: str = "w1") -> bool:
    with db.session() as session:
        return outbox.finish(session, job, now=outbox.utc_now(), worker=worker)


def _states(db: Database) -> list[OutboxState]:
    with db.read_session() as session:
        return list(session.scalars(select(OutboxJob.state).order_by(OutboxJob.id)))


def test_a_job_is_claimed_once_under_a_lease(db: Database) -> None:
    _enqueue(db)
    job = _claim(db)
    assert job is not None and job.attempts == 1 and not job.retried
    assert _claim(db, worker="w2") is None  # leased
    later = outbox.utc_now() + outbox.LEASE + timedelta(seconds=1)
    again = _claim(db, at=later, worker="w2")  # the first worker died: its lease ran out
    assert again is not None and again.id == job.id and again.retried
    assert not _finish(db, job, worker="w1")  # the lease moved on: w1 may not settle it
    assert _finish(db, again, worker="w2")
    assert _states(db) == [OutboxState.DONE]
    assert _claim(db, at=later + timedelta(hours=1)) is None


def test_jobs_of_one_key_run_one_at_a_time_in_order(db: Database) -> None:
    _enqueue(db, n=1, ordering_key="channel:C1")
    _enqueue(db, n=2, ordering_key="channel:C1")
    _enqueue(db, n=3, ordering_key="channel:C2")
    first = _claim(db)
    assert first is not None and first.payload == {"n": 1}
    other = _claim(db, worker="w2")
    assert other is not None and other.payload == {"n": 3}  # another key is not held up
    assert _claim(db, worker="w3") is None  # n=2 waits for n=1
    assert _finish(db, first)
    second = _claim(db, worker="w3")
    assert second is not None and second.payload == {"n": 2}


def test_one_live_job_per_dedupe_key(db: Database) -> None:
    _enqueue(db, dedupe_key="postmortem:1")
    with pytest.raises(Busy):
        _enqueue(db, dedupe_key="postmortem:1")
    with db.session() as session:  # the caller's transaction survives a Busy
        outbox.enqueue(session, "test.job", {}, team_id="T1", dedupe_key="postmortem:2")
        with pytest.raises(Busy):
            outbox.enqueue(session, "test.job", {}, team_id="T1", dedupe_key="postmortem:2")
        assert outbox.live_job(session, "postmortem:2")
    job = _claim(db)
    assert job is not None and _finish(db, job)
    _enqueue(db, dedupe_key="postmortem:1")  # free again once the first one is done


def test_backoff_then_giving_up(db: Database) -> None:
    _enqueue(db)
    job = _claim(db)
    assert job is not None
    with db.session() as session:
        at = outbox.retry_later(session, job, "Slack answered fatal_error", now=T0, worker="w1")
    assert at == T0 + timedelta(seconds=1)
    assert _claim(db, at=T0) is None and _claim(db, at=T0 + timedelta(seconds=1)) is not None
    hopeless = Job(job.id, job.kind, job.team_id, job.payload, outbox.MAX_ATTEMPTS, T0)
    with db.session() as session:
        assert outbox.retry_later(session, hopeless, "still down", now=T0, worker="w1") is None
    assert _states(db) == [OutboxState.DEAD]


def test_workers_retry_passing_failures_and_report_hopeless_ones(db: Database) -> None:
    attempts: list[int] = []
    dead: list[str] = []
    told: list[str] = []

    def flaky(run: JobRun) -> None:
        attempts.append(run.job.attempts)
        if run.job.attempts == 1:
            raise ConnectionError("Slack is away")

    def hopeless(run: JobRun) -> None:
        raise PermanentFailure("the channel is archived")

    workers = OutboxWorkers(
        db,
        [
            JobSpec("test.flaky", Lane.FAST, flaky),
            JobSpec("test.hopeless", Lane.FAST, hopeless, on_dead=lambda j, r: dead.append(r)),
        ],
        tell=lambda job, text: told.append(text),
    )
    with db.session() as session:
        payload = {"reply_to": "http://127.0.0.1/response", "what": "the echo"}
        outbox.enqueue(session, "test.flaky", payload, team_id="T1")
        outbox.enqueue(session, "test.hopeless", {}, team_id="T1")
    assert workers.run_pending() == 2
    assert dead == ["the channel is archived"]
    assert len(told) == 1 and "the echo" in told[0] and "try again" in told[0]
    with db.session() as session:  # the flaky one waits for its backoff
        due = session.scalar(
            select(OutboxJob.next_attempt_at).where(OutboxJob.kind == "test.flaky")
        )
    assert due is not None and due > outbox.utc_now()
    with db.session() as session:
        session.execute(
            OutboxJob.__table__.update().values(next_attempt_at=outbox.utc_now())  # type: ignore[attr-defined]
        )
    assert workers.run_pending() == 1
    assert attempts == [1, 2]
    assert _states(db) == [OutboxState.DONE, OutboxState.DEAD]


def test_a_commit_that_writes_jobs_wakes_the_workers(db: Database) -> None:
    done = threading.Event()
    workers = OutboxWorkers(
        db, [JobSpec("test.job", Lane.FAST, lambda run: done.set())], poll_seconds=60.0
    ).start()
    try:
        _enqueue(db)  # polling every 60 s: only the commit hook can make this quick
        assert done.wait(5)
    finally:
        assert workers.stop(5)


def test_a_lane_run_by_another_process_is_woken_there_and_never_run_here(db: Database) -> None:
    """The slow lane in the slow-work process (bot.slow_work): a commit that writes its job
    down wakes that process, and this one's threads leave the job alone."""
    ran: list[str] = []
    woken = threading.Event()
    workers = OutboxWorkers(
        db,
        [
            JobSpec("test.slow", Lane.SLOW, lambda run: ran.append("slow")),
            JobSpec("test.fast", Lane.FAST, lambda run: ran.append("fast")),
        ],
        threads={Lane.FAST: 2},
        elsewhere={Lane.SLOW: woken.set},
        poll_seconds=0.05,
    ).start()
    try:
        with db.session() as session:
            outbox.enqueue(session, "test.slow", {}, team_id="T1", lane=Lane.SLOW)
        assert woken.wait(5)
        with db.session() as session:  # a later job, on this process's lane
            outbox.enqueue(session, "test.fast", {}, team_id="T1")
        _until(lambda: ran == ["fast"])
    finally:
        assert workers.stop(5)
    assert ran == ["fast"]
    assert _states(db) == [OutboxState.PENDING, OutboxState.DONE]


def test_a_claim_says_whether_another_job_is_due(db: Database) -> None:
    _enqueue(db, n=1)
    _enqueue(db, n=2)
    first = _claim(db)
    assert first is not None and first.payload == {"n": 1} and first.more_due
    second = _claim(db)
    assert second is not None and second.payload == {"n": 2} and not second.more_due


def test_a_job_written_by_a_commit_costs_a_claim_and_a_finish_that_looks_for_more(
    db: Database,
) -> None:
    """A woken worker claims at once (the commit says a job is there), and wakes no other
    thread when nothing else is due: each extra look was a transaction competing with the
    requests being acknowledged. Its finish claims again, in its own transaction: that claim,
    finding nothing, is the look."""
    done = threading.Event()
    workers = OutboxWorkers(
        db,
        [JobSpec("test.job", Lane.FAST, lambda run: done.set())],
        threads={Lane.FAST: 4},
        poll_seconds=60.0,
    ).start()
    fast = workers._wakeups[Lane.FAST]
    try:
        _until(lambda: fast.waiting == 4)  # each thread looked once at start, then waits
        with _outbox_statements(db) as statements:
            _enqueue(db)
            assert done.wait(5)
            _until(lambda: fast.waiting == 4 and len(statements) >= 4)  # all idle again
    finally:
        assert workers.stop(5)
    claims = [s for s in statements if _is_claim(s)]
    looks = [s for s in statements if s.startswith("SELECT outbox_jobs.id FROM")]
    assert len(claims) == 2 and statements[0] == claims[0]  # no look before the claim
    assert statements[-1] == claims[1]  # the finish's claim, last: nothing more was due
    assert looks == []


def test_under_a_burst_a_worker_claims_job_after_job_without_looking_between(
    db: Database,
) -> None:
    """A claim that saw another job due is followed by the next claim at once: a look between
    them was one more transaction per job, taken from the requests being acknowledged."""
    ran: list[int] = []
    workers, fast = _one_worker_recording(db, ran)
    try:
        _until(lambda: fast.waiting == 1)
        with _outbox_statements(db) as statements:
            with db.session() as session:  # one commit, three jobs
                for n in (1, 2, 3):
                    outbox.enqueue(session, "test.job", {"n": n}, team_id="T1")

            def selects() -> list[str]:
                return [s for s in statements if s.startswith("SELECT")]

            _until(lambda: len(ran) == 3 and fast.waiting == 1 and len(selects()) >= 4)
    finally:
        assert workers.stop(5)
    kinds = ["claim" if _is_claim(s) else "look" for s in selects()]
    assert ran == [1, 2, 3]
    assert kinds == ["claim", "claim", "claim", "claim"]  # the last (job 3's finish) found none


def test_jobs_of_one_channel_cost_one_transaction_each(db: Database) -> None:
    """Echoes in one channel run in order, so a claim never sees the next one due until the
    one before is done: each job cost a claim, a finish and a look, three transactions taken
    from the requests being acknowledged. Now a job's finish claims the next in its own
    transaction, and an empty claim there stands for the look."""
    ran: list[int] = []
    workers, fast = _one_worker_recording(db, ran)
    try:
        _until(lambda: fast.waiting == 1)
        with db.session() as session:  # written before the worker is woken (no commit hook)
            for n in (1, 2, 3):
                outbox.enqueue(session, "test.job", {"n": n}, team_id="T1", ordering_key="C1")
            session.info.pop("outbox_lanes", None)
        with _outbox_statements(db, commits=True) as statements:
            workers.wake([Lane.FAST], everyone=False)
            _until(lambda: len(ran) == 3 and fast.waiting == 1 and statements[-1:] == ["COMMIT"])
    finally:
        assert workers.stop(5)

    def kind(statement: str) -> str:
        if statement.startswith("SELECT"):
            return "claim" if _is_claim(statement) else "look"
        return "finish" if "finished_at" in statement else "lease"

    labels: list[list[str]] = [[]]
    for statement in statements:
        if statement == "COMMIT":
            labels.append([])
        else:
            labels[-1].append(kind(statement))
    labels.pop()  # after the last COMMIT
    assert ran == [1, 2, 3]
    assert labels == [
        ["claim", "lease"],
        ["finish", "claim", "lease"],
        ["finish", "claim", "lease"],
        ["finish", "claim"],  # nothing more: no look after it
    ]


def test_a_post_is_made_once_even_when_its_job_runs_again(slack: FakeSlack, db: Database) -> None:
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    first_try = Job(41, "slack.post", "T1", {}, attempts=1, created_at=outbox.utc_now())
    ts = post_once(client, first_try, channel=INCIDENT_CHANNEL, text="INC-1 declared")
    # the worker died before it could record the post; the job runs again
    second_try = Job(41, "slack.post", "T1", {}, attempts=2, created_at=first_try.created_at)
    assert post_once(client, second_try, channel=INCIDENT_CHANNEL, text="INC-1 declared") == ts
    other = Job(42, "slack.post", "T1", {}, attempts=2, created_at=first_try.created_at)
    assert post_once(client, other, channel=INCIDENT_CHANNEL, text="INC-1 declared") != ts
    posts = [m for m in slack.messages(INCIDENT_CHANNEL) if m.get("text") == "INC-1 declared"]
    assert len(posts) == 2
    history = client.conversations_history(channel=INCIDENT_CHANNEL)["messages"]
    assert all("metadata" not in m for m in history)  # only with include_all_metadata


def test_a_retry_finds_its_post_however_busy_the_channel_has_been_since(slack: FakeSlack) -> None:
    """It looks where its previous attempt ran, not at the newest messages: a thousand posts
    later (a busy incident channel), the earlier post is still found, and nothing is posted."""
    client = WebClient(token=slack.bot_token, base_url=slack.api_url)
    created = outbox.utc_now()
    first_try = Job(7, "slack.post", "T1", {}, attempts=1, created_at=created)
    posted_at = outbox.utc_now()
    ts = post_once(client, first_try, channel=INCIDENT_CHANNEL, text="INC-1-F1 announced")
    for n in range(1100):
        slack.post_as_user(INCIDENT_CHANNEL, BOB, f"chatter {n}")
    window = (posted_at - timedelta(seconds=1), posted_at + timedelta(seconds=2))
    retry = Job(7, "slack.post", "T1", {}, attempts=2, created_at=created, previous_attempt=window)
    slack.reset_calls()
    assert post_once(client, retry, channel=INCIDENT_CHANNEL, text="INC-1-F1 announced") == ts
    assert {c.method for c in slack.calls} == {"conversations.history"}
    assert all(c.params.get("latest") for c in slack.calls)  # the window, not "since created"


def test_a_new_job_wakes_one_worker_and_a_drain_wakes_them_all() -> None:
    """Every idle worker claiming at each commit made four write transactions per job, three
    for nothing: a commit's wake-up call now goes to one thread (it passes it on when it finds
    work), and only a stop wakes them all."""
    wakeups = _Wakeups()
    woken: list[int] = []
    lock = threading.Lock()

    def idle(number: int) -> None:
        wakeups.wait(30)
        with lock:
            woken.append(number)

    threads = [threading.Thread(target=idle, args=(n,), daemon=True) for n in range(4)]
    for thread in threads:
        thread.start()
    _until(lambda: wakeups.waiting == 4)
    wakeups.wake(everyone=False)
    _until(lambda: len(woken) == 1)
    wakeups.wake(everyone=False)  # a later call: had the first woken more, this shows it
    _until(lambda: len(woken) >= 2)
    assert len(woken) == 2
    wakeups.wake()
    _until(lambda: len(woken) == 4)
    for thread in threads:
        thread.join(5)


def _one_worker_recording(db: Database, ran: list[int]) -> tuple[OutboxWorkers, _Wakeups]:
    """One fast-lane thread that appends each test job's `n` to `ran` (no polling to speak of);
    started, with its wake-ups."""
    workers = OutboxWorkers(
        db,
        [JobSpec("test.job", Lane.FAST, lambda run: ran.append(run.job.payload["n"]))],
        threads={Lane.FAST: 1},
        poll_seconds=60.0,
    ).start()
    return workers, workers._wakeups[Lane.FAST]


def _is_claim(statement: str) -> bool:
    """A claim's SELECT reads the candidates' attempts; a look reads only whether one is due."""
    return statement.startswith("SELECT") and "outbox_jobs.attempts" in statement


@contextmanager
def _outbox_statements(db: Database, *, commits: bool = False) -> Iterator[list[str]]:
    """The statements on outbox_jobs sent while in the block, inserts aside, one line each;
    with `commits`, "COMMIT" where a transaction that sent one of them commits."""
    statements: list[str] = []

    def record(conn: Any, _cursor: object, statement: str, *_rest: object) -> None:
        if "outbox_jobs" in statement and not statement.lstrip().startswith("INSERT"):
            statements.append(" ".join(statement.split()))
            conn.info["outbox_statements"] = True

    def committed(conn: Any) -> None:
        if conn.info.pop("outbox_statements", False):
            statements.append("COMMIT")

    event.listen(db.engine, "before_cursor_execute", record)
    if commits:
        event.listen(db.engine, "commit", committed)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)
        if commits:
            event.remove(db.engine, "commit", committed)


def _until(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)
