"""Test controls of ``FakeConfluence`` (a mixin it inherits): injected faults (an HTTP status,
a dropped or hung connection), a per-account rate limiter, and the record of calls.

Faults are consumed in the order they were added, first match wins; they apply before
authentication, as an edge proxy's failures would. See ``http`` for the order of checks.
"""

from __future__ import annotations

import re
import threading
import time

from sandbox.confluence.model import DROP, HANG, STATUS, Call, Fault
from sandbox.confluence.state import ConfluenceState, RateLimit


class FakeConfluenceTimeout(AssertionError):
    """Raised by ``wait_for`` when the expected requests never arrived."""


class Controls:
    """Faults, rate limits and recorded calls of ``FakeConfluence``."""

    _state: ConfluenceState

    # --- faults and rate limits ---------------------------------------------------------------

    def _add_fault(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("times must be at least 1")
        with self._state.lock:
            self._state.faults.append(fault)

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        method: str = "*",
        path: str = "",
        retry_after: int | None = None,
        body: object = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` requests of ``method`` whose path matches the regex ``path``
        answer ``status`` (body: Confluence's envelope, or ``body``: JSON, or text if a str).
        A 429 carries ``Retry-After`` (``retry_after``, default 1); others only when given."""
        pattern = re.compile(path)
        self._add_fault(
            Fault(STATUS, method.upper(), pattern, times, status, body, retry_after, headers or {})
        )

    def drop_next(self, *, times: int = 1, method: str = "*", path: str = "") -> None:
        """The next matching requests get no answer: the connection is closed at once."""
        self._add_fault(Fault(DROP, method.upper(), re.compile(path), times))

    def hang_next(
        self, *, times: int = 1, method: str = "*", path: str = "", seconds: float = 30.0
    ) -> None:
        """The next matching requests get no answer for ``seconds`` (or until
        ``release_hung()``), then the connection closes: the client's read timeout fires."""
        self._add_fault(Fault(HANG, method.upper(), re.compile(path), times, hold=seconds))

    def release_hung(self) -> None:
        """Let every request held by ``hang_next`` go (their connections close unanswered)."""
        with self._state.lock:
            self._state.release.set()
            self._state.release = threading.Event()

    def set_rate_limit(
        self, limit: int | None, *, window: float = 60.0, retry_after: int | None = None
    ) -> None:
        """At most ``limit`` requests per account per ``window`` seconds; the others get 429
        with ``Retry-After`` (``retry_after``, default: seconds until a slot frees). None
        lifts the limit."""
        with self._state.lock:
            if limit is None:
                self._state.rate_limit = None
            else:
                if limit < 1 or window <= 0:
                    raise ValueError("limit must be at least 1 and window positive")
                self._state.rate_limit = RateLimit(limit, window, retry_after)

    # --- calls --------------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._state.lock:
            return list(self._state.calls)

    def calls_to(self, method: str, path_pattern: str) -> list[Call]:
        """Recorded requests of ``method`` ("*" for any) whose path matches ``path_pattern``."""
        pattern = re.compile(path_pattern)
        verb = method.upper()
        with self._state.lock:
            return [
                c
                for c in self._state.calls
                if verb in ("*", c.method) and pattern.search(c.path) is not None
            ]

    def reset_calls(self) -> None:
        with self._state.lock:
            self._state.calls.clear()

    def wait_for(
        self, method: str, path_pattern: str, count: int = 1, timeout: float = 5.0
    ) -> list[Call]:
        """Block until ``count`` matching requests were made; raises ``FakeConfluenceTimeout``."""
        deadline = time.monotonic() + timeout
        with self._state.changed:
            while len(found := self.calls_to(method, path_pattern)) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [f"{c.method} {c.path}" for c in self._state.calls]
                    raise FakeConfluenceTimeout(
                        f"timed out after {timeout}s waiting for {count} x {method} "
                        f"{path_pattern}; saw {seen}"
                    )
                self._state.changed.wait(remaining)
            return found
