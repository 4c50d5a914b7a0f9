"""Reminder sweep benchmark: how long the sweep's selection queries take on a big database.

Bulk-inserts N follow-ups (1% overdue and open, 9% open and due later, 90% done) over N/100
resolved incidents with a postmortem each, then times `select_candidates` (the queries every
sweep runs before any Slack call) and checks with EXPLAIN that they use their indexes.

    python bench/sweep.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    python bench/sweep.py --sizes 10000 100000 --runs 7

Each size uses a fresh database (a PostgreSQL schema of its own, dropped at the end).
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import label, median, percentile, temporary_database
from sqlalchemy import insert, text

from bot.reminders.selection import Rules, select_candidates
from storage.db import Database
from storage.models import (
    FollowUp,
    FollowUpStatus,
    Incident,
    IncidentStatus,
    Postmortem,
    PostmortemStatus,
    Priority,
    Severity,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
RULES = Rules(due_soon_days=1, draft_sla=timedelta(hours=48), review_sla=timedelta(days=5))
TEAM = "T0BENCH"
BATCH = 10_000


def populate(db: Database, count: int) -> None:
    incidents = max(1, count // 100)
    long_ago = NOW - timedelta(days=400)
    with db.session() as session:
        session.execute(
            insert(Incident),
            [
                {
                    "team_id": TEAM,
                    "number": n + 1,
                    "title": f"Incident {n + 1}",
                    "severity": Severity.SEV3,
                    "status": IncidentStatus.RESOLVED,
                    "channel_id": f"C{n:08d}",
                    "channel_private": False,
                    "commander_id": f"U{n % 500:05d}",
                    "declared_at": long_ago,
                    "resolved_at": long_ago + timedelta(hours=n % 97),
                }
                for n in range(incidents)
            ],
        )
        ids = [row[0] for row in session.execute(text("SELECT id FROM incidents ORDER BY id"))]
        session.execute(
            insert(Postmortem),
            [
                {
                    "team_id": TEAM,
                    "incident_id": incident_id,
                    # a few stale drafts and reviews, the rest completed
                    "status": (PostmortemStatus.DRAFT, PostmortemStatus.IN_REVIEW)[n % 2]
                    if n % 50 == 0
                    else PostmortemStatus.COMPLETED,
                    "owner_id": f"U{n % 500:05d}",
                    "version": 1,
                    "attached": False,
                    "created_at": long_ago,
                    "updated_at": long_ago,
                    "status_changed_at": long_ago,
                }
                for n, incident_id in enumerate(ids)
            ],
        )
    for start in range(0, count, BATCH):
        with db.session() as session:
            session.execute(
                insert(FollowUp),
                [_followup(n, ids) for n in range(start, min(count, start + BATCH))],
            )
    with db.engine.begin() as conn:
        conn.execute(text("ANALYZE"))  # fresh statistics, as autovacuum would soon have


def _followup(n: int, incident_ids: list[int]) -> dict[str, Any]:
    if n % 100 == 0:  # 1%: overdue and open
        status, due = FollowUpStatus.OPEN, TODAY - timedelta(days=1 + n % 30)
    elif n % 10 == 1:  # 9%: open, due in a while
        status, due = FollowUpStatus.IN_PROGRESS, TODAY + timedelta(days=5 + n % 60)
    else:  # 90%: done long ago
        status, due = FollowUpStatus.DONE, TODAY - timedelta(days=30 + n % 300)
    return {
        "team_id": TEAM,
        "incident_id": incident_ids[n % len(incident_ids)],
        "number": n // len(incident_ids) + 1,
        "title": f"Follow-up {n}",
        "description": "",
        "owner_id": f"U{n % 1000:05d}",
        "due_date": due,
        "priority": Priority.P3,
        "status": status,
        "created_by": "U00000",
        "created_at": NOW - timedelta(days=60),
        "updated_at": NOW - timedelta(days=60),
    }


def explain(db: Database) -> list[str]:
    """The plans of the selection queries (PostgreSQL), to check the indexes are used."""
    if db.dialect != "postgresql":
        return []
    from sqlalchemy.dialects import postgresql

    from bot.reminders import selection

    statements = [
        selection.followups_query(now=NOW, rules=RULES),
        *selection.postmortem_queries(now=NOW, rules=RULES),
    ]
    plans = []
    with db.engine.connect() as conn:
        for statement in statements:
            compiled = statement.compile(
                dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
            )
            rows = conn.execute(text(f"EXPLAIN {compiled}"))
            plans.append("\n".join(r[0] for r in rows))
    return plans


def measure(db: Database, runs: int) -> tuple[list[float], int, int]:
    times: list[float] = []
    found = (0, 0)
    for _ in range(runs):
        started = time.perf_counter()
        with db.session() as session:
            candidates = select_candidates(session, now=NOW, rules=RULES)
        times.append((time.perf_counter() - started) * 1000)
        found = (len(candidates.followups), len(candidates.postmortems))
    return times, *found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("TEST_DATABASE_URL"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    print(f"sweep selection on {label(args.database_url)}, {args.runs} runs each")
    for size in args.sizes:
        with temporary_database(args.database_url) as db:
            started = time.perf_counter()
            populate(db, size)
            loaded = time.perf_counter() - started
            measure(db, 1)  # warm the connection pool and caches
            times, followups, postmortems = measure(db, args.runs)
            print(
                f"{size:>7} follow-ups (loaded in {loaded:.1f} s): selection median "
                f"{median(times):.1f} ms, p95 {percentile(times, 95):.1f} ms, max "
                f"{max(times):.1f} ms; found {followups} follow-ups, {postmortems} postmortems"
            )
            for plan in explain(db):
                uses = [line.strip() for line in plan.splitlines() if "Index" in line]
                print("    " + ("; ".join(uses) or "NO INDEX: " + plan.splitlines()[0]))


if __name__ == "__main__":
    main()
