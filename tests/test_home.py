"""App Home: published on app_home_opened, with working Done / Snooze buttons, within limits."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.home.blocks import PostmortemSummary, home_view
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    FollowUp,
    FollowUpField,
    FollowUpStatus,
    Incident,
    IncidentStatus,
    Priority,
    Severity,
)
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, Bench, running_bench
from tests.test_followups import NOW, Clock, changes, current, declare, followup, thread_notes


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def fixed_bench(slack: FakeSlack, db: Database, clock: Clock) -> Iterator[Bench]:
    with running_bench(slack, db, clock=clock) as bench:
        yield bench


def dump(blocks: Any) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def open_home(bench: Bench, user: str, tab: str = "home") -> None:
    event = {
        "type": "app_home_opened",
        "user": user,
        "channel": "D0HOME",
        "tab": tab,
        "event_ts": f"{time.time():.6f}",
    }
    assert bench.requests.event(event).status == 200


def published(bench: Bench, count: int) -> dict[str, Any]:
    """The view of the `count`-th views.publish call."""
    calls = bench.slack.wait_for("views.publish", count)
    view = calls[count - 1].params["view"]
    assert isinstance(view, dict)
    return view


def keys(view: dict[str, Any]) -> list[str]:
    lines = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    return [line.split("*")[1] for line in lines if line.startswith("*INC-")]


def buttons(view: dict[str, Any], followup_id: int) -> list[dict[str, Any]]:
    block = next(b for b in view["blocks"] if b.get("block_id") == f"home:{followup_id}")
    elements = block["elements"]
    assert isinstance(elements, list)
    return elements


def test_home_lists_your_open_followups_overdue_first(fixed_bench: Bench, clock: Clock) -> None:
    bench = fixed_bench
    declare(bench)
    later = followup(bench, "Later <@U0CAROL|carol> due 2026-12-20")
    overdue = followup(bench, "Overdue <@U0CAROL|carol> due 2026-11-23 p1")
    soon = followup(bench, "Soon <@U0CAROL|carol> due 2026-11-25")
    followup(bench, "Bob's own <@U0BOB|bob> due 2026-11-22")
    finished = followup(bench, "Finished <@U0CAROL|carol> due 2026-11-22")
    bench.reply_to("/followup", f"done {finished.key}", user=CAROL)

    clock.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    open_home(bench, CAROL)
    view = published(bench, 1)
    assert bench.slack.calls_to("views.publish")[0].params["user_id"] == CAROL
    assert view["type"] == "home" and len(view["blocks"]) <= 100
    assert view["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Your follow-ups", "emoji": True},
    }
    assert keys(view) == [overdue.key, soon.key, later.key]
    text = dump(view["blocks"])
    assert ":warning:" in text and "(1 day overdue)" in text
    assert "3 open, 1 overdue" in text
    assert "Finished" not in text and "Bob's own" not in text
    labels = [b["text"]["text"] for b in buttons(view, overdue.id)]
    assert labels == ["Done", "Snooze 1 day", "Open in channel"]
    assert buttons(view, overdue.id)[2]["url"] == overdue.announcement_permalink
    assert "Your postmortems" in text and "No postmortems assigned to you." in text
    assert bench.slack.home_view(CAROL) is not None


def test_the_messages_tab_publishes_nothing(fixed_bench: Bench) -> None:
    bench = fixed_bench
    open_home(bench, CAROL, tab="messages")
    open_home(bench, BOB)
    published(bench, 1)
    time.sleep(0.2)
    assert [c.params["user_id"] for c in bench.slack.calls_to("views.publish")] == [BOB]


def test_done_and_snooze_from_home(fixed_bench: Bench, clock: Clock) -> None:
    bench = fixed_bench
    declare(bench)
    first = followup(bench, "First <@U0CAROL|carol> due 2026-11-23")
    second = followup(bench, "Second <@U0CAROL|carol> due 2026-11-30")
    open_home(bench, CAROL)
    view = published(bench, 1)
    bench.slack.reset_calls()

    clock.now = NOW + timedelta(hours=2)
    bench.requests.block_action(
        "followup_home_snooze", str(first.id), user_id=CAROL, view=view, block_id=f"home:{first.id}"
    )
    view = published(bench, 1)
    assert current(bench, first).snoozed_until == NOW + timedelta(hours=2, days=1)
    assert keys(view) == [second.key, first.key]  # snoozed ones go last
    assert ":zzz: snoozed until Nov 22 04:00 UTC" in dump(view["blocks"])
    assert "INC-1-F1 is snoozed for a day." in dump(view["blocks"][0])
    assert changes(bench, first.id)[-1].field is FollowUpField.SNOOZED_UNTIL
    assert bench.slack.calls_to("chat.update") == []  # a snooze is personal: no announcement

    bench.requests.block_action(
        "followup_home_done", str(second.id), user_id=CAROL, view=view, block_id=f"home:{second.id}"
    )
    view = published(bench, 2)
    assert current(bench, second).status is FollowUpStatus.DONE
    assert keys(view) == [first.key]
    [update] = bench.slack.wait_for("chat.update")
    assert update.params["ts"] == second.announcement_ts
    assert thread_notes(bench, second, 1) == [
        "<@U0CAROL> changed the status of *INC-1-F2*: open → *done*"
    ]
    last = changes(bench, second.id)[-1]
    assert (last.field, last.changed_by, last.changed_at) == (
        FollowUpField.STATUS,
        CAROL,
        NOW + timedelta(hours=2),
    )

    # a stale Home (the follow-up is already done): the refreshed Home says so
    bench.requests.block_action(
        "followup_home_done", str(second.id), user_id=CAROL, view=view, block_id=f"home:{second.id}"
    )
    view = published(bench, 3)
    assert "INC-1-F2 is already done." in dump(view["blocks"][0])
    bench.requests.block_action(
        "followup_home_done", "junk", user_id=CAROL, view=view, block_id="home:junk"
    )
    assert "out of date" in dump(published(bench, 4)["blocks"][0])

    # the link button only needs an answer
    reply = bench.requests.block_action(
        "followup_home_open", str(first.id), user_id=CAROL, view=view, block_id=f"home:{first.id}"
    )
    assert reply.status == 200


def _followups(count: int) -> list[FollowUp]:
    incident = Incident(
        id=1,
        team_id="T0001",
        number=7,
        title="t",
        severity=Severity.SEV2,
        status=IncidentStatus.RESOLVED,
        channel_id=INCIDENT_CHANNEL,
        channel_private=False,
        commander_id=ALICE,
        declared_at=NOW,
    )
    return [
        FollowUp(
            id=index + 1,
            team_id="T0001",
            incident_id=1,
            incident=incident,
            number=index + 1,
            title=f"Task {index} <!channel>",
            owner_id=CAROL,
            due_date=date(2026, 11, 1) + timedelta(days=index),
            priority=Priority.P3,
            status=FollowUpStatus.OPEN,
            created_by=ALICE,
            created_at=NOW,
            updated_at=NOW,
            announcement_permalink=f"https://acme.slack.com/archives/C0INCIDENT/p{index}",
        )
        for index in range(count)
    ]


def test_home_stays_within_100_blocks_and_says_how_many_more() -> None:
    postmortems = [
        PostmortemSummary(f"INC-{n}", f"Outage {n} <!here>", "draft", url=f"https://x/{n}")
        for n in range(30)
    ]
    view = home_view(_followups(80), postmortems, NOW, tz_name="Europe/Paris", total=95)
    blocks = view["blocks"]
    assert len(blocks) <= 100
    shown = len([b for b in blocks if b.get("block_id", "").startswith("home:")])
    text = dump(blocks)
    assert shown >= 30
    assert f"…and {95 - shown} more. `/followup list mine`" in text
    assert "…and 15 more." in text  # postmortems beyond the first 15
    assert "<!channel>" not in text and "<!here>" not in text
    assert "<https://x/3|open>" in text


def test_an_empty_home_says_so() -> None:
    text = dump(home_view([], [], NOW)["blocks"])
    assert "Nothing assigned to you." in text and "No postmortems assigned to you." in text
    assert "and 0 more" not in text


def test_home_lists_postmortems_it_is_given() -> None:
    view = home_view(_followups(2), [PostmortemSummary("INC-3", "DB outage", "in review")], NOW)
    text = dump(view["blocks"])
    assert "*INC-3* DB outage · in review" in text
    assert "(20 days overdue)" in text  # Nov 1 vs Nov 21 in UTC
