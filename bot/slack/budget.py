"""A budget of Web API calls per workspace and method, so background work (the history
backfill) stays inside Slack's rate limits instead of running into 429s.

Slack limits each app per workspace and method: conversations.history and .replies are Tier 3
(about 50 calls a minute) for Marketplace apps, and, since 2025, 1 call a minute with 15
messages a page for apps distributed outside the Marketplace (SLACK_HISTORY_CALLS_PER_MINUTE,
SLACK_HISTORY_PAGE_SIZE). Slack publishes these as "N per minute", so the budget allows at most N
calls in any 60 seconds (a sliding window: a burst of N, then each call waits for the oldest to
be a minute old). A token bucket refilling continuously made N + 1 calls within a minute, which
a workspace held to the published floor answers with 429s. The budget is per process: several
replicas backfilling the same workspace at once may still meet a 429, whose Retry-After is
honoured.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

MARGIN = 1.0  # seconds


class RateBudget:
    def __init__(self, per_minute: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._calls = max(1, int(per_minute))
        # 60 s (longer below one call a minute), and a second more: a call counted here reaches
        # Slack a little later, and one that arrived quicker than the call it replaces must
        # still find the window free.
        self._window = 60.0 * self._calls / per_minute + MARGIN
        self._clock = clock
        self._made: dict[tuple[str, str], deque[float]] = {}  # when the last calls were made
        self._lock = threading.Lock()

    def take(self, team_id: str, method: str) -> float:
        """0 when a call may be made now (it is counted); else the seconds to wait first."""
        with self._lock:
            now = self._clock()
            made = self._made.setdefault((team_id, method), deque())
            while made and made[0] <= now - self._window:
                made.popleft()
            if len(made) < self._calls:
                made.append(now)
                return 0.0
            return made[0] + self._window - now
