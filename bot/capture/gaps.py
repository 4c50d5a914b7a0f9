"""Capture gaps: the stretches of an incident channel live capture did not see, and how far the
backfill of each has come. With continuous capture there is none but the lead-up, and
generation needs no history call at all.

Functions take a `Session`; the caller owns the transaction.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import CaptureGap, GapState


class GapReason(enum.StrEnum):
    LEADUP = "leadup"  # before the declaration: the bot was not capturing the channel yet
    DOWNTIME = "downtime"  # no replica was capturing (see bot.capture.watch)


@dataclass(frozen=True)
class PendingGap:
    start_at: datetime
    end_at: datetime
    fetched: int


def open_gap(
    session: Session,
    *,
    team_id: str,
    channel_id: str,
    reason: GapReason,
    start_at: datetime,
    end_at: datetime,
    now: datetime,
) -> int | None:
    """Record a gap to backfill; its id, or None if the same gap is recorded already (two
    replicas noticing the same downtime record it once)."""
    if end_at <= start_at:
        return None
    values: dict[str, object] = {
        "team_id": team_id,
        "channel_id": channel_id,
        "reason": reason.value,
        "start_at": start_at,
        "end_at": end_at,
        "state": GapState.PENDING.value,
        "history_done": False,
        "threads": [],
        "fetched": 0,
        "calls": 0,
        "created_at": now,
    }
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(CaptureGap)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["team_id", "channel_id", "reason", "start_at"])
        .returning(CaptureGap.id)
    )
    row = session.execute(statement).first()
    return int(row[0]) if row is not None else None


def pending_gaps(session: Session, team_id: str, channel_id: str) -> list[PendingGap]:
    """What is still being fetched for the channel, oldest first."""
    rows = session.scalars(
        select(CaptureGap)
        .where(
            CaptureGap.team_id == team_id,
            CaptureGap.channel_id == channel_id,
            CaptureGap.state == GapState.PENDING,
        )
        .order_by(CaptureGap.start_at)
    ).all()
    return [PendingGap(g.start_at, g.end_at, g.fetched) for g in rows]


def failed_gaps(session: Session, team_id: str, channel_id: str) -> list[CaptureGap]:
    return list(
        session.scalars(
            select(CaptureGap).where(
                CaptureGap.team_id == team_id,
                CaptureGap.channel_id == channel_id,
                CaptureGap.state == GapState.FAILED,
            )
        )
    )


CAPTURE_NOTICE_MARK = "are still being fetched from Slack"


def notice(gaps: list[PendingGap]) -> str | None:
    """The document's line about what is not in it yet (None when capture is complete)."""
    if not gaps:
        return None
    start, end = gaps[0].start_at, max(g.end_at for g in gaps)
    fetched = sum(g.fetched for g in gaps)
    so_far = f" ({fetched} fetched so far)" if fetched else ""
    return (
        f"Messages posted between {start:%Y-%m-%d %H:%M} and {end:%H:%M} UTC "
        f"{CAPTURE_NOTICE_MARK}{so_far}; this postmortem is regenerated when they are in."
    )
