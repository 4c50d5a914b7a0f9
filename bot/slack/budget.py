"""A budget of Web API calls per workspace and method, so background work (the history
backfill) stays inside Slack's rate limits instead of running into 429s.

Slack limits each app per workspace and method: conversations.history and .replies are Tier 3
(about 50 calls a minute) for Marketplace apps, and, since 2025, 1 call a minute with 15
messages a page for apps distributed outside the Marketplace (SLACK_HISTORY_CALLS_PER_MINUTE,
SLACK_HISTORY_PAGE_SIZE). A token bucket per (workspace, method) allows a burst of one
minute's worth, then the steady rate. The budget is per process: several replicas backfilling
the same workspace at once may still meet a 429, whose Retry-After is honoured.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateBudget:
    def __init__(self, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._rate = per_minute / 60.0  # tokens a second
        self._capacity = max(1.0, per_minute)
        self._clock = clock
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}  # tokens, as of
        self._lock = threading.Lock()

    def take(self, team_id: str, method: str) -> float:
        """0 when a call may be made now (it is counted); else the seconds to wait first."""
        key = (team_id, method)
        with self._lock:
            now = self._clock()
            tokens, since = self._buckets.get(key, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - since) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self._rate
