"""Reminder sweeps against the HTTP Slack fake, with fixed clocks: who gets which DM, when, once."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from bot.core.settings import Settings
from bot.followups.announcement import announce
from bot.followups.commands import NewFollowUp
from bot.followups.service import create_followup
from bot.incidents.service import Workspace, declare_incident
from bot.reminders.blocks import DONE_ACTION, SNOOZE_WEEK_ACTION
from bot.reminders.hours import parse_days, working_hours
from bot.reminders.sweep import SweepReport, sweep
from bot.slack.client import make_web_client
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    ClaimState,
    FollowUp,
    FollowUpStatus,
    Incident,
    IncidentStatus,
    Postmortem,
    PostmortemStatus,
    Priority,
    ReminderClaim,
    ReminderItem,
    ReminderKind,
)
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL, running_bench

# Monday Nov 23, 2026, 10:00 UTC: 11:00 for Alice (Paris), 02:00 for Bob (Los Angeles).
MON = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
MON_LATE = datetime(2026, 11, 23, 17, 30, tzinfo=UTC)  # 09:30 in LA, 18:30 in Paris
SAT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


@pytest.fixture
def settings(slack: FakeSlack, db: Database) -> Settings:
    return sandbox_settings(slack, db.url)


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return make_web_client(settings)


def incident(
    db: Database,
    slack: FakeSlack,
    channel: str,
    *,
    commander: str = ALICE,
    resolved_at: datetime | None = None,
) -> Incident:
    with db.session() as session:
        item = declare_incident(
            session,
            workspace=Workspace(slack.team_id),
            channel_id=channel,
            channel_private=False,
            commander_id=commander,
            title=f"Trouble in {channel}",
            severity=None,
            now=MON - timedelta(days=10),
        )
        if resolved_at is not None:
            item.status, item.mitigated_at, item.resolved_at = (
                IncidentStatus.RESOLVED,
                resolved_at,
                resolved_at,
            )
        return item


def followup(db: Database, inc: Incident, title: str, owner: str | None, due: date) -> FollowUp:
    with db.session() as session:
        inc = session.get_one(Incident, inc.id)
        new = NewFollowUp(title=title, owner_id=owner, due_date=due, priority=Priority.P2)
        item, _ = create_followup(session, inc, new, created_by=CAROL, now=MON - timedelta(days=9))
        return item


def postmortem(
    db: Database, inc: Incident, status: PostmortemStatus, owner: str, changed: datetime
) -> Postmortem:
    with db.session() as session:
        item = Postmortem(
            team_id=inc.team_id,
            incident_id=inc.id,
            status=status,
            owner_id=owner,
            version=1,
            attached=False,
            document_url=f"https://docs.example.com/pm/{inc.id}",
            created_at=changed,
            updated_at=changed,
            status_changed_at=changed,
        )
        session.add(item)
        return item


def dms(slack: FakeSlack, user: str) -> list[dict[str, Any]]:
    """Messages the bot posted in its DM with `user`."""
    channel = slack.dm_channel_id(user)
    return slack.messages(channel) if channel else []


def dm_text(message: dict[str, Any]) -> str:
    return str(message.get("text", "")) + json.dumps(message.get("blocks", []))


def claims(db: Database) -> list[ReminderClaim]:
    with db.read_session() as session:
        return list(session.scalars(select(ReminderClaim).order_by(ReminderClaim.id)))


def test_overdue_goes_to_the_owner_and_unowned_to_the_commander(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE", commander=CAROL)
    late = followup(db, inc, "Add alerting on queue depth", ALICE, date(2026, 11, 20))
    orphan = followup(db, inc, "Rotate the leaked key", None, date(2026, 11, 19))
    later = followup(db, inc, "Write the runbook", ALICE, date(2026, 12, 20))  # not yet
    report = sweep(db, client, settings, MON)
    [to_alice] = dms(slack, ALICE)
    assert late.key in dm_text(to_alice) and "Overdue" in dm_text(to_alice)
    assert later.key not in dm_text(to_alice) and orphan.key not in dm_text(to_alice)
    [to_carol] = dms(slack, CAROL)
    assert orphan.key in dm_text(to_carol) and late.key not in dm_text(to_carol)
    assert {d.recipient_id for d in report.sent} == {ALICE, CAROL}
    buttons = [
        e["text"]["text"]
        for b in to_alice["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert buttons == ["Mark done", "Snooze 1 day", "Snooze 1 week"]  # no announcement: no Open
    assert [(c.state, c.day) for c in claims(db)] == [(ClaimState.SENT, date(2026, 11, 23))] * 2


def test_dms_wait_for_each_recipients_working_hours(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE")
    for owner in (ALICE, BOB, CAROL):
        followup(db, inc, f"Task for {owner}", owner, date(2026, 11, 20))
    early = sweep(db, client, settings, MON)  # Paris 11:00, UTC 10:00, LA 02:00
    assert {d.recipient_id for d in early.sent} == {ALICE, CAROL}
    assert early.outside_hours == [f"{BOB} (America/Los_Angeles)"]
    late = sweep(db, client, settings, MON_LATE)  # LA 09:30; Paris 18:30 (and already sent)
    assert [d.recipient_id for d in late.sent] == [BOB]
    assert (len(dms(slack, ALICE)), len(dms(slack, BOB)), len(dms(slack, CAROL))) == (1, 1, 1)
    weekend = sweep(db, client, settings, SAT)
    assert weekend.sent == [] and len(weekend.outside_hours) == 3


def test_a_second_sweep_the_same_day_sends_nothing_and_the_next_day_reminds_again(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE")
    followup(db, inc, "Fix the retry storm", ALICE, date(2026, 11, 20))
    assert len(sweep(db, client, settings, MON).sent) == 1
    again = sweep(db, client, settings, MON + timedelta(hours=3))
    assert again.sent == [] and again.lines() == ["nothing to send"]
    # Downtime over Tuesday's runs: one DM at Tuesday's first sweep, however many were missed.
    tuesday = sweep(db, client, settings, MON + timedelta(days=1, hours=6))
    assert len(tuesday.sent) == 1
    assert len(sweep(db, client, settings, MON + timedelta(days=1, hours=6, minutes=15)).sent) == 0
    assert len(dms(slack, ALICE)) == 2


def test_due_soon_is_one_heads_up_then_overdue_reminders(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE")
    item = followup(db, inc, "Patch the load balancer", CAROL, date(2026, 11, 24))
    sweep(db, client, settings, MON)  # due tomorrow
    [heads_up] = dms(slack, CAROL)
    assert "Due soon" in dm_text(heads_up) and item.key in dm_text(heads_up)
    assert sweep(db, client, settings, MON + timedelta(days=1)).sent == []  # due today: sent
    sweep(db, client, settings, MON + timedelta(days=2))
    overdue = dms(slack, CAROL)[-1]
    assert len(dms(slack, CAROL)) == 2 and "Overdue" in dm_text(overdue)
    kinds = [(c.reminder_kind, c.day) for c in claims(db)]
    assert kinds == [
        (ReminderKind.DUE_SOON, date(2026, 11, 24)),
        (ReminderKind.OVERDUE, date(2026, 11, 25)),
    ]


def test_stale_draft_and_stale_review_remind_their_owners(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    resolved_long_ago = MON - timedelta(hours=49)
    draft = incident(db, slack, "C0DRAFT", resolved_at=resolved_long_ago)
    fresh = incident(db, slack, "C0FRESH", resolved_at=MON - timedelta(hours=47))
    review = incident(db, slack, "C0REVIEW", resolved_at=MON - timedelta(days=9))
    recent = incident(db, slack, "C0RECENT", resolved_at=MON - timedelta(days=9))
    postmortem(db, draft, PostmortemStatus.DRAFT, ALICE, resolved_long_ago)
    postmortem(db, fresh, PostmortemStatus.DRAFT, ALICE, MON - timedelta(hours=47))
    postmortem(db, review, PostmortemStatus.IN_REVIEW, CAROL, MON - timedelta(days=5))
    postmortem(db, recent, PostmortemStatus.IN_REVIEW, CAROL, MON - timedelta(days=4))
    sweep(db, client, settings, MON)
    [to_alice] = dms(slack, ALICE)
    assert "still in Draft" in dm_text(to_alice) and draft.key in dm_text(to_alice)
    assert fresh.key not in dm_text(to_alice)
    assert f"https://docs.example.com/pm/{draft.id}" in dm_text(to_alice)  # the Open button
    [to_carol] = dms(slack, CAROL)
    assert "waiting in review" in dm_text(to_carol) and review.key in dm_text(to_carol)
    assert recent.key not in dm_text(to_carol)
    assert sweep(db, client, settings, MON + timedelta(minutes=30)).sent == []  # sent today


def test_one_dm_groups_everything_for_one_person(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE", resolved_at=MON - timedelta(days=3))
    one = followup(db, inc, "First", ALICE, date(2026, 11, 18))
    two = followup(db, inc, "Second", ALICE, date(2026, 11, 24))
    postmortem(db, inc, PostmortemStatus.DRAFT, ALICE, MON - timedelta(days=3))
    sweep(db, client, settings, MON)
    [message] = dms(slack, ALICE)
    text = dm_text(message)
    assert one.key in text and two.key in text and "still in Draft" in text
    assert message["text"].startswith("Reminder: 1 overdue follow-up, 1 follow-up due soon")


@pytest.mark.parametrize("fault", ["ok_false", "ratelimited"])
def test_a_failed_dm_is_retried_by_the_next_sweep(
    fault: str, slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE")
    followup(db, inc, "Fix the retry storm", ALICE, date(2026, 11, 20))
    if fault == "ok_false":
        slack.fail("chat.postMessage", "internal_error")
    else:  # more 429s than the client's own retries
        slack.rate_limit("chat.postMessage", retry_after=0, times=4)
    first = sweep(db, client, settings, MON)
    [failed] = first.failed
    assert failed.error == ("internal_error" if fault == "ok_false" else "ratelimited")
    assert dms(slack, ALICE) == [] and claims(db) == []  # released
    second = sweep(db, client, settings, MON + timedelta(minutes=15))
    assert len(second.sent) == 1 and len(dms(slack, ALICE)) == 1


def test_a_claim_left_by_a_killed_process_is_taken_over_after_its_lease(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, "C0ONE")
    item = followup(db, inc, "Fix the retry storm", ALICE, date(2026, 11, 20))
    with db.session() as session:  # claimed, then the process died before sending
        session.add(
            ReminderClaim(
                team_id=item.team_id,
                item_kind=ReminderItem.FOLLOWUP,
                item_id=item.id,
                reminder_kind=ReminderKind.OVERDUE,
                day=date(2026, 11, 23),
                recipient_id=ALICE,
                state=ClaimState.CLAIMED,
                claimed_at=MON,
            )
        )
    assert sweep(db, client, settings, MON + timedelta(minutes=5)).sent == []  # maybe sending
    assert len(sweep(db, client, settings, MON + timedelta(minutes=15)).sent) == 1
    assert [c.state for c in claims(db)] == [ClaimState.SENT]


def test_concurrent_sweeps_send_each_dm_exactly_once(
    slack: FakeSlack, db: Database, settings: Settings
) -> None:
    """Two sweeps (two threads, two connections: two replicas) start at the same moment."""
    owners = [f"U0MANY{n:02d}" for n in range(12)]
    for owner in owners:
        slack.add_user(owner, owner.lower(), tz="UTC")
    inc = incident(db, slack, "C0ONE")
    for owner in owners:
        for n in range(3):
            followup(db, inc, f"Task {n} of {owner}", owner, date(2026, 11, 20))
    for day in range(3):  # three days: three races
        now = MON + timedelta(days=day)
        start = threading.Barrier(2)
        reports: list[SweepReport] = []

        def run(
            now: datetime = now,
            start: threading.Barrier = start,
            reports: list[SweepReport] = reports,
        ) -> None:
            client = make_web_client(settings)  # each replica has its own
            start.wait()
            reports.append(sweep(db, client, settings, now))

        threads = [threading.Thread(target=run) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert len(reports) == 2
        sent = [d.recipient_id for r in reports for d in r.sent]
        assert sorted(sent) == owners, (day, sent)
        assert all(len(d.reminders) == 3 for r in reports for d in r.sent)
    for owner in owners:
        assert len(dms(slack, owner)) == 3


def test_done_and_snooze_buttons_in_the_dm_stop_reminders_and_update_the_announcement(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    inc = incident(db, slack, INCIDENT_CHANNEL)
    done = followup(db, inc, "Fix the retry storm", ALICE, date(2026, 11, 20))
    snoozed = followup(db, inc, "Tune the alerts", ALICE, date(2026, 11, 21))
    for item in (done, snoozed):
        announce(client, db, item, jira_enabled=False)
    sweep(db, client, settings, MON)
    [message] = dms(slack, ALICE)
    dm_channel = slack.dm_channel_id(ALICE)
    assert dm_channel and dm_channel.startswith("D")
    opens = [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert sum(1 for e in opens if e.get("url", "").find("/archives/C0INCIDENT/p") > 0) == 2
    slack.reset_calls()
    with running_bench(slack, db, clock=lambda: MON + timedelta(minutes=5)) as bench:
        for clicks, (action, item) in enumerate(
            ((DONE_ACTION, done), (SNOOZE_WEEK_ACTION, snoozed))
        ):
            reply = bench.requests.block_action(
                action,
                str(item.id),
                user_id=ALICE,
                channel_id=dm_channel,
                message=dms(slack, ALICE)[0],
                block_id=f"reminder_actions:followup:{item.id}",
            )
            assert reply.status == 200
            # each click updates the announcement and the DM (then the user clicks again)
            updates = slack.wait_for("chat.update", count=2 * (clicks + 1))
    with db.session() as session:
        assert session.get_one(FollowUp, done.id).status is FollowUpStatus.DONE
        until = session.get_one(FollowUp, snoozed.id).snoozed_until
    assert until == MON + timedelta(minutes=5, days=7)
    announcements = {c.params["ts"] for c in updates if c.params["channel"] == INCIDENT_CHANNEL}
    assert announcements == {done.announcement_ts, snoozed.announcement_ts}
    [updated_dm] = dms(slack, ALICE)
    notes = dm_text(updated_dm)
    assert "marked *" + done.key + "* done" in notes and "for a week" in notes
    assert "Mark done" not in notes  # both items' buttons gave way to what was done
    assert sweep(db, client, settings, MON + timedelta(days=1)).sent == []
    later = sweep(db, client, settings, MON + timedelta(days=8))
    assert [r.followup.key for d in later.sent for r in d.reminders if r.followup] == [snoozed.key]


def test_working_hours_and_days_parse() -> None:
    assert parse_days("mon-fri") == frozenset(range(5))
    assert parse_days("sun-tue, fri") == frozenset({6, 0, 1, 4})
    hours = working_hours("00:00-24:00", "mon-sun")
    assert hours.contains(SAT, "Asia/Tokyo")
    with pytest.raises(ValueError):
        working_hours("18:00-09:00", "mon-fri")
    with pytest.raises(ValueError):
        working_hours("09:00-18:00", "weekdays")
