"""Slack's published Web API rate limits, enforced by the fake when asked to
(``FakeSlack.enforce_rate_limits``), so a test or a benchmark sees what a real workspace sees.

What Slack documents (docs.slack.dev/apis/web-api/rate-limits, and each method's page):

* limits apply "per API method per workspace per app": Tier 1 1+ calls a minute, Tier 2 20+,
  Tier 3 50+, Tier 4 100+;
* ``chat.postMessage`` is special: about one message a second per channel;
* since 2025, for apps commercially distributed outside the Marketplace,
  ``conversations.history`` and ``conversations.replies`` allow 1 call a minute, and their
  ``limit`` defaults to and is capped at 15 messages a page;
* a call over the limit answers HTTP 429 with a ``Retry-After`` header (whole seconds) and the
  body ``{"ok": false, "error": "ratelimited"}``; nothing is done.

The tiers are floors ("50+"), and Slack tolerates some bursts above them without saying how
many. The fake enforces the floor exactly, over a sliding window (N calls in any 60 s; one
``chat.postMessage`` per channel in any 1 s): whatever works against it works against Slack.
The clock is injectable, so tests move time instead of sleeping.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}

# The tier of each method the fake serves, from its page in Slack's reference. A method not
# listed is Tier 3, the most common one for reads.
METHOD_TIERS: dict[str, int] = {
    "api.test": 4,  # "Special"
    "auth.test": 4,  # "Special": generous, at least Tier 4
    "canvases.access.set": 3,
    "canvases.create": 2,
    "canvases.delete": 3,
    "canvases.edit": 3,
    "canvases.sections.lookup": 3,
    "chat.delete": 3,
    "chat.getPermalink": 4,  # "Special": generous, at least Tier 4
    "chat.postEphemeral": 4,
    "chat.update": 3,
    "conversations.canvases.create": 2,
    "conversations.history": 3,
    "conversations.info": 3,
    "conversations.join": 3,
    "conversations.list": 2,
    "conversations.members": 4,
    "conversations.open": 3,
    "conversations.replies": 3,
    "files.completeUploadExternal": 4,
    "files.delete": 3,
    "files.getUploadURLExternal": 4,
    "files.info": 4,
    "oauth.v2.access": 4,
    "reactions.add": 3,
    "reactions.get": 3,
    "reactions.remove": 2,
    "users.info": 4,
    "users.list": 2,
    "users.lookupByEmail": 3,
    "views.open": 4,
    "views.publish": 4,
    "views.push": 4,
    "views.update": 4,
}
DEFAULT_TIER = 3

POST_MESSAGE = "chat.postMessage"
POST_MESSAGE_WINDOW = 1.0  # seconds: one message per channel in any second
HISTORY_METHODS = frozenset({"conversations.history", "conversations.replies"})
NON_MARKETPLACE_PER_MINUTE = 1
NON_MARKETPLACE_PAGE = 15  # both the default and the maximum `limit`


@dataclass(frozen=True)
class Rule:
    calls: int
    window: float  # seconds


class RateLimits:
    """The limiter one fake workspace (or several) uses: ``admit`` counts a call or says how
    long to wait; ``shape`` applies the page-size cap. Thread-safe."""

    def __init__(
        self,
        *,
        marketplace: bool = True,
        clock: Callable[[], float] = time.monotonic,
        tiers: Mapping[str, int] | None = None,
        speedup: float = 1.0,
    ) -> None:
        self.marketplace = marketplace
        self._clock = clock
        # A benchmark may run `clock` faster than real time: Retry-After is still in the
        # client's (real) seconds.
        self._speedup = speedup
        self._tiers = {**METHOD_TIERS, **(tiers or {})}
        self._seen: dict[tuple[str, ...], deque[float]] = {}
        self._lock = threading.Lock()
        self.refused = 0  # 429s answered so far

    def rule(self, method: str) -> Rule:
        if method == POST_MESSAGE:
            return Rule(1, POST_MESSAGE_WINDOW)
        if method in HISTORY_METHODS and not self.marketplace:
            return Rule(NON_MARKETPLACE_PER_MINUTE, 60.0)
        return Rule(TIER_PER_MINUTE[self._tiers.get(method, DEFAULT_TIER)], 60.0)

    def admit(self, team_id: str, method: str, params: Mapping[str, Any]) -> int | None:
        """None when the call may go ahead (it is counted); else the Retry-After, in whole
        seconds (at least 1), after which a call will be admitted."""
        rule = self.rule(method)
        key: tuple[str, ...] = (team_id, method)
        if method == POST_MESSAGE:
            key = (*key, str(params.get("channel") or ""))
        with self._lock:
            now = self._clock()
            seen = self._seen.setdefault(key, deque())
            while seen and seen[0] <= now - rule.window:
                seen.popleft()
            if len(seen) < rule.calls:
                seen.append(now)
                return None
            self.refused += 1
            return max(1, math.ceil((seen[0] + rule.window - now) / self._speedup))

    def shape(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """The parameters as Slack reads them: outside the Marketplace, a history or replies
        page is at most 15 messages (and 15 when no limit is given)."""
        if self.marketplace or method not in HISTORY_METHODS:
            return params
        try:
            asked = int(params.get("limit") or 0)
        except (TypeError, ValueError):
            asked = 0
        limit = NON_MARKETPLACE_PAGE if asked <= 0 else min(asked, NON_MARKETPLACE_PAGE)
        return {**params, "limit": limit}


class ManualClock:
    """A clock for tests: it only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
