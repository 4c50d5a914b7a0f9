"""Timeline end to end: /timeline, the shortcut, reactions, list/edit/delete (signed HTTP)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from bot.capture.events import ts_to_datetime
from bot.core.clock import fixed_clock
from sandbox.harness import wait_until as eventually
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import EventKind, EventSource, TimelineEvent
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, QUIET_CHANNEL, Bench, running_bench

# 00:10 UTC on Nov 22 = 16:10 on Nov 21 for Bob in Los Angeles
NOW = datetime(2026, 11, 22, 0, 10, tzinfo=UTC)


@pytest.fixture
def fixed_bench(slack: FakeSlack, db: Database) -> Iterator[Bench]:
    with running_bench(slack, db, clock=fixed_clock(NOW)) as bench:
        yield bench


def events(bench: Bench) -> list[TimelineEvent]:
    with bench.db.read_session() as session:
        return list(
            session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.kind != EventKind.STATUS)
                .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
            )
        )


def declare(bench: Bench, channel: str = INCIDENT_CHANNEL) -> None:
    bench.command("/incident", "declare Checkout is down", channel=channel)
    bench.slack.wait_for("chat.postMessage")
    bench.slack.reset_calls()


def reaction_event(
    kind: str, user: str, channel: str, ts: str, emoji: str = "pushpin"
) -> dict[str, Any]:
    return {
        "type": kind,
        "user": user,
        "reaction": emoji,
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": ALICE,
        "event_ts": f"{time.time():.6f}",
    }


def test_timeline_now_with_kind_is_stored_and_echoed(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    bench.command("/timeline", "detection Pager fired for checkout 5xx", user=BOB)
    [echo] = bench.slack.wait_for("chat.postMessage")
    [event] = events(bench)
    assert (event.kind, event.text, event.author_id) == (
        EventKind.DETECTION,
        "Pager fired for checkout 5xx",
        BOB,
    )
    assert event.occurred_at == NOW and event.source is EventSource.COMMAND
    assert echo.params["channel"] == INCIDENT_CHANNEL
    assert "00:10 UTC" in echo.params["text"] and f"<@{BOB}>" in echo.params["text"]
    assert "detection" in echo.params["text"]


def test_timeline_at_reads_the_users_time_zone(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    # Bob is in Los Angeles: 15:30 there is 23:30 UTC on Nov 21
    bench.command("/timeline", "at 15:30 decision Roll back deploy 4812", user=BOB)
    bench.slack.wait_for("chat.postMessage")
    [event] = events(bench)
    assert event.occurred_at == datetime(2026, 11, 21, 23, 30, tzinfo=UTC)
    assert event.kind is EventKind.DECISION and event.text == "Roll back deploy 4812"
    # Alice (Paris) gives a UTC time; just after midnight "23:50" means yesterday
    bench.command("/timeline", "at 23:50 UTC deploy started", user=ALICE)
    bench.slack.wait_for("chat.postMessage", 2)
    assert [e.occurred_at for e in events(bench)] == [
        datetime(2026, 11, 21, 23, 30, tzinfo=UTC),
        datetime(2026, 11, 21, 23, 50, tzinfo=UTC),
    ]
    # the time zone came from users.info, once per user (cached)
    bench.command("/timeline", "at 15:40 another", user=BOB)
    bench.slack.wait_for("chat.postMessage", 3)
    assert [c.params["user"] for c in bench.slack.calls_to("users.info")] == [BOB, ALICE]


def test_future_or_garbage_times_are_refused_and_nothing_is_stored(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    future = bench.reply_to("/timeline", "at today 09:00 UTC will happen", user=CAROL)
    garbage = bench.reply_to("/timeline", "at half-past-nine coffee", user=CAROL)
    assert "is in the future" in future["text"] and future["response_type"] == "ephemeral"
    assert "couldn't read the time `half-past-nine`" in garbage["text"]
    assert events(bench) == []
    assert bench.slack.calls_to("chat.postMessage") == []


def test_user_text_is_echoed_without_pinging(bench: Bench) -> None:
    declare(bench)
    bench.command("/timeline", "<!channel> <!here> everyone look &lt;here&gt;")
    [echo] = bench.slack.wait_for("chat.postMessage")
    posted = echo.params["text"] + json.dumps(echo.params["blocks"])
    assert "<!channel>" not in posted and "<!here>" not in posted
    assert "everyone look" in posted


def test_timeline_outside_an_incident_channel_explains(bench: Bench) -> None:
    reply = bench.reply_to("/timeline", "something happened", channel=QUIET_CHANNEL)
    assert "no incident" in reply["text"] and "/incident declare" in reply["text"]
    assert bench.reply_to("/timeline", "help")["text"].startswith("*/timeline* commands")


def test_shortcut_logs_a_thread_reply_at_its_own_time_once(bench: Bench) -> None:
    declare(bench)
    parent = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "checkout error rate is 40%")
    reply = bench.slack.post_as_user(
        INCIDENT_CHANNEL, CAROL, "rolling back now", thread_ts=parent["ts"]
    )
    url = bench.slack.new_response_url()
    bench.requests.message_shortcut(
        "add_to_timeline",
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        message=reply,
        response_url=url,
    )
    confirmation = bench.ephemeral_reply(url)
    assert "Added to the INC-1 timeline" in confirmation["text"]
    [event] = events(bench)
    assert event.occurred_at == ts_to_datetime(reply["ts"])
    assert (event.author_id, event.added_by, event.source) == (CAROL, ALICE, EventSource.SHORTCUT)
    assert event.text == "rolling back now"
    assert event.permalink and f"thread_ts={parent['ts']}" in event.permalink
    assert [r["name"] for r in bench.slack.reactions(INCIDENT_CHANNEL, reply["ts"])] == ["pushpin"]

    again = bench.slack.new_response_url()
    bench.requests.message_shortcut(
        "add_to_timeline",
        user_id=BOB,
        channel_id=INCIDENT_CHANNEL,
        message=reply,
        response_url=again,
    )
    assert "already on the INC-1 timeline" in bench.ephemeral_reply(again)["text"]
    assert len(events(bench)) == 1


def test_shortcut_on_a_bot_message_and_outside_an_incident(bench: Bench) -> None:
    declare(bench)
    bot_message = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0ALERTS",
        "username": "PagerDuty",
        "text": "Alert: checkout p99 > 2s",
        "ts": bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "placeholder")["ts"],
    }
    url = bench.slack.new_response_url()
    bench.requests.message_shortcut(
        "add_to_timeline",
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        message=bot_message,
        response_url=url,
    )
    bench.ephemeral_reply(url)
    [event] = events(bench)
    assert (event.author_id, event.text) == ("B0ALERTS", "Alert: checkout p99 > 2s")

    elsewhere = bench.slack.post_as_user(QUIET_CHANNEL, BOB, "unrelated")
    url = bench.slack.new_response_url()
    bench.requests.message_shortcut(
        "add_to_timeline",
        user_id=ALICE,
        channel_id=QUIET_CHANNEL,
        message=elsewhere,
        response_url=url,
    )
    assert "no incident" in bench.ephemeral_reply(url)["text"]
    assert len(events(bench)) == 1


def test_pushpin_reaction_on_a_thread_reply_adds_it_and_removal_takes_it_off(bench: Bench) -> None:
    declare(bench)
    parent = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "db primary is at 100% cpu")
    reply = bench.slack.post_as_user(
        INCIDENT_CHANNEL, CAROL, "failing over to replica", thread_ts=parent["ts"]
    )
    bench.slack.add_reaction(INCIDENT_CHANNEL, reply["ts"], "pushpin", ALICE)
    added = reaction_event("reaction_added", ALICE, INCIDENT_CHANNEL, reply["ts"])
    for retry in (None, 1, 2):  # Slack retries with the same event_id
        response = bench.requests.event(added, event_id="Ev0REACT1", retry_num=retry)
        assert response.status == 200
    [event] = eventually(lambda: events(bench))
    assert (event.text, event.author_id, event.added_by) == (
        "failing over to replica",
        CAROL,
        ALICE,
    )
    assert event.source is EventSource.REACTION
    assert event.occurred_at == ts_to_datetime(reply["ts"])
    time.sleep(0.2)  # give any duplicate processing the chance to show up
    assert len(events(bench)) == 1
    # the reply was found with conversations.replies (it is not in history)
    assert bench.slack.calls_to("conversations.replies")

    bench.slack.remove_reaction(INCIDENT_CHANNEL, reply["ts"], "pushpin", ALICE)
    bench.requests.event(reaction_event("reaction_removed", ALICE, INCIDENT_CHANNEL, reply["ts"]))
    eventually(lambda: events(bench) == [])


def test_top_level_message_by_reaction_uses_history(bench: Bench) -> None:
    # older than the declaration's backfill window, so only Slack's history has it
    two_hours_ago = f"{time.time() - 7200:.6f}"
    message = bench.slack.post_as_user(
        INCIDENT_CHANNEL, BOB, "error rate back to normal", ts=two_hours_ago
    )
    declare(bench)
    bench.requests.event(reaction_event("reaction_added", CAROL, INCIDENT_CHANNEL, message["ts"]))
    [event] = eventually(lambda: events(bench))
    assert event.text == "error rate back to normal"
    [history] = [
        c for c in bench.slack.calls_to("conversations.history") if c.params.get("limit") == "1"
    ]  # (a declare also backfills the lead-up, a page at a time)
    assert history.params["latest"] == message["ts"]
    assert str(history.params["inclusive"]).lower() in ("1", "true")
    assert int(history.params["limit"]) == 1


def test_other_emoji_and_other_channels_are_ignored(bench: Bench) -> None:
    declare(bench)
    message = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "lol")
    assert (
        bench.requests.event(
            reaction_event("reaction_added", CAROL, INCIDENT_CHANNEL, message["ts"], emoji="joy")
        ).status
        == 200
    )
    elsewhere = bench.slack.post_as_user(QUIET_CHANNEL, BOB, "hi")
    bench.requests.event(reaction_event("reaction_added", CAROL, QUIET_CHANNEL, elsewhere["ts"]))
    time.sleep(0.3)
    assert events(bench) == []


def test_list_then_delete_and_edit(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    bench.command("/timeline", "at 23:55 UTC first thing", user=CAROL)
    bench.command("/timeline", "mitigation second thing", user=BOB)
    bench.slack.wait_for("chat.postMessage", 2)
    listing = bench.reply_to("/timeline", "list")
    lines = [b["text"]["text"] for b in listing["blocks"] if b.get("accessory")]
    assert listing["response_type"] == "ephemeral"
    # chronological: 23:55 (logged later, happened before) precedes the 00:10 declaration
    assert "first thing" in lines[0] and "Nov 21 23:55 UTC" in lines[0]
    assert "Incident declared" in lines[1] and "status" in lines[1]  # automatic, with its kind
    assert "second thing" in lines[2] and "mitigation" in lines[2]
    first, second = events(bench)

    # delete through the overflow menu: the private list is replaced without the event
    url = bench.slack.new_response_url()
    bench.requests.block_action(
        "timeline_event_menu",
        f"delete:{first.id}",
        action_type="overflow",
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        message={"ts": "1.0", "text": ""},
        response_url=url,
    )
    refreshed = bench.ephemeral_reply(url)
    assert refreshed["replace_original"] is True
    assert "first thing" not in json.dumps(refreshed["blocks"][:-1])
    assert "Deleted" in refreshed["blocks"][-1]["elements"][0]["text"]
    assert [e.id for e in events(bench)] == [second.id]

    # edit: the menu opens a modal, an invalid time is refused inline, a valid one is saved
    bench.requests.block_action(
        "timeline_event_menu",
        f"edit:{second.id}",
        action_type="overflow",
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        message={"ts": "1.0", "text": ""},
        trigger_id=bench.slack.new_trigger_id(),
        response_url=bench.slack.new_response_url(),
    )
    [opened] = bench.slack.wait_for("views.open")
    view = opened.params["view"]
    assert view["callback_id"] == "timeline_event_edit"

    def values(when: str, text: str, kind: str = "decision") -> dict[str, Any]:
        return {
            "time": {"value": {"type": "plain_text_input", "value": when}},
            "kind": {"value": {"type": "static_select", "selected_option": {"value": kind}}},
            "text": {"value": {"type": "plain_text_input", "value": text}},
        }

    refused = bench.requests.view_submission(view, values("tomorrow-ish", "x"), user_id=ALICE)
    assert refused.json()["response_action"] == "errors"
    assert "time" in refused.json()["errors"]
    assert events(bench)[0].text == "second thing"

    saved = bench.requests.view_submission(
        view, values("2026-11-21 23:58", "rolled back <deploy> & waited"), user_id=ALICE
    )
    assert saved.status == 200 and not saved.body
    [event] = events(bench)
    assert event.text == "rolled back &lt;deploy&gt; &amp; waited"
    assert event.kind is EventKind.DECISION
    assert event.occurred_at == datetime(2026, 11, 21, 23, 58, tzinfo=UTC)
    assert (event.edited_by, event.edited_at) == (ALICE, NOW)
