"""Taking each signed HTTP request in once, across replicas: a replay (the same signature and
timestamp again, within the five minutes verification allows) is recognised in the database.

Slack does not send the same signed request twice: slash commands and interactivity are never
retried, and an Events API retry is signed again when it is sent. So a request seen before is
someone resending captured bytes, or a proxy resending a request it already delivered.

One exception is kept open on purpose: an Events API retry (`X-Slack-Retry-Num`) sent within
the same second as the attempt before it carries the same timestamp and body, so the same
signature. Its retry number is part of its digest, so it gets through to the event-id claim
(bot.slack.event_claims), which processes each event once yet lets a retry through when the
first attempt failed. A replayer can add at most the few retry numbers Slack uses, and each of
those ends at that claim too.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from storage.first_insert import FirstInsert
from storage.grouped_claims import GroupedClaims, Transaction
from storage.models import SeenSlackRequest

# Rows outlive their request's verification window by this much before housekeeping deletes
# them: another replica's clock may run behind ours (and it would still accept the request).
PRUNE_MARGIN = timedelta(minutes=10)
_FIRST_SEEN = FirstInsert(SeenSlackRequest, "digest")


def request_digest(timestamp: str, signature: str, retry: str = "") -> str:
    """What identifies a signed request: its signature covers the timestamp and the body; an
    Events API retry's number tells its attempts apart (see the module docstring)."""
    return hashlib.sha256(f"{timestamp}:{signature}:{retry}".encode()).hexdigest()


def request_claims(transaction: Transaction) -> GroupedClaims:
    """The claims of the requests arriving together, written in one statement per group
    (storage.grouped_claims); `transaction()` opens the write transaction a group goes in."""
    return GroupedClaims(_FIRST_SEEN, transaction)


def claim_request(claims: GroupedClaims, *, digest: str, expires_at: datetime) -> bool:
    """True the first time `digest` is seen; False for a replay. One statement (INSERT ... ON
    CONFLICT DO NOTHING RETURNING) for each group of requests, so two replicas given the same
    request cannot both win."""
    return claims.claim({"digest": digest, "expires_at": expires_at})


def prune_requests(session: Session, *, now: datetime) -> int:
    """Delete the rows whose requests no replica would accept any more."""
    result = session.execute(
        delete(SeenSlackRequest).where(SeenSlackRequest.expires_at < now - PRUNE_MARGIN)
    )
    return int(getattr(result, "rowcount", 0) or 0)
