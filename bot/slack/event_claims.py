"""Processing each Events API delivery once: Slack retries with the same event_id."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import ProcessedEvent

KEEP_CLAIMS = timedelta(days=1)  # Slack stops retrying after about 5 minutes


def claim_event(session: Session, *, team_id: str, event_id: str, now: datetime) -> bool:
    """True the first time an event id is seen. Call inside the transaction that processes the
    event, so a failure rolls the claim back and Slack's retry gets processed.

    One statement (INSERT ... ON CONFLICT DO NOTHING RETURNING): no savepoint round trips, and
    two replicas racing on the same delivery cannot both win.
    """
    values = {"event_id": event_id, "team_id": team_id, "received_at": now}
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(ProcessedEvent)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["event_id"])
            .returning(ProcessedEvent.event_id)
        )
        return session.execute(statement).first() is not None
    try:  # any other database: a savepoint around a plain insert
        with session.begin_nested():
            session.add(ProcessedEvent(**values))
        return True
    except IntegrityError:
        return False


def prune_claims(session: Session, *, now: datetime) -> int:
    result = session.execute(
        delete(ProcessedEvent).where(ProcessedEvent.received_at < now - KEEP_CLAIMS)
    )
    return int(getattr(result, "rowcount", 0) or 0)
