"""Several `postmortem-bot run` replicas on one PostgreSQL, as in a scaled deployment.

Each replica is the real process (`python -m bot run`) on its own port, all on the same database
schema and the same fake Slack. Correctness must come from the database, not process memory:
scheduled jobs that race send each reminder once, per-workspace numbers never repeat, and a
Slack retry delivered to another replica is processed once.

Adding a scheduled job (Jira polling, say) to the race: start the replicas with
`racing_replicas(..., JIRA_URL=...)`, then assert on what the job did, once, in the fakes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.followups.commands import NewFollowUp
from bot.followups.service import create_followup
from bot.incidents.service import Workspace, declare_incident
from sandbox.harness import wait_until
from sandbox.slack.fake import Call, FakeSlack
from sandbox.slack.signed_requests import Reply
from storage.db import Database
from storage.models import (
    ClaimState,
    EventSource,
    FollowUp,
    Incident,
    OutboxJob,
    Priority,
    ReminderClaim,
    ReminderItem,
    TimelineEvent,
)
from tests.bench import ALICE, BOB, CAROL, INCIDENT_CHANNEL
from tests.processes import BotProcess, Launcher, bot_env

pytestmark = [
    pytest.mark.xdist_group("bot_processes"),  # see tests/test_production_server.py
    pytest.mark.skipif(
        not os.environ.get("TEST_DATABASE_URL"),
        reason="replicas share one PostgreSQL: set TEST_DATABASE_URL (for example "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test) to run these",
    ),
    # conftest's database_url fixture, PostgreSQL only: a fresh schema of this test's own
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

REPLICAS = 2
OWNERS = [f"U0OWNER{n:02d}" for n in range(24)]
DIGEST_CHANNEL = "C0DIGEST"
# Reminders may go out at any hour on any day: the test does not depend on the clock.
ALWAYS = {"WORKING_HOURS": "00:00-24:00", "WORKING_DAYS": "mon-sun"}


def racing_replicas(
    launcher: Launcher,
    slack: FakeSlack,
    database_url: str,
    *,
    count: int = REPLICAS,
    first_run_seconds: float = 1.0,
    settings: Mapping[str, str] | None = None,
) -> list[BotProcess]:
    """`count` replicas with `settings` started at the same moment, so that their first
    scheduled runs (each SCHEDULER_FIRST_RUN_SECONDS after its start) fall together."""
    env = bot_env(
        slack,
        database_url,
        SCHEDULER_FIRST_RUN_SECONDS=str(first_run_seconds),
        **(settings or {}),
    )
    return launcher.start_replicas(count, env)


def stop_all(replicas: list[BotProcess]) -> None:
    for replica in replicas:
        replica.terminate()
    for replica in replicas:
        assert replica.wait(timeout=30) == 0, replica.output()


def seed_overdue_followups(db: Database, slack: FakeSlack) -> list[FollowUp]:
    """Two overdue follow-ups for each owner: each owner is due exactly one DM today."""
    now = datetime.now(UTC)
    long_ago = date.today() - timedelta(days=5)  # overdue in every time zone
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(slack.team_id),
            channel_id=INCIDENT_CHANNEL,
            channel_private=False,
            commander_id=CAROL,
            title="Queue backlog",
            severity=None,
            now=now - timedelta(days=10),
        )
        items = []
        for owner in OWNERS:
            for n in range(2):
                new = NewFollowUp(
                    title=f"Task {n} for {owner}",
                    owner_id=owner,
                    due_date=long_ago,
                    priority=Priority.P2,
                )
                item, _ = create_followup(
                    session, incident, new, created_by=CAROL, now=now - timedelta(days=9)
                )
                items.append(item)
        return items


def dm_posts(slack: FakeSlack) -> dict[str, int]:
    """Successful chat.postMessage calls per DM channel."""
    counts: dict[str, int] = {}
    for call in slack.calls_to("chat.postMessage"):
        channel = str(call.params.get("channel", ""))
        if channel.startswith("D") and call.status == 200 and call.response.get("ok"):
            counts[channel] = counts.get(channel, 0) + 1
    return counts


def remind_digest(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "remind", "--digest"],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_replicas_racing_their_scheduled_sweeps_send_each_reminder_once(
    launcher: Launcher, slack: FakeSlack, db: Database, database_url: str, tmp_path: Path
) -> None:
    for n, owner in enumerate(OWNERS):
        slack.add_user(owner, owner.lower(), tz=("UTC", "Europe/Paris", "Asia/Tokyo")[n % 3])
    slack.add_channel("ops-digest", members=[ALICE], channel_id=DIGEST_CHANNEL)
    items = seed_overdue_followups(db, slack)
    settings = {**ALWAYS, "REMINDER_DIGEST_CHANNEL": DIGEST_CHANNEL}

    replicas = racing_replicas(launcher, slack, database_url, settings=settings)
    # Each replica logs its sweep's report when the sweep is over.
    for replica in replicas:
        replica.wait_for_output("reminders: ", timeout=30)

    sent = dm_posts(slack)
    assert sorted(slack.dm_channel_id(owner) or owner for owner in OWNERS) == sorted(sent)
    assert set(sent.values()) == {1}, sent  # one DM per owner, however many replicas swept
    with db.session() as session:
        claims = session.scalars(select(ReminderClaim)).all()
        assert sorted(c.item_id for c in claims if c.item_kind is ReminderItem.FOLLOWUP) == sorted(
            item.id for item in items
        )
        assert {c.state for c in claims} == {ClaimState.SENT}

    # The digest is scheduled for Mondays 09:00 UTC; `remind --digest` runs the same code, so
    # two of them racing stand in for replicas reaching Monday morning together.
    env = bot_env(slack, database_url, **settings)
    racers = [remind_digest(env, tmp_path) for _ in range(2)]
    outputs = [racer.communicate(timeout=60)[0] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0], outputs
    assert sum("posted the weekly digest" in output for output in outputs) == 1, outputs
    assert sum("already sent this week" in output for output in outputs) == 1, outputs
    assert len(slack.files()) == 1 and len(slack.messages(DIGEST_CHANNEL)) == 2  # chart, text
    stop_all(replicas)
    assert sum(dm_posts(slack).values()) == len(OWNERS)  # still once, after the stop


def command(replica: BotProcess, slack: FakeSlack, name: str, text: str, channel: str) -> Reply:
    return replica.requests().slash_command(
        name,
        text,
        user_id=ALICE,
        channel_id=channel,
        response_url=slack.new_response_url(),
        trigger_id=slack.new_trigger_id(),
    )


def reaction_event(kind: str, channel: str, ts: str) -> dict[str, Any]:
    return {
        "type": kind,
        "user": BOB,
        "reaction": "pushpin",
        "item": {"type": "message", "channel": channel, "ts": ts},
        "item_user": ALICE,
        "event_ts": f"{time.time():.6f}",
    }


def pin_jobs(db: Database) -> int:
    """Outbox jobs written for pins (one per pin event processed, whichever replica)."""
    with db.session() as session:
        kinds = session.scalars(select(OutboxJob.kind)).all()
    return sum(kind == "timeline.add_reacted" for kind in kinds)


def pinned(db: Database, ts: str) -> int:
    with db.session() as session:
        events = session.scalars(
            select(TimelineEvent).where(
                TimelineEvent.source_ts == ts, TimelineEvent.source == EventSource.REACTION
            )
        ).all()
        return len(events)


def test_replicas_serving_requests_share_numbers_and_process_a_retry_once(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    channels = [f"C0INC{n:02d}" for n in range(12)]
    for channel in channels:
        slack.add_channel(channel.lower(), members=[ALICE, BOB, CAROL], channel_id=channel)
    # a fresh schema: the replicas migrate it together, taking turns on an advisory lock
    replicas = racing_replicas(launcher, slack, database_url, first_run_seconds=3600)
    a, b = replicas
    db = Database(database_url)
    try:
        # Declares alternate between the replicas, all at once; the last channel gets one
        # declare from each replica at the same moment: one open incident per channel.
        jobs = [(replicas[n % 2], channel) for n, channel in enumerate(channels)]
        jobs.append((a if jobs[-1][0] is b else b, channels[-1]))
        with ThreadPoolExecutor(len(jobs)) as pool:
            replies = list(
                pool.map(
                    lambda job: command(job[0], slack, "/incident", "declare Down", job[1]), jobs
                )
            )
        assert [r.status for r in replies] == [200] * len(jobs)
        wait_until(lambda: len(incidents(db)) >= len(channels), timeout=20, what="incidents")

        # Follow-ups in one incident, alternating replicas, all at once.
        with ThreadPoolExecutor(20) as pool:
            replies = list(
                pool.map(
                    lambda n: command(replicas[n % 2], slack, "/followup", f"Fix {n}", channels[0]),
                    range(20),
                )
            )
        assert [r.status for r in replies] == [200] * 20

        # A pin (to A), its removal (to B), then Slack's retry of the pin (to B): the retry is
        # the same event, already processed, so it must not put the message back.
        message = slack.post_as_user(channels[1], BOB, "p99 back under 300 ms")
        pin = reaction_event("reaction_added", channels[1], message["ts"])
        slack.add_reaction(channels[1], message["ts"], "pushpin", BOB)
        assert a.requests().event(pin, event_id="Ev0PIN").status == 200
        wait_until(lambda: pinned(db, message["ts"]) == 1, timeout=10, what="the pin")
        slack.remove_reaction(channels[1], message["ts"], "pushpin", BOB)
        unpin = reaction_event("reaction_removed", channels[1], message["ts"])
        assert b.requests().event(unpin, event_id="Ev0UNPIN").status == 200
        wait_until(lambda: pinned(db, message["ts"]) == 0, timeout=10, what="the unpin")
        looked_up = len(permalinks(slack, message["ts"]))
        retry = b.requests().event(pin, event_id="Ev0PIN", retry_num=1)
        assert retry.status == 200

        # A graceful stop finishes every request's work: what is stored now is final.
        stop_all(replicas)
        # B recognised the retry from its claim, before any work: no second job, no Slack call
        assert pin_jobs(db) == 1
        assert len(permalinks(slack, message["ts"])) == looked_up
        assert pinned(db, message["ts"]) == 0
        declared = incidents(db)
        assert sorted(channel for channel, _ in declared) == sorted(channels)
        assert sorted(number for _, number in declared) == list(range(1, len(channels) + 1))
        assert followup_numbers(db) == list(range(1, 21))
    finally:
        db.dispose()


def permalinks(slack: FakeSlack, ts: str) -> list[Call]:
    """The bot asks for a pinned message's link before it claims the event."""
    return [c for c in slack.calls_to("chat.getPermalink") if c.params.get("message_ts") == ts]


def incidents(db: Database) -> list[tuple[str, int]]:
    with db.session() as session:
        rows = session.execute(select(Incident.channel_id, Incident.number)).all()
        return [(channel, number) for channel, number in rows]


def followup_numbers(db: Database) -> list[int]:
    with db.read_session() as session:
        return sorted(session.scalars(select(FollowUp.number)).all())
