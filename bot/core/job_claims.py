"""Scheduled jobs that must run once per time slot however many replicas run them: the first
replica to insert the (job, slot) row runs it; the others skip."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import JobClaim

WORKER = f"{socket.gethostname()}:{os.getpid()}"


def slot_of(now: datetime, every: timedelta) -> str:
    """The time slot `now` falls in (slots of `every`, counted from the epoch)."""
    return str(int(now.timestamp() // every.total_seconds()))


def claim_slot(session: Session, job: str, now: datetime, every: timedelta) -> bool:
    """True for the first caller in this slot (commit right away: the claim is the lock)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(JobClaim)
        .values(job=job, slot=slot_of(now, every), claimed_by=WORKER, claimed_at=now)
        .on_conflict_do_nothing(index_elements=["job", "slot"])
        .returning(JobClaim.job)
    )
    won = session.execute(statement).first() is not None
    if won:
        session.execute(delete(JobClaim).where(JobClaim.claimed_at < now - timedelta(days=7)))
    return won
