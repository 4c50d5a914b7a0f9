"""Knowing when capture was down: each replica beats a heartbeat in the database; when a beat
finds that no replica had beaten for a while (every process was down, or the database was),
live capture missed that stretch in every incident channel open then, and a gap is recorded
for each, to be backfilled (bot.capture.flows).

The first replica to notice records the gaps; the others find them recorded (a unique key per
channel and start). Slack's own retries cover the shortest outages, but a gap is cheap: a
page of history per channel.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.capture.flows import fill_gap
from bot.capture.gaps import GapReason
from bot.core.outbox import utc_now
from bot.services import Services
from storage.models import CaptureHeartbeat, Incident

log = logging.getLogger("postmortem_bot.capture")

WORKER = f"{socket.gethostname()}:{os.getpid()}"
BEAT_EVERY = timedelta(seconds=30)
GAP_AFTER = timedelta(seconds=90)  # three missed beats
KEEP_BEATS = timedelta(days=7)


def beat(services: Services, *, worker: str = WORKER, now: datetime | None = None) -> int:
    """Record this replica's heartbeat; if nobody had beaten for GAP_AFTER, record the gap in
    every incident channel that was open during it. Returns how many gaps were recorded."""
    now = now or utc_now()
    with services.db.session() as session:
        last = session.scalar(select(func.max(CaptureHeartbeat.last_seen)))
        recorded = 0
        if last is not None and now - last > GAP_AFTER:
            recorded = _record_downtime(session, since=last, until=now)
            log.warning(
                "no replica was capturing from %s to %s: %d channel(s) will be backfilled",
                f"{last:%Y-%m-%d %H:%M:%S}",
                f"{now:%H:%M:%S}",
                recorded,
            )
        _upsert_beat(session, worker, now)
        return recorded


def _record_downtime(session: Session, *, since: datetime, until: datetime) -> int:
    incidents = session.scalars(
        select(Incident)
        .where(
            Incident.declared_at < until,
            or_(Incident.resolved_at.is_(None), Incident.resolved_at > since),
        )
        .order_by(Incident.id)
    ).all()
    recorded = 0
    for incident in incidents:
        gap = fill_gap(
            session,
            team_id=incident.team_id,
            channel_id=incident.channel_id,
            reason=GapReason.DOWNTIME,
            start_at=max(since, incident.declared_at),
            end_at=until,
            now=until,
        )
        recorded += gap is not None
    return recorded


def _upsert_beat(session: Session, worker: str, now: datetime) -> None:
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        insert(CaptureHeartbeat)
        .values(worker=worker, started_at=now, last_seen=now)
        .on_conflict_do_update(index_elements=["worker"], set_={"last_seen": now})
    )
    session.execute(
        CaptureHeartbeat.__table__.delete().where(  # type: ignore[attr-defined]
            CaptureHeartbeat.last_seen < now - KEEP_BEATS
        )
    )
