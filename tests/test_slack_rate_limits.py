"""The fake Slack's rate limits (sandbox.slack.ratelimits), over real HTTP with slack-sdk's own
client: per method, per workspace, per tier; chat.postMessage per channel; the 2025 limits for
apps outside the Marketplace; 429 with Retry-After as Slack answers it. Time is a manual clock,
so nothing sleeps."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sandbox.slack.fake import FakeSlack
from sandbox.slack.ratelimits import ManualClock

CHANNEL = "C0RATE"


@pytest.fixture
def fake() -> FakeSlack:
    with FakeSlack() as slack:
        slack.add_user("U0ALICE", "alice")
        slack.add_channel("inc-rate", channel_id=CHANNEL, members=["U0ALICE"])
        for n in range(40):
            slack.post_as_user(CHANNEL, "U0ALICE", f"message {n}")
        yield slack


def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=fake.bot_token, base_url=fake.api_url, retry_handlers=[])


def refused(call: object) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        call()  # type: ignore[operator]
    return caught.value


def test_a_tier_allows_its_calls_a_minute_then_answers_429_with_retry_after(
    fake: FakeSlack,
) -> None:
    clock = ManualClock()
    fake.enforce_rate_limits(clock=clock)
    web = client(fake)
    for _ in range(20):  # users.list is Tier 2: 20 a minute
        web.users_list()
        clock.advance(1)
    error = refused(web.users_list)
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "40"  # the first call leaves the window then
    assert error.response.data == {"ok": False, "error": "ratelimited"}
    clock.advance(39)
    assert refused(web.users_list).response.headers["Retry-After"] == "1"
    clock.advance(1)
    assert web.users_list()["ok"]  # one minute after the first call
    # Other methods have budgets of their own: users.info (Tier 4) is untouched.
    for _ in range(100):
        web.users_info(user="U0ALICE")
    assert refused(lambda: web.users_info(user="U0ALICE")).response.status_code == 429


def test_limits_are_per_workspace(fake: FakeSlack) -> None:
    limits = fake.enforce_rate_limits(clock=ManualClock())
    assert limits.admit("T0001", "canvases.create", {}) is None
    for _ in range(19):
        limits.admit("T0001", "canvases.create", {})
    assert limits.admit("T0001", "canvases.create", {}) == 60
    assert limits.admit("T0002", "canvases.create", {}) is None


def test_post_message_is_once_a_second_per_channel(fake: FakeSlack) -> None:
    clock = ManualClock()
    fake.enforce_rate_limits(clock=clock)
    fake.add_channel("other", channel_id="C0OTHER", members=["U0ALICE"])
    web = client(fake)
    web.chat_postMessage(channel=CHANNEL, text="one")
    error = refused(lambda: web.chat_postMessage(channel=CHANNEL, text="two"))
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "1"
    web.chat_postMessage(channel="C0OTHER", text="elsewhere")  # another channel: its own limit
    clock.advance(1)
    web.chat_postMessage(channel=CHANNEL, text="two, a second later")
    texts = [m["text"] for m in fake.messages(CHANNEL)]
    assert texts.count("two") == 0 and "two, a second later" in texts  # a 429 does nothing


def test_marketplace_history_is_tier_3_with_the_pages_asked_for(fake: FakeSlack) -> None:
    clock = ManualClock()
    fake.enforce_rate_limits(clock=clock)
    web = client(fake)
    page = web.conversations_history(channel=CHANNEL, limit=200)
    assert len(page["messages"]) == 40
    for _ in range(49):
        web.conversations_history(channel=CHANNEL, limit=1)
    assert refused(lambda: web.conversations_history(channel=CHANNEL)).response.status_code == 429


def test_outside_the_marketplace_history_and_replies_are_once_a_minute_and_15_a_page(
    fake: FakeSlack,
) -> None:
    parent = fake.messages(CHANNEL)[0]["ts"]
    for n in range(20):
        fake.post_as_user(CHANNEL, "U0ALICE", f"reply {n}", thread_ts=parent)
    clock = ManualClock()
    fake.enforce_rate_limits(marketplace=False, clock=clock)
    web = client(fake)
    page = web.conversations_history(channel=CHANNEL, limit=200)
    assert len(page["messages"]) == 15 and page["has_more"]
    cursor = page["response_metadata"]["next_cursor"]
    clock.advance(30)
    error = refused(lambda: web.conversations_history(channel=CHANNEL, cursor=cursor))
    assert error.response.status_code == 429 and error.response.headers["Retry-After"] == "30"
    # replies has a budget of its own, and the same page size (its default too)
    thread = web.conversations_replies(channel=CHANNEL, ts=parent)
    assert len(thread["messages"]) == 15 and thread["has_more"]
    clock.advance(30)
    following = web.conversations_history(channel=CHANNEL, cursor=cursor)
    assert len(following["messages"]) == 15
    assert {m["ts"] for m in following["messages"]}.isdisjoint(m["ts"] for m in page["messages"])


def test_without_the_flag_nothing_is_limited(fake: FakeSlack) -> None:
    web = client(fake)
    for _ in range(30):
        web.users_list()
    assert len(web.conversations_history(channel=CHANNEL, limit=200)["messages"]) == 40
    clock = ManualClock()
    fake.enforce_rate_limits(clock=clock, marketplace=False)
    fake.lift_rate_limits()
    for _ in range(3):
        web.conversations_history(channel=CHANNEL)
