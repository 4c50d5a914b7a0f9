"""The hot lookups stay index-driven on a PostgreSQL that has no statistics (autovacuum off, or
just after a bulk load): a plan that depends on fresh statistics made generation quadratic
(issue 15: the per-message capture lookup scanned the channel, 14 ms a message at 50k).

The real code runs against a fresh schema, never ANALYZEd, with thousands of rows in the big
tables; every statement it sends is recorded and EXPLAINed with the same parameters on the
same connection, and no plan may read a big table sequentially.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.orm import Session

from bot.capture.events import MessageSnapshot
from bot.capture.gaps import failed_gaps, pending_gaps
from bot.capture.service import is_incident_channel, store_messages, store_snapshot
from bot.core import outbox
from bot.incidents.service import Workspace, declare_incident
from bot.postmortem.context import channel_messages
from storage.db import Database
from storage.models import (
    CapturedMessage,
    CaptureGap,
    GapState,
    Incident,
    OutboxJob,
    OutboxState,
)

TEAM = "T0001"
CHANNELS = [f"C0PLAN{n}" for n in range(4)]
BIG = ("captured_messages", "outbox_jobs", "capture_gaps")
PER_CHANNEL = 5_000
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def ts_of(n: int) -> str:
    return f"{int(T0.timestamp()) + n}.{n % 1_000_000:06d}"


def seed(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in (*BIG, "incidents"):
            conn.execute(text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)"))
    with db.session() as session:
        for channel in CHANNELS:
            declare_incident(
                session,
                workspace=Workspace(TEAM),
                channel_id=channel,
                channel_private=False,
                commander_id="U0ALICE",
                title=f"Plans {channel}",
                severity=None,
                now=T0,
            )
        messages = [
            {
                "team_id": TEAM,
                "channel_id": channel,
                "ts": ts_of(n),
                "thread_ts": None,
                "posted_at": T0 + timedelta(seconds=n),
                "user_id": f"U{n % 20:04d}",
                "text": f"message {n}",
                "file_names": [],
                "captured_at": T0,
            }
            for channel in CHANNELS
            for n in range(PER_CHANNEL)
        ]
        session.execute(insert(CapturedMessage), messages)
        jobs = [
            {
                "team_id": TEAM,
                "kind": "slack.post",
                "lane": "fast" if n % 2 else "slow",
                "payload": {},
                "ordering_key": f"channel:{CHANNELS[n % 4]}",
                "dedupe_key": None,
                "state": OutboxState.DONE if n >= 10 else OutboxState.PENDING,
                "attempts": 1,
                "next_attempt_at": T0,
                "created_at": T0,
                "finished_at": T0 if n >= 10 else None,
            }
            for n in range(5_000)
        ]
        session.execute(insert(OutboxJob), jobs)
        gaps = [
            {
                "team_id": TEAM,
                "channel_id": f"C0OLD{n:05d}" if n >= 4 else CHANNELS[n],
                "reason": "downtime",
                "start_at": T0 - timedelta(hours=n + 1),
                "end_at": T0 - timedelta(hours=n),
                "state": GapState.DONE if n >= 4 else GapState.PENDING,
                "history_done": True,
                "threads": [],
                "fetched": 0,
                "calls": 0,
                "created_at": T0,
            }
            for n in range(3_000)
        ]
        session.execute(insert(CaptureGap), gaps)
    with db.engine.connect() as conn:
        analysed = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_user_tables WHERE schemaname = current_schema() "
                "AND (last_analyze IS NOT NULL OR last_autoanalyze IS NOT NULL)"
            )
        ).scalar_one()
        assert analysed == 0, "the point is a schema without statistics"


@contextmanager
def recorded(db: Database) -> Iterator[list[tuple[str, Any]]]:
    """The SELECT/UPDATE statements sent while in the block (inserts need no plan check)."""
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"SELECT", "UPDATE", "DELETE"}:
            sent.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def flaws(plan: list[str]) -> list[str]:
    """What is wrong with a plan: a big table read sequentially, or a captured message looked
    up by scanning its whole channel in an index (team and channel as the only index condition,
    the message itself a filter: the cost grows with the channel, so a page's lookup did)."""
    found = [line for line in plan if "Seq Scan" in line and any(t in line for t in BIG)]
    for at, line in enumerate(plan):
        if "Index Scan" not in line or "captured_messages" not in line:
            continue
        condition = next((n for n in plan[at + 1 :] if "Index Cond:" in n), "")
        if not any(key in condition for key in ("(ts)", "posted_at", "(id =")):
            found.append(f"{line.strip()} / {condition.strip() or 'no index condition'}")
    return found


def badly_planned(db: Database, statements: list[tuple[str, Any]]) -> list[str]:
    found = []
    with db.engine.connect() as conn:
        for statement, parameters in statements:
            if isinstance(parameters, list | tuple):  # executemany: one set is the same plan
                parameters = parameters[0]
            plan = conn.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
            if flaws(plan):
                shown = [line[:300] for line in plan]
                found.append(f"{statement[:400]}\n  " + "\n  ".join(shown))
    return found


def exercise(session: Session) -> None:
    """The lookups of capture, generation, the outbox and the gaps, as the bot makes them."""
    channel = CHANNELS[1]
    assert is_incident_channel(session, TEAM, channel)
    page = [
        {"type": "message", "ts": ts_of(n), "user": "U0001", "text": f"edited {n}"}
        for n in range(1_000, 1_200)
    ]
    store_messages(session, team_id=TEAM, channel_id=channel, messages=page, now=T0)
    snapshot = MessageSnapshot(
        ts=ts_of(7),
        thread_ts=None,
        user_id="U0001",
        bot_id=None,
        username=None,
        subtype=None,
        text="live edit",
        file_names=(),
        edited_at=T0 + timedelta(hours=1),
    )
    store_snapshot(session, team_id=TEAM, channel_id=channel, snapshot=snapshot, now=T0)
    pending_gaps(session, TEAM, channel)
    failed_gaps(session, TEAM, channel)
    now = T0 + timedelta(minutes=1)
    for lane in outbox.Lane:
        outbox.due(session, lane, now=now)
        job = outbox.claim(session, lane, now=now)
        assert job is not None
        outbox.finish(session, job, now=now)
    outbox.live_job(session, "postmortem:INC-2")


def test_hot_lookups_use_indexes_without_statistics(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("query plans are checked on PostgreSQL (SQLite plans need no statistics)")
    seed(db)
    with db.session() as session:
        incident = session.scalars(select(Incident).where(Incident.channel_id == CHANNELS[1])).one()
    with recorded(db) as statements, db.session() as session:
        exercise(session)
        rows = channel_messages(
            session, incident, since=T0 - timedelta(hours=1), until=T0 + timedelta(minutes=5)
        )
        assert len(rows) == 301
    assert len(statements) >= 12
    bad = badly_planned(db, statements)
    assert not bad, "plans that depend on statistics:\n" + "\n".join(bad)
