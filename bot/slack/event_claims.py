"""Processing each Events API delivery once: Slack retries with the same event_id."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.first_insert import FirstInsert
from storage.models import ProcessedEvent

KEEP_CLAIMS = timedelta(days=1)  # Slack stops retrying after about 5 minutes
_FIRST_EVENT = FirstInsert(ProcessedEvent, "event_id")


def claim_event(session: Session, *, team_id: str, event_id: str, now: datetime) -> bool:
    """True the first time an event id is seen. Call inside the transaction that processes the
    event, so a failure rolls the claim back and Slack's retry gets processed.

    One statement (INSERT ... ON CONFLICT DO NOTHING RETURNING): no savepoint round trips, and
    two replicas racing on the same delivery cannot both win.
    """
    return _FIRST_EVENT(session, {"event_id": event_id, "team_id": team_id, "received_at": now})


def prune_claims(session: Session, *, now: datetime) -> int:
    result = session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.received_at < now - KEEP_CLAIMS)
    )
    return int(getattr(result, "rowcount", 0) or 0)
