"""Whether the database answers, known without ever waiting long for it.

A database that stops answering does not fail: every call to it just waits. So the bot asks a
cheap question (`SELECT 1`, the probe) on a connection of its own, in a thread of its own, one
probe at a time, and callers only ever wait for the answer up to `answer_within` seconds (one
second): a database that cannot say "1" in a second is not answering, whatever the reason.

- `/healthz` calls `check()`: an "ok" under `fresh_for` seconds old (since the probe ended) is
  reused (a failure never is), otherwise a probe starts (or the one running is joined) and its
  answer is waited for until it is `answer_within` old. While a probe is stuck, every caller
  gets "down" at once. So however many callers there are, at most one thread waits on the
  database and none waits much over a second.
- Sessions and new connections consult `down` (no waiting) and, while it says down, `check()`:
  while the database does not answer they fail at once instead of each paying its own timeout,
  and the first one after it answers again goes through (see storage.db).
- Anything that smells of trouble (a round trip waiting over a second, a connection error)
  calls `suspect()`, which starts a probe in the background if none is fresh or running.

Transitions are logged once each: a WARNING when the database stops answering, one when it
answers again, with how long it was away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("postmortem_bot.database")

ANSWER_WITHIN_SECONDS = 1.0  # a probe unanswered this long: the database is not answering
FRESH_FOR_SECONDS = 1.0  # an "ok" this recent is reused instead of asking again


class _Probe:
    """One probe: when it started, and its outcome once it has one."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.finished = started
        self.done = threading.Event()
        self.ok = False
        self.reason = ""


class DatabaseHealth:
    def __init__(
        self,
        probe: Callable[[], None],
        *,
        answer_within: float = ANSWER_WITHIN_SECONDS,
        fresh_for: float = FRESH_FOR_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        name: str = "database",
    ) -> None:
        """`probe` raises when the database does not answer properly; it must itself end in
        bounded time (a connect timeout, a statement deadline), as it holds the only probe
        slot until it does."""
        self._probe = probe
        self._answer_within = answer_within
        self._fresh_for = fresh_for
        self._clock = clock
        self._name = name
        self._lock = threading.Lock()
        self._running: _Probe | None = None
        self._last: _Probe | None = None  # the last probe that finished
        self._down_since: float | None = None

    @property
    def down(self) -> bool:
        """The database is known not to answer right now: the last probe failed, or the one
        running has waited longer than `answer_within`. Never waits."""
        with self._lock:
            return self._is_down(self._clock())

    @property
    def reason(self) -> str:
        """Why the database counts as not answering (for messages and logs)."""
        with self._lock:
            last = self._last
            if self._running is None and last is not None and not last.ok:
                return last.reason
            return f"no answer within {self._answer_within:g} s"

    def check(self) -> bool:
        """Whether the database answers, waiting at most about `answer_within` seconds."""
        with self._lock:
            now = self._clock()
            last = self._last
            if self._running is None and last is not None and self._fresh(last, now):
                return last.ok
            probe = self._running or self._start(now)
        probe.done.wait(max(0.0, probe.started + self._answer_within - self._clock()))
        with self._lock:
            self._is_down(self._clock())  # logs the transition to "down" if the probe is stuck
            return probe.done.is_set() and probe.ok

    def suspect(self) -> None:
        """Something looked wrong: probe in the background unless a probe is already running
        or has just answered. Never waits."""
        with self._lock:
            now = self._clock()
            last = self._last
            if self._running is None and (last is None or not self._fresh(last, now)):
                self._start(now)

    # -- internals (called with the lock held) --------------------------------------------------

    def _fresh(self, probe: _Probe, now: float) -> bool:
        # A failure is never reused: the next caller asks again (joining the probe running, if
        # any), so the first one after the database is back gets through.
        return probe.ok and now - probe.finished < self._fresh_for

    def _start(self, now: float) -> _Probe:
        probe = _Probe(now)
        self._running = probe
        threading.Thread(
            target=self._run, args=(probe,), name=f"{self._name}-probe", daemon=True
        ).start()
        return probe

    def _run(self, probe: _Probe) -> None:
        try:
            self._probe()
            probe.ok = True
        except Exception as error:  # whatever it is, the database did not answer properly
            probe.reason = _one_line(error)
        with self._lock:
            probe.finished = self._clock()
            self._running = None
            self._last = probe
            probe.done.set()
            self._is_down(self._clock())

    def _is_down(self, now: float) -> bool:
        running, last = self._running, self._last
        stuck = running is not None and now - running.started > self._answer_within
        down = stuck or (last is not None and not last.ok)  # until a newer probe answers
        if down and self._down_since is None:
            self._down_since = now
            reason = (
                f"no answer within {self._answer_within:g} s"
                if stuck or last is None or last.ok
                else last.reason
            )
            log.warning("the %s is not answering (%s)", self._name, reason)
        elif not down and self._down_since is not None:
            log.warning(
                "the %s answers again, %.1f s after it was found not answering",
                self._name,
                now - self._down_since,
            )
            self._down_since = None
        return down


def _one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
