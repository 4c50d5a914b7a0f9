"""Postmortem generation benchmark: time to build the document from N captured messages.

Fills a throwaway database with an incident, 60 timeline events, 5 follow-ups and N captured
messages (one in ten a thread reply, some edited, some deleted), then times, best of 3:
- render: gather + render from the database (what `postmortem-bot render` does);
- generate: the whole `/postmortem generate` path (backfill, names, render, publish) against
  the bundled Slack simulator.

    python bench/generate.py                       # SQLite, 1,000 / 10,000 / 50,000 messages
    python bench/generate.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from _common import label, temporary_database
from sqlalchemy import insert

from bot.core.clock import fixed_clock
from bot.incidents.service import Workspace, change_status, declare_incident
from bot.postmortem.generate import generate_postmortem
from bot.postmortem.offline import render_offline
from bot.slack.client import make_web_client
from bot.timeline.service import record_event
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import (
    CapturedMessage,
    EventKind,
    FollowUp,
    FollowUpStatus,
    IncidentStatus,
    Priority,
    SlackUser,
)

TEAM, CHANNEL = "T0001", "C0BENCH"
USERS = [f"U0USER{i:02d}" for i in range(20)]
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def fill(db: Database, messages: int) -> None:
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(TEAM),
            channel_id=CHANNEL,
            channel_private=False,
            commander_id=USERS[0],
            title="Checkout returns 500s after deploy 4812",
            severity=None,
            now=T0,
        )
        for i, user in enumerate(USERS):
            session.add(
                SlackUser(
                    team_id=TEAM,
                    user_id=user,
                    name=f"user{i}",
                    real_name=f"User {i}",
                    tz="UTC",
                    fetched_at=T0,
                )
            )
        kinds = [
            EventKind.NOTE,
            EventKind.DETECTION,
            EventKind.ESCALATION,
            EventKind.MITIGATION,
            EventKind.DECISION,
        ]
        for i in range(60):
            record_event(
                session,
                incident,
                kind=kinds[i % 5],
                text=f"event {i}: checked shard {i}",
                author_id=USERS[i % 20],
                occurred_at=T0 + timedelta(minutes=i),
                now=T0,
            )
        for n in range(1, 6):
            session.add(
                FollowUp(
                    team_id=TEAM,
                    incident_id=incident.id,
                    number=n,
                    title=f"Fix thing {n}",
                    description="",
                    owner_id=USERS[n],
                    due_date=date(2026, 12, n),
                    priority=Priority.P2,
                    status=FollowUpStatus.OPEN,
                    created_by=USERS[0],
                    created_at=T0,
                    updated_at=T0,
                )
            )
        change_status(
            session, incident, IncidentStatus.RESOLVED, by=USERS[0], now=T0 + timedelta(hours=3)
        )
    rows: list[dict[str, object]] = []
    parent_ts = None
    for i in range(messages):
        at = T0 + timedelta(seconds=i)
        ts = f"{int(at.timestamp())}.{i % 1000000:06d}"
        reply = i % 10 == 9 and parent_ts is not None
        rows.append(
            {
                "team_id": TEAM,
                "channel_id": CHANNEL,
                "ts": ts,
                "thread_ts": parent_ts if reply else None,
                "posted_at": at,
                "user_id": USERS[i % 20],
                "bot_id": None,
                "username": None,
                "subtype": None,
                "text": f"message {i} about <@{USERS[(i + 1) % 20]}> and checkout &amp; payments",
                "file_names": [],
                "edited_at": at if i % 50 == 0 else None,
                "deleted_at": at if i % 97 == 0 else None,
                "captured_at": at,
            }
        )
        if i % 10 == 0:
            parent_ts = ts
    with db.session() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(CapturedMessage), rows[start : start + 5000])


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


def measure(url: str | None, messages: int) -> tuple[float, float, int]:
    with temporary_database(url) as db, FakeSlack(team_id=TEAM) as slack:
        for user in USERS:
            slack.add_user(user, user.lower())
        slack.add_channel("inc-bench", channel_id=CHANNEL, members=USERS[:1])
        fill(db, messages)
        settings = sandbox_settings(slack, db.url)
        size = len(render_offline(db, settings, "INC-1"))
        render = best_of(3, lambda: render_offline(db, settings, "INC-1"))
        client = make_web_client(settings)
        now = T0 + timedelta(days=1)
        generate = best_of(
            3,
            lambda: generate_postmortem(
                db=db,
                client=client,
                settings=settings,
                clock=fixed_clock(now),
                team_id=TEAM,
                channel_id=CHANNEL,
                user_id=USERS[0],
                template=None,
                force=True,
            ),
        )
        return render, generate, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    print(f"postmortem generation on {label(args.database_url)} (best of 3)")
    print(f"{'messages':>9} {'render':>9} {'generate':>9} {'markdown':>10}")
    for size in (int(s) for s in args.sizes.split(",")):
        render, generate, length = measure(args.database_url, size)
        print(
            f"{size:>9,} {render * 1000:>7.0f}ms {generate * 1000:>7.0f}ms {length / 1024:>8.0f}KB"
        )


if __name__ == "__main__":
    main()
