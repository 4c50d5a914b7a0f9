"""The outbox: side effects written down in the transaction that causes them, done later.

A listener records a change and, in the same transaction, the Slack, Jira or canvas calls it
implies (`enqueue`); it acknowledges Slack only after that commit. Workers in every replica
(`bot.core.outbox_worker`) then claim due jobs (`claim`), carry them out and mark them done.
So a crash after the ack loses nothing (the job is in the database), and a job is done once:

- A claim is a lease (`lease_until`): one worker at a time; a worker that dies mid-job lets its
  lease run out and another replica takes the job over.
- Jobs with the same `ordering_key` (say, one incident channel) run one at a time, oldest first,
  so a follow-up's announcement is posted before the note about its first change.
- `dedupe_key` keeps at most one live job per key (one postmortem generation per incident).
- A job may be attempted again after a crash, so what it does must be idempotent, or check
  what an earlier attempt did (`bot.slack.once` finds a message an earlier attempt posted).

Functions here take a `Session`; the caller owns the transaction. Times are the real clock
(scheduling is infrastructure, not domain time).
"""

from __future__ import annotations

import enum
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter

from bot.core.logs import request_id_var
from storage.models import OutboxJob, OutboxState

WORKER = f"{socket.gethostname()}:{os.getpid()}"
LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=1)
LONGEST_WAIT = timedelta(minutes=5)
MAX_ATTEMPTS = 12  # about half an hour of retries before a job is given up
KEEP_FINISHED = timedelta(days=1)


class Lane(enum.StrEnum):
    """Quick Slack calls never wait behind slow work (generation, backfill, Jira)."""

    FAST = "fast"
    SLOW = "slow"


class Busy(Exception):
    """A live job with the same dedupe key already exists (say, a generation in progress)."""


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    team_id: str
    payload: dict[str, Any]
    attempts: int  # including this one: above 1, an earlier attempt may have done part of it
    created_at: datetime
    request_id: str | None = None
    # When the previous attempt ran (from its claim to the end of its lease, or to when it
    # failed): where to look for what it may have done. None on a first attempt.
    previous_attempt: tuple[datetime, datetime] | None = None
    # Whether another job of the lane was due when this one was claimed: then another worker
    # should look now, rather than at its next poll.
    more_due: bool = False

    @property
    def retried(self) -> bool:
        return self.attempts > 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def enqueue(
    session: Session,
    kind: str,
    payload: dict[str, Any],
    *,
    team_id: str,
    lane: Lane = Lane.FAST,
    ordering_key: str | None = None,
    dedupe_key: str | None = None,
    delay: timedelta = timedelta(0),
) -> None:
    """Write a job down in the caller's transaction (done only if that transaction commits).

    Raises Busy when `dedupe_key` is taken by a live job; the caller's transaction is intact.
    """
    now = utc_now()
    values: dict[str, Any] = {
        "team_id": team_id,
        "kind": kind,
        "lane": lane.value,
        "payload": payload,
        "dedupe_key": dedupe_key,
        "ordering_key": ordering_key,
        "state": OutboxState.PENDING,
        "attempts": 0,
        "next_attempt_at": now + delay,
        "request_id": request_id_var.get(),
        "created_at": now,
    }
    if dedupe_key is None:
        # One statement on the session's connection, not the ORM's unit of work: most
        # requests write a job before their ack, and on SQLite they write it holding the lock
        # every other request waits for.
        session.connection().execute(_INSERT, values)
    else:
        job = OutboxJob(**values)
        try:
            with session.begin_nested():
                session.add(job)
        except IntegrityError:
            raise Busy(dedupe_key) from None
    lanes: set[str] = session.info.setdefault("outbox_lanes", set())
    lanes.add(lane.value)


def live_job(session: Session, dedupe_key: str) -> bool:
    """Whether a job with this dedupe key is waiting or running."""
    found = session.scalar(select(OutboxJob.id).where(OutboxJob.dedupe_key == dedupe_key))
    return found is not None


# The worker loop's statements, built once: building them (the aliased subquery above all)
# cost more CPU than running them, on threads that share the interpreter with the acks.
_DUE_NOW: BindParameter[datetime] = bindparam("now")
_CLAIMABLE = (
    OutboxJob.state == OutboxState.PENDING,
    OutboxJob.lane == bindparam("lane"),
    OutboxJob.next_attempt_at <= _DUE_NOW,
    or_(OutboxJob.lease_until.is_(None), OutboxJob.lease_until < _DUE_NOW),
)
_ANY_DUE = select(OutboxJob.id).where(*_CLAIMABLE).limit(1)
_EARLIER = aliased(OutboxJob)
_OLDEST_DUE = (
    select(OutboxJob.id, OutboxJob.attempts, OutboxJob.lease_until)
    .where(
        *_CLAIMABLE,
        or_(
            OutboxJob.ordering_key.is_(None),
            ~exists().where(
                _EARLIER.ordering_key == OutboxJob.ordering_key,
                _EARLIER.state == OutboxState.PENDING,
                _EARLIER.id < OutboxJob.id,
            ),
        ),
    )
    .order_by(OutboxJob.id)
    .limit(2)  # the second only says whether there is more to do
    .with_for_update(skip_locked=True)
)
_INSERT = insert(OutboxJob)
_TAKE = (
    update(OutboxJob)
    .where(OutboxJob.id == bindparam("job_id"))
    .values(
        lease_until=bindparam("until"),
        leased_by=bindparam("worker"),
        attempts=bindparam("attempts"),
    )
    .returning(
        OutboxJob.kind,
        OutboxJob.team_id,
        OutboxJob.payload,
        OutboxJob.created_at,
        OutboxJob.request_id,
    )
)
_FINISH = (
    update(OutboxJob)
    .where(
        OutboxJob.id == bindparam("job_id"),
        OutboxJob.leased_by == bindparam("worker"),
        OutboxJob.state == OutboxState.PENDING,
    )
    .values(
        state=OutboxState.DONE,
        finished_at=bindparam("finished"),
        dedupe_key=None,
        lease_until=None,
        last_error=None,
    )
)


def due(session: Session, lane: Lane, *, now: datetime) -> bool:
    """Whether any job of `lane` may be due (a cheap read before a claim, which writes)."""
    return session.scalar(_ANY_DUE, {"lane": lane.value, "now": now}) is not None


def claim(
    session: Session,
    lane: Lane,
    *,
    now: datetime,
    worker: str = WORKER,
    lease: timedelta = LEASE,
) -> Job | None:
    """Take the oldest due job of `lane` whose ordering key has no older pending job, under a
    lease. Commit right away: the lease is what keeps other workers off it.

    Two statements with no ORM objects: every echo is claimed, on threads that share the
    interpreter with the acks, and loading the candidates as objects and flushing the change
    cost more CPU than the database took to answer."""
    connection = session.connection()
    candidates = connection.execute(_OLDEST_DUE, {"lane": lane.value, "now": now}).all()
    if not candidates:
        return None
    candidate = candidates[0]
    # The previous attempt ran within the lease that ended at `lease_until` (a failed attempt
    # sets it to when it failed): remembered for a retry that looks for what it did.
    ended = candidate.lease_until
    previous = (ended - lease, min(ended, now)) if ended is not None else None
    attempts = candidate.attempts + 1
    taken = connection.execute(
        _TAKE,
        {"job_id": candidate.id, "until": now + lease, "worker": worker, "attempts": attempts},
    ).one()
    return Job(
        id=candidate.id,
        kind=taken.kind,
        team_id=taken.team_id,
        payload=dict(taken.payload),
        attempts=attempts,
        created_at=taken.created_at,
        request_id=taken.request_id,
        previous_attempt=previous,
        more_due=len(candidates) > 1,
    )


def finish(session: Session, job: Job, *, now: datetime, worker: str = WORKER) -> bool:
    """Mark a job done, if this worker still holds it (call in the transaction that saves what
    the job did, so both commit or neither does). False when the lease was lost."""
    # On the session's connection, not through the ORM: the job's row is not loaded in the
    # handler's session (its claim had a session of its own), so there is nothing there to
    # bring up to date, and the ORM's handling of the statement cost a third of the echo's CPU.
    result = session.connection().execute(
        _FINISH, {"job_id": job.id, "worker": worker, "finished": now}
    )
    return result.rowcount == 1


def retry_later(
    session: Session,
    job: Job,
    reason: str,
    *,
    now: datetime,
    wait: timedelta | None = None,
    worker: str = WORKER,
) -> datetime | None:
    """Schedule another attempt (backoff 1 s, 2 s, 4 s … at most 5 min apart, or `wait`), or
    give the job up after MAX_ATTEMPTS. Returns when it runs again; None when given up."""
    if job.attempts >= MAX_ATTEMPTS:
        give_up(session, job, reason, now=now, worker=worker)
        return None
    exponent = max(0, min(job.attempts - 1, 20))
    delay = wait if wait is not None else min(FIRST_RETRY * (1 << exponent), LONGEST_WAIT)
    at = now + min(delay, LONGEST_WAIT)
    session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job.id, OutboxJob.leased_by == worker)
        # the lease ends now (claimable at `at`); when it ended is kept for the next attempt
        .values(next_attempt_at=at, lease_until=now, last_error=reason[:2000])
    )
    return at


def reschedule(
    session: Session,
    job: Job,
    at: datetime,
    *,
    reason: str,
    now: datetime | None = None,
    worker: str = WORKER,
) -> None:
    """Not a failure: the job has more to do, later (a rate budget, a long backfill yielding
    its thread). The attempt is not counted."""
    session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job.id, OutboxJob.leased_by == worker)
        .values(
            next_attempt_at=at,
            lease_until=now or utc_now(),
            attempts=OutboxJob.attempts - 1,
            last_error=reason[:2000],
        )
    )


def give_up(
    session: Session, job: Job, reason: str, *, now: datetime, worker: str = WORKER
) -> None:
    """A permanent failure: the job is dead (kept for a day, for the record), its keys free."""
    session.execute(
        update(OutboxJob)
        .where(OutboxJob.id == job.id, OutboxJob.leased_by == worker)
        .values(
            state=OutboxState.DEAD,
            finished_at=now,
            dedupe_key=None,
            lease_until=None,
            last_error=reason[:2000],
        )
    )


def prune(session: Session, *, now: datetime) -> int:
    """Delete jobs finished more than a day ago."""
    result = session.execute(
        delete(OutboxJob).where(
            OutboxJob.state != OutboxState.PENDING,
            OutboxJob.finished_at < now - KEEP_FINISHED,
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def pending_count(session: Session, kind: str | None = None) -> int:
    query = (
        select(func.count()).select_from(OutboxJob).where(OutboxJob.state == OutboxState.PENDING)
    )
    if kind is not None:
        query = query.where(OutboxJob.kind == kind)
    return int(session.scalar(query) or 0)
