"""Claiming reminders in the database before sending them: exactly once, by construction.

A claim is a row keyed by (item kind, item id, reminder kind, day). Inserting it wins the right
to send; a concurrent sweep (another thread or replica) hits the unique key and skips. A claim
still `claimed` after LEASE was taken by a process that died before sending: a later sweep may
take it over with an atomic UPDATE. A failed send deletes the claim so the next sweep retries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from storage.models import ClaimState, ReminderClaim, ReminderItem, ReminderKind

LEASE = timedelta(minutes=10)  # far longer than one send; shorter than the sweep's day
KEEP_FOR = timedelta(days=60)


@dataclass(frozen=True, order=True)
class ClaimKey:
    item_kind: ReminderItem
    item_id: int
    reminder_kind: ReminderKind
    day: date


def _where(key: ClaimKey) -> ColumnElement[bool]:
    return and_(
        ReminderClaim.item_kind == key.item_kind,
        ReminderClaim.item_id == key.item_id,
        ReminderClaim.reminder_kind == key.reminder_kind,
        ReminderClaim.day == key.day,
    )


def already_claimed(session: Session, keys: Iterable[ClaimKey], *, now: datetime) -> set[ClaimKey]:
    """Keys taken by someone (sent, or claimed within the lease): for dry runs and to skip
    work early. Claiming still decides; this only reads."""
    taken: set[ClaimKey] = set()
    for key in keys:
        claim = session.scalar(select(ReminderClaim).where(_where(key)))
        if claim is not None and (
            claim.state is ClaimState.SENT or claim.claimed_at >= now - LEASE
        ):
            taken.add(key)
    return taken


def claim(
    session: Session, key: ClaimKey, *, team_id: str, recipient_id: str, now: datetime
) -> bool:
    """Take the reminder `key` for sending now; False when another sweep has it."""
    try:
        with session.begin_nested():
            session.add(
                ReminderClaim(
                    team_id=team_id,
                    item_kind=key.item_kind,
                    item_id=key.item_id,
                    reminder_kind=key.reminder_kind,
                    day=key.day,
                    recipient_id=recipient_id,
                    state=ClaimState.CLAIMED,
                    claimed_at=now,
                )
            )
        return True
    except IntegrityError:
        pass
    # Taken: take it over only if its claimer died before sending (an expired lease).
    result = session.execute(
        update(ReminderClaim)
        .where(
            _where(key),
            ReminderClaim.state == ClaimState.CLAIMED,
            ReminderClaim.claimed_at < now - LEASE,
        )
        .values(claimed_at=now, recipient_id=recipient_id)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


def mark_sent(session: Session, keys: Iterable[ClaimKey], *, claimed_at: datetime) -> None:
    for key in keys:
        session.execute(
            update(ReminderClaim)
            .where(_where(key), ReminderClaim.claimed_at == claimed_at)
            .values(state=ClaimState.SENT, sent_at=claimed_at)
            .execution_options(synchronize_session=False)
        )


def release(session: Session, keys: Iterable[ClaimKey], *, claimed_at: datetime) -> None:
    """Give claims back after a failed send: the next sweep retries them."""
    for key in keys:
        session.execute(
            delete(ReminderClaim)
            .where(
                _where(key),
                ReminderClaim.state == ClaimState.CLAIMED,
                ReminderClaim.claimed_at == claimed_at,
            )
            .execution_options(synchronize_session=False)
        )


def prune(session: Session, *, today: date) -> None:
    session.execute(
        delete(ReminderClaim)
        .where(ReminderClaim.day < today - KEEP_FOR)
        .execution_options(synchronize_session=False)
    )
