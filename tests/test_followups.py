"""Follow-ups end to end over signed HTTP: /followup, the shortcut and modal, the buttons."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.core.settings import load_settings
from bot.followups.modal import title_from_message
from bot.followups.service import incident_followups
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    EventKind,
    EventSource,
    FollowUp,
    FollowUpChange,
    FollowUpField,
    FollowUpStatus,
    Priority,
    TimelineEvent,
)
from tests.bench import (
    ALICE,
    BOB,
    CAROL,
    INCIDENT_CHANNEL,
    PRIVATE_CHANNEL,
    QUIET_CHANNEL,
    Bench,
    running_bench,
)

# 02:00 UTC on Saturday Nov 21: Friday 18:00 for Bob in Los Angeles, Saturday 03:00 for Alice
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class Clock:
    """A fixed clock that a test can move forward (to make follow-ups overdue)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def fixed_bench(slack: FakeSlack, db: Database, clock: Clock) -> Iterator[Bench]:
    with running_bench(slack, db, clock=clock) as bench:
        yield bench


def followups(bench: Bench) -> list[FollowUp]:
    with bench.db.read_session() as session:
        return list(session.scalars(select(FollowUp).order_by(FollowUp.id)))


def changes(bench: Bench, followup_id: int) -> list[FollowUpChange]:
    with bench.db.read_session() as session:
        return list(
            session.scalars(
                select(FollowUpChange)
                .where(FollowUpChange.follow_up_id == followup_id)
                .order_by(FollowUpChange.id)
            )
        )


def declare(bench: Bench, channel: str = INCIDENT_CHANNEL, user: str = ALICE) -> None:
    bench.command("/incident", "declare Checkout is down", channel=channel, user=user)
    bench.slack.wait_for("chat.postMessage")
    bench.slack.reset_calls()


def followup(bench: Bench, text: str, *, user: str = BOB) -> FollowUp:
    """Run `/followup <text>` and wait for the new follow-up's announcement."""
    before = len(followups(bench))
    reply, _ = bench.command("/followup", text, user=user)
    assert reply.status == 200 and not reply.body, reply.body
    return eventually_announced(bench, before + 1)


def eventually_announced(bench: Bench, count: int) -> FollowUp:
    """The `count`-th follow-up, once it and those before it are announced."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        done = [f for f in followups(bench) if f.announcement_ts]
        if len(done) >= count:
            return done[count - 1]
        time.sleep(0.02)
    raise AssertionError("the follow-up was not announced")


def posted(call: Any) -> str:
    return str(call.params.get("text", "")) + json.dumps(
        call.params.get("blocks", []), ensure_ascii=False
    )


def actions_block(message: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in message["blocks"] if b["type"] == "actions")


def announcement_of(bench: Bench, item: FollowUp) -> dict[str, Any]:
    return next(
        m for m in bench.slack.messages(INCIDENT_CHANNEL) if m["ts"] == item.announcement_ts
    )


def test_command_creates_announces_and_logs_on_the_timeline(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    item = followup(bench, "Add alerting on queue depth <@U0CAROL|carol> due friday p2")
    assert (item.number, item.title, item.owner_id) == (1, "Add alerting on queue depth", CAROL)
    # Bob is in Los Angeles, where it is still Friday Nov 20: "friday" is the next one
    assert (item.due_date, item.priority, item.status) == (
        date(2026, 11, 27),
        Priority.P2,
        FollowUpStatus.OPEN,
    )
    assert (item.created_by, item.created_at, item.announcement_channel_id) == (
        BOB,
        NOW,
        INCIDENT_CHANNEL,
    )
    assert item.announcement_permalink and "/archives/C0INCIDENT/p" in item.announcement_permalink
    [announcement] = bench.slack.calls_to("chat.postMessage")
    text = posted(announcement)
    assert announcement.params["channel"] == INCIDENT_CHANNEL
    for expected in ("INC-1-F1", "Add alerting on queue depth", "<@U0CAROL>", "Fri Nov 27, 2026"):
        assert expected in text
    assert "P2" in text and "open" in text
    controls = actions_block(announcement.params)["elements"]
    assert [e.get("text", {}).get("text") for e in controls if e["type"] == "button"] == [
        "Start",
        "Done",
        "Won't do",
    ]
    assert {e["type"] for e in controls} == {"button", "users_select", "datepicker"}
    with bench.db.session() as session:
        [event] = session.scalars(
            select(TimelineEvent).where(TimelineEvent.text.like("Follow-up%"))
        ).all()
    assert event.text == "Follow-up INC-1-F1 created: Add alerting on queue depth"
    assert (event.kind, event.source, event.author_id) == (
        EventKind.FOLLOWUP,
        EventSource.AUTO,
        BOB,
    )
    [created] = changes(bench, item.id)
    assert (created.field, created.changed_by, created.changed_at) == (
        FollowUpField.CREATED,
        BOB,
        NOW,
    )


def test_defaults_unassigned_due_in_14_days_of_the_users_zone_p3(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)  # Alice is the commander
    first = followup(bench, "Write the failover runbook", user=BOB)
    second = followup(bench, "Load-test the new pool", user=ALICE)
    assert (first.number, second.number) == (1, 2)
    assert first.owner_id is None and first.priority is Priority.P3
    assert first.due_date == date(2026, 12, 4)  # Friday Nov 20 in LA + 14 days
    assert second.due_date == date(2026, 12, 5)  # Saturday Nov 21 in Paris + 14 days
    announcement = bench.slack.calls_to("chat.postMessage")[0]
    assert "unassigned — <@U0ALICE> to assign" in posted(announcement)


def test_default_due_days_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOLLOWUP_DEFAULT_DUE_DAYS", "7")
    assert load_settings(_env_file=None).followup_default_due_days == 7
    monkeypatch.delenv("FOLLOWUP_DEFAULT_DUE_DAYS")
    assert load_settings(_env_file=None).followup_default_due_days == 14


def test_bad_input_gets_a_private_explanation_and_stores_nothing(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    replies = {
        text: bench.reply_to("/followup", text, user=BOB)
        for text in (
            "Fix it due yesterday",
            "Fix it due tomorow",
            "Fix it due 03/04",
            "list everything",
            "<@U0CAROL|carol> p1",
            "done INC-1-F7",
        )
    }
    assert all(r["response_type"] == "ephemeral" for r in replies.values())
    assert "which is in the past" in replies["Fix it due yesterday"]["text"]
    assert "quote the title" not in replies["Fix it due yesterday"]["text"]
    assert "Couldn't read the due date `tomorow`" in replies["Fix it due tomorow"]["text"]
    assert "quote the title" in replies["Fix it due tomorow"]["text"]
    assert "could be March 4 or April 3" in replies["Fix it due 03/04"]["text"]
    assert "`list mine`" in replies["list everything"]["text"]
    assert "Say what needs doing" in replies["<@U0CAROL|carol> p1"]["text"]
    assert "INC-1 has no follow-up F7" in replies["done INC-1-F7"]["text"]
    usage = bench.reply_to("/followup", "help")
    assert usage["text"].startswith("*/followup* commands")
    elsewhere = bench.reply_to("/followup", "Fix it", channel=QUIET_CHANNEL)
    assert "no incident" in elsewhere["text"]
    assert followups(bench) == []
    assert bench.slack.calls_to("chat.postMessage") == []


def test_broadcasts_in_a_title_do_not_ping(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    item = followup(bench, "<!channel> <!here|here> check the &lt;dashboards&gt;")
    assert item.title == "<!channel> <!here|here> check the &lt;dashboards&gt;"  # stored as sent
    [announcement] = bench.slack.calls_to("chat.postMessage")
    text = posted(announcement)
    assert "<!channel>" not in text and "<!here" not in text
    assert "check the &lt;dashboards&gt;" in text


def test_a_retried_command_creates_one_followup(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    trigger = bench.slack.new_trigger_id()
    for _ in range(2):  # the same request delivered twice
        reply = bench.requests.slash_command(
            "/followup",
            "Add a circuit breaker",
            user_id=BOB,
            channel_id=INCIDENT_CHANNEL,
            response_url=bench.slack.new_response_url(),
            trigger_id=trigger,
        )
        assert reply.status == 200
    eventually_announced(bench, 1)
    time.sleep(0.3)  # give a duplicate the chance to show up
    assert len(followups(bench)) == 1
    assert len(bench.slack.calls_to("chat.postMessage")) == 1


def test_followups_after_resolution_and_the_incidents_list(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    bench.command("/incident", "resolved")
    bench.slack.wait_for("chat.postMessage")
    first = followup(bench, "Postmortem action: add an SLO")
    assert first.key == "INC-1-F1"
    with bench.db.session() as session:
        [listed] = incident_followups(session, first.incident).items
        assert listed.key == "INC-1-F1"


def test_shortcut_modal_validation_announcement_and_retry(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    parent = bench.slack.post_as_user(INCIDENT_CHANNEL, BOB, "db failover took 9 minutes")
    long_text = (
        "We should really make the failover automatic because the manual runbook took nine "
        "minutes and three people to run, and two of the steps were out of date again\n"
        "second line with more context"
    )
    reply = bench.slack.post_as_user(INCIDENT_CHANNEL, CAROL, long_text, thread_ts=parent["ts"])
    response = bench.requests.message_shortcut(
        "create_followup",
        user_id=ALICE,
        channel_id=INCIDENT_CHANNEL,
        message=reply,
        trigger_id=bench.slack.new_trigger_id(),
        response_url=bench.slack.new_response_url(),
    )
    assert response.status == 200
    [opened] = bench.slack.wait_for("views.open")
    bench.slack.wait_for("views.update")
    view = bench.slack.views()[opened.response["view"]["id"]]
    inputs = {b["block_id"]: b["element"] for b in view["blocks"]}
    title = inputs["title"]["initial_value"]
    assert title.startswith("We should really make the failover automatic") and title.endswith("…")
    assert len(title) <= 150 and "second line" not in title
    description = inputs["description"]["initial_value"]
    assert f"thread_ts={parent['ts']}" in description and "second line" in description
    assert inputs["due"]["initial_date"] == "2026-12-05"  # Saturday in Paris + 14 days
    assert inputs["priority"]["initial_option"]["value"] == "p3"

    def values(title: str, due: str | None, owner: str | None = CAROL) -> dict[str, Any]:
        return {
            "title": {"value": {"type": "plain_text_input", "value": title}},
            "description": {"value": {"type": "plain_text_input", "value": description}},
            "owner": {"value": {"type": "users_select", "selected_user": owner}},
            "due": {"value": {"type": "datepicker", "selected_date": due}},
            "priority": {"value": {"type": "static_select", "selected_option": {"value": "p1"}}},
        }

    refused = bench.requests.view_submission(view, values("  ", "2026-11-01"), user_id=ALICE)
    assert refused.json()["response_action"] == "errors"
    assert set(refused.json()["errors"]) == {"title", "due"}
    assert "in the past" in refused.json()["errors"]["due"]
    far = bench.requests.view_submission(view, values("Automate", "2031-01-01"), user_id=ALICE)
    assert "more than 2 years away" in far.json()["errors"]["due"]
    assert followups(bench) == []

    good = values("Automate the DB failover <!channel>", "2026-12-10")
    saved = bench.requests.view_submission(view, good, user_id=ALICE)
    assert saved.status == 200 and not saved.body
    item = eventually_announced(bench, 1)
    assert (item.title, item.owner_id, item.due_date, item.priority) == (
        "Automate the DB failover &lt;!channel&gt;",
        CAROL,
        date(2026, 12, 10),
        Priority.P1,
    )
    assert (item.source_channel_id, item.source_ts, item.created_by) == (
        INCIDENT_CHANNEL,
        reply["ts"],
        ALICE,
    )
    assert item.permalink and f"thread_ts={parent['ts']}" in item.permalink
    assert "second line" in item.description
    [announcement] = [
        c for c in bench.slack.calls_to("chat.postMessage") if "INC-1-F1" in posted(c)
    ]
    assert "<!channel>" not in posted(announcement) and "a message" in posted(announcement)

    again = bench.requests.view_submission(view, good, user_id=ALICE)  # Slack retries
    assert again.status == 200 and not again.body
    time.sleep(0.3)
    assert len(followups(bench)) == 1
    assert len([c for c in bench.slack.calls_to("chat.postMessage") if "INC-1-F" in posted(c)]) == 1


def test_shortcut_outside_an_incident_opens_nothing(fixed_bench: Bench) -> None:
    bench = fixed_bench
    message = bench.slack.post_as_user(QUIET_CHANNEL, BOB, "unrelated")
    url = bench.slack.new_response_url()
    bench.requests.message_shortcut(
        "create_followup",
        user_id=ALICE,
        channel_id=QUIET_CHANNEL,
        message=message,
        trigger_id=bench.slack.new_trigger_id(),
        response_url=url,
    )
    assert "no incident" in bench.ephemeral_reply(url)["text"]
    assert bench.slack.calls_to("views.open") == []


def click(bench: Bench, item: FollowUp, action_id: str, value: str, **kwargs: Any) -> None:
    message = announcement_of(bench, item)
    reply = bench.requests.block_action(
        action_id,
        value,
        user_id=kwargs.pop("user_id", CAROL),
        channel_id=INCIDENT_CHANNEL,
        message=message,
        block_id=actions_block(message)["block_id"],
        **kwargs,
    )
    assert reply.status == 200


def eventually_ephemerals(bench: Bench, user: str, count: int) -> list[str]:
    """The texts of the ephemeral messages `user` got in the incident channel, once there
    are `count` of them."""
    deadline = time.monotonic() + 5
    while True:
        texts = [e["text"] for e in bench.slack.ephemerals(INCIDENT_CHANNEL, user)]
        if len(texts) >= count or time.monotonic() > deadline:
            return texts
        time.sleep(0.02)


def thread_notes(bench: Bench, item: FollowUp, count: int) -> list[str]:
    """The texts posted in the announcement's thread, once there are `count` of them."""
    deadline = time.monotonic() + 5
    while True:
        notes = bench.slack.replies(INCIDENT_CHANNEL, item.announcement_ts or "")[1:]
        if len(notes) >= count or time.monotonic() > deadline:
            return [note["text"] for note in notes]
        time.sleep(0.02)


def current(bench: Bench, item: FollowUp) -> FollowUp:
    [fresh] = [f for f in followups(bench) if f.id == item.id]
    return fresh


def test_status_buttons_update_the_announcement_and_its_thread(
    fixed_bench: Bench, clock: Clock
) -> None:
    bench = fixed_bench
    declare(bench)
    item = followup(bench, "Add a canary stage <@U0CAROL|carol>")
    clock.now = NOW + timedelta(hours=1)
    click(bench, item, "followup_status:in_progress", f"{item.id}:in_progress")
    [update] = bench.slack.wait_for("chat.update")
    assert update.params["ts"] == item.announcement_ts and "in progress" in posted(update)
    buttons = [e["text"]["text"] for e in actions_block(update.params)["elements"] if "text" in e]
    assert buttons == ["Done", "Won't do"]
    assert current(bench, item).status is FollowUpStatus.IN_PROGRESS
    assert thread_notes(bench, item, 1) == [
        "<@U0CAROL> changed the status of *INC-1-F1*: open → *in progress*"
    ]

    click(bench, item, "followup_status:done", f"{item.id}:done")
    bench.slack.wait_for("chat.update", 2)
    assert len(thread_notes(bench, item, 2)) == 2
    assert current(bench, item).status is FollowUpStatus.DONE
    final = bench.slack.calls_to("chat.update")[-1]
    assert [e["text"]["text"] for e in actions_block(final.params)["elements"] if "text" in e] == [
        "Reopen"
    ]
    history = [(c.field, c.old_value, c.new_value, c.changed_by) for c in changes(bench, item.id)]
    assert history[1:] == [
        (FollowUpField.STATUS, "open", "in_progress", CAROL),
        (FollowUpField.STATUS, "in_progress", "done", CAROL),
    ]
    assert changes(bench, item.id)[1].changed_at == NOW + timedelta(hours=1)

    # a stale button (clicked on an old copy) explains instead of failing
    message = announcement_of(bench, item)
    bench.requests.block_action(
        "followup_status:done",
        f"{item.id}:done",
        user_id=CAROL,
        channel_id=INCIDENT_CHANNEL,
        message=message,
        block_id="followup:0:0",
    )
    # each click was confirmed to Carol privately (these clicks have no response_url, so as
    # ephemeral messages), and the stale one explained
    ephemerals = eventually_ephemerals(bench, CAROL, 3)
    assert ephemerals == [
        "Marked INC-1-F1 in progress.",
        "Marked INC-1-F1 done.",
        "INC-1-F1 is already done.",
    ]


def test_reassign_and_due_date_controls(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    item = followup(bench, "Rotate the leaked key due 2026-12-01")
    click(bench, item, "followup_owner", BOB, action_type="users_select")
    bench.slack.wait_for("chat.update")
    assert current(bench, item).owner_id == BOB
    assert thread_notes(bench, item, 1) == [
        "<@U0CAROL> reassigned *INC-1-F1*: unassigned → <@U0BOB>"
    ]

    click(bench, item, "followup_due", "2026-12-24", action_type="datepicker")
    [_, update] = bench.slack.wait_for("chat.update", 2)
    assert current(bench, item).due_date == date(2026, 12, 24)
    assert "Thu Dec 24, 2026" in posted(update)
    assert thread_notes(bench, item, 2)[-1] == (
        "<@U0CAROL> moved the due date of *INC-1-F1*: Tue Dec 1, 2026 → *Thu Dec 24, 2026*"
    )
    owners = [e for e in actions_block(update.params)["elements"] if e["type"] == "users_select"]
    assert owners[0]["initial_user"] == BOB

    click(bench, item, "followup_due", "2026-11-01", action_type="datepicker")
    confirmed, moved, refused = eventually_ephemerals(bench, CAROL, 3)
    assert confirmed == "INC-1-F1 is now owned by <@U0BOB>."
    assert moved == "INC-1-F1 is now due Thu Dec 24, 2026."
    assert "in the past" in refused
    assert current(bench, item).due_date == date(2026, 12, 24)
    fields = [c.field for c in changes(bench, item.id)]
    assert fields == [FollowUpField.CREATED, FollowUpField.OWNER, FollowUpField.DUE_DATE]


def test_done_by_id_and_lists(fixed_bench: Bench, clock: Clock) -> None:
    bench = fixed_bench
    declare(bench)
    later = followup(bench, "Later one <@U0BOB|bob> due 2026-12-20")
    soon = followup(bench, "Soon one <@U0CAROL|carol> due 2026-11-25")
    mine = followup(bench, "Bob's urgent one <@U0BOB|bob> due 2026-11-23 p1")
    assert [later.key, soon.key, mine.key] == ["INC-1-F1", "INC-1-F2", "INC-1-F3"]

    answer = bench.reply_to("/followup", "done F2", user=CAROL)
    assert answer["text"] == "Marked INC-1-F2 done."
    assert current(bench, soon).status is FollowUpStatus.DONE
    assert thread_notes(bench, soon, 1) == [
        "<@U0CAROL> changed the status of *INC-1-F2*: open → *done*"
    ]
    assert "already done" in bench.reply_to("/followup", "done INC-1-F2", user=CAROL)["text"]

    def lines(reply: dict[str, Any]) -> list[str]:
        return [b["text"]["text"] for b in reply["blocks"][1:] if b["type"] == "section"]

    listed = bench.reply_to("/followup", "list", user=CAROL)
    assert listed["response_type"] == "ephemeral"
    assert [line.split("*")[1] for line in lines(listed)] == ["INC-1-F3", "INC-1-F1"]  # by due
    assert "Open follow-ups of INC-1" in listed["blocks"][0]["text"]["text"]
    everything = bench.reply_to("/followup", "list all", user=CAROL)
    assert [line.split("*")[1] for line in lines(everything)] == [
        "INC-1-F3",
        "INC-1-F2",
        "INC-1-F1",
    ]
    bobs = bench.reply_to("/followup", "list mine", user=BOB, channel=QUIET_CHANNEL)
    assert [line.split("*")[1] for line in lines(bobs)] == ["INC-1-F3", "INC-1-F1"]
    assert "(in 3 days)" in lines(bobs)[0]  # Friday Nov 20 in LA → Monday Nov 23

    clock.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    overdue = bench.reply_to("/followup", "list overdue", user=CAROL)
    [line] = lines(overdue)
    assert "INC-1-F3" in line and ":warning:" in line and "(8 days overdue)" in line
    assert "F2" not in json.dumps(overdue["blocks"])  # done is not overdue


def test_team_wide_overdue_leaves_out_private_incidents(fixed_bench: Bench, clock: Clock) -> None:
    bench = fixed_bench
    declare(bench)
    declare(bench, channel=PRIVATE_CHANNEL)
    followup(bench, "Public work due 2026-11-25", user=BOB)
    bench.command("/followup", "Secret work due 2026-11-25", user=BOB, channel=PRIVATE_CHANNEL)
    eventually_announced(bench, 2)
    clock.now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    carol = bench.reply_to("/followup", "list overdue", user=CAROL, channel=QUIET_CHANNEL)
    assert "Public work" in json.dumps(carol["blocks"])
    assert "Secret work" not in json.dumps(carol["blocks"])
    bob = bench.reply_to("/followup", "list overdue", user=BOB, channel=QUIET_CHANNEL)
    assert "Secret work" in json.dumps(bob["blocks"])  # he created it


def test_long_lists_stay_within_a_message(fixed_bench: Bench) -> None:
    bench = fixed_bench
    declare(bench)
    followup(bench, "Task 0 due in 1 day", user=CAROL)  # Carol's time zone is now cached
    for index in range(1, 48):
        bench.requests.slash_command(
            "/followup",
            f"Task {index} due in {index + 1} days",
            user_id=CAROL,
            channel_id=INCIDENT_CHANNEL,
            response_url=bench.slack.new_response_url(),
        )
    bench.slack.wait_for("chat.postMessage", 48, timeout=30)
    listed = bench.reply_to("/followup", "list", user=CAROL)
    assert len(listed["blocks"]) <= 50
    assert listed["blocks"][-1]["elements"][0]["text"] == "…and 3 more."


def test_title_from_message_trims_sensibly() -> None:
    assert title_from_message("\n\n> quoted first line\nsecond") == "quoted first line"
    assert title_from_message("short") == "short"
    long = "word " * 60
    trimmed = title_from_message(long)
    assert trimmed.endswith("word…") and len(trimmed) <= 150
    assert title_from_message("x" * 400) == "x" * 149 + "…"
