"""The backfill's budget (bot.slack.budget) against Slack's published limits as the fake
enforces them (sandbox.slack.ratelimits), on one manual clock: a backfill that keeps to its
budget never meets a 429."""

from __future__ import annotations

import pytest

from bot.slack.budget import RateBudget
from sandbox.slack.ratelimits import ManualClock, RateLimits


@pytest.mark.parametrize(
    ("per_minute", "marketplace", "method"),
    [(50, True, "conversations.history"), (1, False, "conversations.replies")],
)
def test_a_budget_of_the_tier_never_meets_a_429(
    per_minute: float, marketplace: bool, method: str
) -> None:
    clock = ManualClock()
    budget = RateBudget(per_minute, clock=clock)
    slack = RateLimits(marketplace=marketplace, clock=clock)
    made = 0
    while made < 4 * per_minute:
        wait = budget.take("T0001", method)
        if wait > 0:
            clock.advance(wait)
            continue
        assert slack.admit("T0001", method, {}) is None, f"429 after {made} calls"
        made += 1
        clock.advance(0.5)  # a page takes a moment to fetch and store
    assert clock.now - 1000.0 >= 3 * 60  # and it kept to the rate: 4 minutes' worth of calls


def test_a_fraction_of_a_call_a_minute_spaces_calls_out() -> None:
    clock = ManualClock()
    budget = RateBudget(0.5, clock=clock)
    assert budget.take("T0001", "conversations.history") == 0
    assert budget.take("T0001", "conversations.history") == pytest.approx(121)
