"""The weekly digest against the HTTP Slack fake, with a fixed clock: numbers, privacy, once."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.core.settings import Settings
from bot.followups.commands import NewFollowUp
from bot.followups.service import change_status, create_followup
from bot.incidents.service import Workspace, declare_incident
from bot.reminders.digest import CHART_FILENAME, Week, build_digest, render_chart, send_digest
from bot.slack.client import make_web_client
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    ClaimState,
    FollowUp,
    FollowUpStatus,
    Incident,
    Postmortem,
    PostmortemStatus,
    Priority,
    ReminderClaim,
    ReminderItem,
    ReminderKind,
    SlackUser,
)
from tests.bench import ALICE, BOB, CAROL, PRIVATE_CHANNEL

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC, the scheduled time
DIGEST_CHANNEL = "C0DIGEST"


@pytest.fixture
def settings(slack: FakeSlack, db: Database) -> Settings:
    slack.add_channel("ops-digest", members=[ALICE], channel_id=DIGEST_CHANNEL)
    return sandbox_settings(slack, db.url, reminder_digest_channel=DIGEST_CHANNEL)


@pytest.fixture
def client(settings: Settings) -> WebClient:
    return make_web_client(settings)


def incident(db: Database, slack: FakeSlack, channel: str, *, private: bool = False) -> Incident:
    with db.session() as session:
        return declare_incident(
            session,
            workspace=Workspace(slack.team_id),
            channel_id=channel,
            channel_private=private,
            commander_id=CAROL,
            title=f"Trouble in {channel}",
            severity=None,
            now=NOW - timedelta(days=60),
        )


def followup(
    db: Database,
    inc: Incident,
    title: str,
    owner: str | None,
    due: date,
    *,
    created: datetime = NOW - timedelta(days=30),
    closed: datetime | None = None,
) -> FollowUp:
    with db.session() as session:
        inc = session.get_one(Incident, inc.id)
        new = NewFollowUp(title=title, owner_id=owner, due_date=due, priority=Priority.P2)
        item, _ = create_followup(session, inc, new, created_by=CAROL, now=created)
        if closed is not None:
            change_status(session, item, FollowUpStatus.DONE, by=CAROL, now=closed)
        return item


def postmortem(db: Database, inc: Incident, status: PostmortemStatus) -> None:
    moment = NOW - timedelta(days=20)
    with db.session() as session:
        session.add(
            Postmortem(
                team_id=inc.team_id,
                incident_id=inc.id,
                status=status,
                owner_id=ALICE,
                version=1,
                attached=False,
                created_at=moment,
                updated_at=moment,
                status_changed_at=moment,
            )
        )


def claims(db: Database) -> list[ReminderClaim]:
    with db.read_session() as session:
        return list(session.scalars(select(ReminderClaim).order_by(ReminderClaim.id)))


def posted(slack: FakeSlack) -> str:
    return json.dumps(slack.messages(DIGEST_CHANNEL))


def seed(db: Database, slack: FakeSlack) -> dict[str, Any]:
    one, two = incident(db, slack, "C0ONE"), incident(db, slack, "C0TWO")
    secret = incident(db, slack, PRIVATE_CHANNEL, private=True)
    items = {
        "alice1": followup(db, one, "Add alerting", ALICE, date(2026, 11, 10)),
        "alice2": followup(db, two, "Fix retries", ALICE, date(2026, 11, 20)),
        "bob": followup(db, one, "Rotate keys", BOB, date(2026, 11, 22)),
        "nobody": followup(db, two, "Write runbook", None, date(2026, 11, 1)),
        "later": followup(db, one, "Not due yet", BOB, date(2026, 12, 20)),
        "done": followup(db, one, "Done already", BOB, date(2026, 11, 1), closed=NOW),
        "secret": followup(db, secret, "Revoke the leaked token", ALICE, date(2026, 11, 2)),
    }
    postmortem(db, one, PostmortemStatus.DRAFT)
    postmortem(db, two, PostmortemStatus.COMPLETED)
    postmortem(db, secret, PostmortemStatus.IN_REVIEW)
    return {"secret_incident": secret, **items}


def test_numbers_by_owner_and_status_leave_private_incidents_out(
    slack: FakeSlack, db: Database
) -> None:
    items = seed(db, slack)
    with db.session() as session:
        digest = build_digest(session, team_id=slack.team_id, now=NOW)
        assert digest.overdue_by_owner == {
            ALICE: [items["alice1"].key, items["alice2"].key],
            None: [items["nobody"].key],
            BOB: [items["bob"].key],
        }
    assert digest.overdue_private == 1 and digest.overdue_total == 4
    assert digest.postmortems_by_status == {
        PostmortemStatus.DRAFT: 1,
        PostmortemStatus.IN_REVIEW: 0,
        PostmortemStatus.COMPLETED: 1,
    }
    assert digest.postmortems_private == 1


def test_weekly_open_versus_closed_follows_the_status_changes(
    slack: FakeSlack, db: Database
) -> None:
    inc = incident(db, slack, "C0ONE")
    secret = incident(db, slack, PRIVATE_CHANNEL, private=True)
    day = timedelta(days=1)
    followup(db, inc, "Old, open", ALICE, date(2026, 12, 1), created=NOW - 70 * day)
    followup(db, inc, "Closed in week 6", ALICE, date(2026, 12, 1), created=NOW - 20 * day,
             closed=NOW - 10 * day)  # fmt: skip
    followup(db, inc, "Closed long ago", ALICE, date(2026, 12, 1), created=NOW - 80 * day,
             closed=NOW - 60 * day)  # fmt: skip
    followup(db, inc, "New this week", BOB, date(2026, 12, 1), created=NOW - 2 * day)
    followup(db, secret, "Private", BOB, date(2026, 12, 1), created=NOW - 2 * day)
    with db.session() as session:
        weeks = build_digest(session, team_id=slack.team_id, now=NOW).weeks
    assert len(weeks) == 8 and weeks[-1].end == NOW and weeks[0].start == NOW - 56 * day
    assert [(w.open, w.closed) for w in weeks] == [
        (1, 0), (1, 0), (1, 0), (1, 0), (1, 0), (2, 0), (1, 1), (2, 0)
    ]  # fmt: skip


def test_the_digest_is_posted_with_a_png_chart_once_a_week(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    items = seed(db, slack)
    with db.session() as session:  # Alice is in the users cache; Bob is not
        alice = SlackUser(team_id=slack.team_id, user_id=ALICE, name="alice", tz="Europe/Paris")
        alice.real_name, alice.fetched_at = "Alice Ops", NOW
        session.add(alice)
    assert send_digest(db, client, settings, NOW) is True
    [chart] = slack.files().values()
    assert chart["content"].startswith(b"\x89PNG\r\n\x1a\n") and chart["name"] == CHART_FILENAME
    assert chart["channels"] == [DIGEST_CHANNEL]
    upload, message = slack.messages(DIGEST_CHANNEL)
    assert upload["files"][0]["id"] == chart["id"]
    assert message["text"] == "Weekly digest: 4 overdue follow-ups, 1 postmortem not completed"
    text = posted(slack)
    assert f"Alice Ops: 2 ({items['alice1'].key}, {items['alice2'].key})" in text
    assert "<@" not in text  # names, not mentions: the weekly digest pings nobody
    assert "and 1 in private incidents" in text and "Draft: 1" in text
    assert items["secret"].key not in text and "leaked token" not in text
    assert items["secret_incident"].key not in text
    [claim] = claims(db)
    assert (claim.item_kind, claim.reminder_kind, claim.day, claim.state) == (
        ReminderItem.DIGEST,
        ReminderKind.WEEKLY_DIGEST,
        date(2026, 11, 23),
        ClaimState.SENT,
    )
    # Later the same ISO week (another replica, a manual run): nothing more.
    assert send_digest(db, client, settings, NOW + timedelta(days=6, hours=14)) is False
    assert len(slack.files()) == 1 and len(slack.messages(DIGEST_CHANNEL)) == 2
    assert send_digest(db, client, settings, NOW + timedelta(days=7)) is True
    assert len(slack.files()) == 2 and len(slack.messages(DIGEST_CHANNEL)) == 4


def test_a_failed_upload_releases_the_claim(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    seed(db, slack)
    slack.fail("files.completeUploadExternal", "internal_error")
    with pytest.raises(SlackApiError):
        send_digest(db, client, settings, NOW)
    assert claims(db) == [] and slack.messages(DIGEST_CHANNEL) == []
    assert send_digest(db, client, settings, NOW + timedelta(minutes=5)) is True
    assert len(slack.files()) == 1 and [c.state for c in claims(db)] == [ClaimState.SENT]


def test_dry_run_and_no_channel_send_nothing(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    seed(db, slack)
    lines: list[str] = []
    assert send_digest(db, client, settings, NOW, dry_run=True, echo=lines.append) is True
    assert lines == [
        f"would post the weekly digest to {DIGEST_CHANNEL}: "
        "Weekly digest: 4 overdue follow-ups, 1 postmortem not completed"
    ]
    unset = sandbox_settings(slack, db.url)
    assert send_digest(db, client, unset, NOW) is False
    assert slack.files() == {} and slack.messages(DIGEST_CHANNEL) == [] and claims(db) == []


def test_render_chart_is_a_png() -> None:
    start = NOW - timedelta(weeks=1)
    png = render_chart([Week(start=start, end=NOW, open=3, closed=2)])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 1000


def test_the_scheduler_runs_the_digest_on_mondays_only_when_configured(
    slack: FakeSlack, db: Database, client: WebClient, settings: Settings
) -> None:
    from bot.scheduler import DIGEST_JOB, start_scheduler
    from bot.services import Services

    for configured, expected in ((settings, True), (sandbox_settings(slack, db.url), False)):
        services = Services(settings=configured, db=db, clock=lambda: NOW)
        scheduler = start_scheduler(services, client, first_run_in=timedelta(hours=1))
        try:
            job = scheduler.get_job(DIGEST_JOB)
            assert (job is not None) is expected
            if job is not None:
                assert job.coalesce and job.max_instances == 1
                assert str(job.trigger) == "cron[day_of_week='mon', hour='9', minute='0']"
        finally:
            scheduler.shutdown(wait=True)
