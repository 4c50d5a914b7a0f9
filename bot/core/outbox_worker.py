"""Outbox workers: threads that claim due jobs (bot.core.outbox), run them, and settle them.

Two lanes with threads of their own: `fast` (posts, updates, DMs) and `slow` (generation,
backfill, Jira), so a slow job never delays a quick one, and no job ever runs on a thread that
answers Slack. A commit that wrote jobs down wakes the workers at once (`Database.on_commit`);
otherwise they poll, which is how jobs written by other replicas or due after a backoff are
found.

A failure is classified: a permanent refusal (`PermanentFailure`, a `UserError`, or a Slack
error that retrying cannot fix) kills the job at once; anything else is retried with backoff,
after Slack's Retry-After for a 429.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core import outbox
from bot.core.errors import UserError
from bot.core.logs import request_id_var
from bot.core.outbox import Job, Lane
from storage.db import Database, explain, is_unavailable

log = logging.getLogger("postmortem_bot.outbox")

# Slack answers that retrying cannot change.
PERMANENT_SLACK_ERRORS = frozenset(
    {
        "account_inactive",
        "cannot_dm_bot",
        "cant_update_message",
        "channel_not_found",
        "invalid_auth",
        "invalid_blocks",
        "is_archived",
        "message_not_found",
        "missing_scope",
        "msg_too_long",
        "no_permission",
        "not_allowed_token_type",
        "not_in_channel",
        "restricted_action",
        "token_revoked",
        "user_not_found",
        "user_not_visible",
    }
)
MAX_RETRY_AFTER = timedelta(minutes=5)
THREADS = {Lane.FAST: 4, Lane.SLOW: 2}  # per lane, in each process that runs the lane


class PermanentFailure(Exception):
    """The job cannot be done, now or later; `reason` says why (it is logged and kept)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RetryLater(Exception):
    """Not now: try again after `wait` (a passing failure; it counts as an attempt)."""

    def __init__(self, reason: str, wait: timedelta | None = None) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


class Continue(Exception):
    """Not a failure: the job has more to do after `wait` (a rate budget of our own, a long job
    yielding its thread to others). It does not count as an attempt."""

    def __init__(self, reason: str, wait: timedelta = timedelta(0)) -> None:
        super().__init__(reason)
        self.reason, self.wait = reason, wait


@dataclass
class JobRun:
    """One attempt at a job, as its handler sees it."""

    job: Job
    finished: bool = False

    def finish_in(self, session: Session) -> None:
        """Mark the job done in the handler's own transaction (with what it saves), so the two
        commit together: a crash cannot leave the work saved and the job still to do."""
        self.finished = outbox.finish(session, self.job, now=outbox.utc_now())


Handler = Callable[[JobRun], None]
OnDead = Callable[[Job, str], None]
# Tells the person behind a job (its payload's `reply_to`) how it is going: (job, text).
Tell = Callable[[Job, str], None]


@dataclass(frozen=True)
class JobSpec:
    """A kind of job: its lane, what runs it, and what to do when it dies (say, tell the user)."""

    kind: str
    lane: Lane
    run: Handler
    on_dead: OnDead | None = None


@dataclass(frozen=True)
class Verdict:
    permanent: bool
    reason: str
    wait: timedelta | None = None


def classify(error: Exception) -> Verdict:
    """Permanent or worth retrying, and after how long."""
    if isinstance(error, PermanentFailure):
        return Verdict(True, error.reason)
    if isinstance(error, RetryLater):
        return Verdict(False, error.reason, error.wait)
    if isinstance(error, UserError):
        return Verdict(True, error.message)
    if isinstance(error, SlackApiError):
        code = str(error.response.get("error") or "unknown_error")
        if code in PERMANENT_SLACK_ERRORS:
            return Verdict(True, f"Slack refused: {code}")
        if error.response.status_code == 429:
            return Verdict(False, "Slack rate limit", _retry_after(error))
        return Verdict(False, f"Slack answered {code}")
    return Verdict(False, f"{type(error).__name__}: {error}")


def _retry_after(error: SlackApiError) -> timedelta:
    headers = {str(k).lower(): v for k, v in dict(error.response.headers or {}).items()}
    raw = headers.get("retry-after")
    raw = raw[0] if isinstance(raw, list) and raw else raw
    try:
        return min(timedelta(seconds=max(int(str(raw)), 1)), MAX_RETRY_AFTER)
    except (TypeError, ValueError):
        return timedelta(seconds=1)


class OutboxWorkers:
    """The worker threads of one process. `start()`, `wake()` after a commit, `stop()`."""

    def __init__(
        self,
        db: Database,
        specs: Iterable[JobSpec],
        *,
        threads: dict[Lane, int] | None = None,
        poll_seconds: float = 1.0,
        lease: timedelta = outbox.LEASE,
        tell: Tell | None = None,
        elsewhere: dict[Lane, Callable[[], None]] | None = None,
    ) -> None:
        """`threads`: how many threads each lane runs here (a lane left out runs none here).
        `elsewhere`: for a lane another process runs (bot.slow_work), how to wake it when a
        commit here writes one of its jobs down."""
        self._db = db
        self._lease = lease
        self._tell = tell
        self._specs = {spec.kind: spec for spec in specs}
        self._threads = THREADS if threads is None else threads
        self._poll = poll_seconds
        self._wakeups = {lane: _Wakeups() for lane in Lane}
        self._elsewhere = dict(elsewhere or {})
        self._stopping = threading.Event()
        self._draining = threading.Event()
        self._workers: list[threading.Thread] = []
        db.on_commit(self._after_commit)

    @property
    def kinds(self) -> frozenset[str]:
        return frozenset(self._specs)

    def start(self) -> OutboxWorkers:
        for lane, count in self._threads.items():
            for number in range(count):
                worker = threading.Thread(
                    target=self._loop, args=(lane,), name=f"outbox-{lane}-{number}", daemon=True
                )
                worker.start()
                self._workers.append(worker)
        return self

    def wake(self, lanes: Iterable[str] = tuple(Lane), *, everyone: bool = True) -> None:
        """Wake the lanes' workers: all of them, or (`everyone=False`) one, which wakes the next
        when it finds work (`_loop`), so a single new job costs one claim, not one per thread."""
        for lane in lanes:
            wake_elsewhere = self._elsewhere.get(Lane(lane))
            if wake_elsewhere is not None:
                wake_elsewhere()
                continue
            wakeups = self._wakeups.get(Lane(lane))
            if wakeups is not None:
                wakeups.wake(everyone=everyone)

    def stop(self, timeout: float = 20.0, *, drain: bool = True) -> bool:
        """Stop within `timeout` seconds: with `drain`, first do the jobs already due (what
        requests acknowledged just before the stop); then let the running ones finish. True
        when everything finished in time (unfinished jobs stay in the database either way)."""
        deadline = time.monotonic() + timeout
        if drain:
            self._draining.set()
            self.wake()
        else:
            self._stopping.set()
        for worker in self._workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        self._stopping.set()
        self.wake()
        return not any(worker.is_alive() for worker in self._workers)

    def run_pending(self, lane: Lane | None = None) -> int:
        """Run due jobs in this thread until none is left (the CLI, tests); how many ran."""
        ran = 0
        for each in [lane] if lane else list(Lane):
            while count := self._run_some(each).count:
                ran += count
        return ran

    # -- the loop ------------------------------------------------------------------------------

    def _after_commit(self, session: Session) -> None:
        lanes = session.info.pop("outbox_lanes", None)
        if lanes:
            self.wake(lanes, everyone=False)

    def _loop(self, lane: Lane) -> None:
        wakeup = self._wakeups[lane]
        look_first = True  # a poll reads whether anything is due before it claims (a write)
        while not self._stopping.is_set():
            try:
                ran = self._run_some(lane, look_first=look_first, more_due=wakeup.wake_one_waiting)
            except Exception as error:  # the database itself failed: wait, then try again
                if is_unavailable(error):  # a known outage: one line, no traceback
                    log.warning("outbox worker waiting for the database: %s", explain(error))
                else:
                    log.warning("outbox worker could not reach the database", exc_info=True)
                ran = _Ran()
            if ran.count and not ran.nothing_due:
                # Its claim saw another job due: claim again at once (under a burst, the look
                # cost a transaction per job). Otherwise look: finishing it may have let a job
                # of its ordering key go.
                look_first = not ran.more_due
                continue
            if self._draining.is_set():
                return  # nothing due is left: the drain is done for this thread
            # Woken by a commit that wrote a job down: claim at once; after a poll, look first.
            look_first = not wakeup.wait(self._poll)

    def _run_some(
        self,
        lane: Lane,
        *,
        look_first: bool = True,
        more_due: Callable[[], None] | None = None,
    ) -> _Ran:
        """Claim a due job of `lane` and run it, then each job its finish claims after it.
        `more_due` is called when a claim sees another job due (for another thread to take)."""
        if look_first:
            with self._db.read_session() as session:  # idle polling takes no write lock
                if not outbox.due(session, lane, now=outbox.utc_now()):
                    return _Ran()
        with self._db.session() as session:
            job = outbox.claim(session, lane, now=outbox.utc_now(), lease=self._lease)
        ran = _Ran()
        while job is not None:
            if job.more_due and more_due is not None:
                more_due()
            token = request_id_var.set(job.request_id or f"job-{job.id}")
            try:
                after = self._run(job, lane)
            finally:
                request_id_var.reset(token)
            ran = _Ran(ran.count + 1, job.more_due, nothing_due=after.claimed and not after.next)
            job = after.next
        return ran

    def _run(self, job: Job, lane: Lane) -> _After:
        """Run `job` and settle it. A job finished here claims the next of its lane in the
        same transaction: echoes in one channel run one after the other, so each one's claim
        waited for the finish before it, one more transaction per job."""
        spec = self._specs.get(job.kind)
        if spec is None:
            self._settle(job, Verdict(True, f"no handler for job kind {job.kind!r}"))
            return _After()
        attempt = JobRun(job)
        started = time.perf_counter()
        try:
            spec.run(attempt)
        except Continue as more:
            with self._db.session() as session:
                at = outbox.utc_now() + more.wait
                outbox.reschedule(session, job, at, reason=more.reason)
            return _After()
        except Exception as error:
            verdict = classify(error)
            level = logging.ERROR if verdict.permanent else logging.WARNING
            log.log(
                level,
                "job %s (%s) failed on attempt %d: %s",
                job.id,
                job.kind,
                job.attempts,
                verdict.reason,
                exc_info=not isinstance(error, (SlackApiError, PermanentFailure, RetryLater)),
            )
            self._settle(job, verdict)
            return _After()
        log.debug("job %s (%s) done in %.3fs", job.id, job.kind, time.perf_counter() - started)
        if attempt.finished:
            return _After()
        with self._db.session() as session:
            now = outbox.utc_now()
            outbox.finish(session, job, now=now)
            if self._stopping.is_set():
                return _After()
            return _After(outbox.claim(session, lane, now=now, lease=self._lease), claimed=True)

    def _settle(self, job: Job, verdict: Verdict) -> None:
        now = outbox.utc_now()
        with self._db.session() as session:
            if verdict.permanent:
                outbox.give_up(session, job, verdict.reason, now=now)
                dead = True
            else:
                dead = (
                    outbox.retry_later(session, job, verdict.reason, now=now, wait=verdict.wait)
                    is None
                )
        if not dead:
            if job.attempts == 1:
                self._tell_user(job, _delayed(job, verdict))
            return
        log.error("job %s (%s) given up: %s", job.id, job.kind, verdict.reason)
        spec = self._specs.get(job.kind)
        if spec is not None and spec.on_dead is not None:
            try:
                spec.on_dead(job, verdict.reason)
            except Exception:
                log.exception("could not report the failed job %s", job.id)
        elif job.payload.get("what"):
            self._tell_user(job, _given_up(job, verdict))

    def _tell_user(self, job: Job, text: str) -> None:
        if self._tell is None or not job.payload.get("reply_to"):
            return
        try:
            self._tell(job, text)
        except Exception:
            log.exception("could not tell the user about job %s", job.id)


@dataclass(frozen=True)
class _After:
    """What a job's run left: the next job, claimed with its finish (`claimed`: a claim was
    made there, whatever it found)."""

    next: Job | None = None
    claimed: bool = False


@dataclass(frozen=True)
class _Ran:
    """What a worker's turn did: how many jobs ran; whether the last one's claim saw another
    due; whether the turn ended with a claim that found nothing (so no look is needed)."""

    count: int = 0
    more_due: bool = False
    nothing_due: bool = False


class _Wakeups:
    """Wake-up calls for one lane's threads, counted: `wake(everyone=False)` lets exactly one
    waiting (or the next) thread through; `wake()` lets every waiting thread through."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._calls = 0
        self._waiting = 0

    def wake(self, *, everyone: bool = True) -> None:
        with self._condition:
            if everyone:
                self._calls = max(self._calls, self._waiting)
                self._condition.notify_all()
            else:
                self._calls = min(self._calls + 1, max(self._waiting, 1))
                self._condition.notify()

    def wake_one_waiting(self) -> None:
        """Let one more waiting thread through, if one is waiting: a call kept for the next
        waiter would be taken by the caller itself, which goes on claiming anyway."""
        with self._condition:
            if self._waiting > self._calls:
                self._calls += 1
                self._condition.notify()

    @property
    def waiting(self) -> int:
        with self._condition:
            return self._waiting

    def wait(self, timeout: float) -> bool:
        """Until a wake-up call is for this thread (True), or `timeout` seconds (False: time to
        poll)."""
        with self._condition:
            self._waiting += 1
            try:
                if not self._calls:
                    self._condition.wait(timeout)
                if self._calls:
                    self._calls -= 1
                    return True
                return False
            finally:
                self._waiting -= 1


def _delayed(job: Job, verdict: Verdict) -> str:
    what = str(job.payload.get("what") or "that")
    return (
        f"I couldn't post {what} yet ({_plain(verdict.reason)}). What you sent is saved, and "
        "I'll try again in a moment: no need to repeat it."
    )


def _given_up(job: Job, verdict: Verdict) -> str:
    what = str(job.payload.get("what") or "that")
    return (
        f":warning: I gave up posting {what} ({_plain(verdict.reason)}). What you sent is "
        "saved; an admin can find the reason in the bot's log."
    )


def _plain(reason: str) -> str:
    """`Slack answered fatal_error` → with the code in backticks, as Slack users read them."""
    for prefix in ("Slack answered ", "Slack refused: "):
        if reason.startswith(prefix):
            return f"Slack answered `{reason[len(prefix) :]}`"
    return "an error on my side; it is logged"
