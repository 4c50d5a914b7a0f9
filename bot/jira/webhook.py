"""`POST /jira/webhook`: Jira Cloud's signed deliveries, each handled once.

Jira signs the raw body with the webhook's secret (`X-Hub-Signature: sha256=<hex HMAC-SHA256>`)
and retries a delivery with the same `X-Atlassian-Webhook-Identifier`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from storage.models import JiraWebhookDelivery

KEEP_DELIVERIES = timedelta(days=2)  # Jira retries for about half an hour


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Constant-time check of `X-Hub-Signature` against HMAC-SHA256(secret, raw body)."""
    if not secret or not header:
        return False
    scheme, _, received = header.strip().partition("=")
    if scheme.lower() != "sha256" or not received:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.strip().lower())


def claim_delivery(session: Session, identifier: str, now: datetime) -> bool:
    """True the first time this delivery is seen (one INSERT ... ON CONFLICT DO NOTHING)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(JiraWebhookDelivery)
        .values(identifier=identifier[:128], received_at=now)
        .on_conflict_do_nothing(index_elements=["identifier"])
        .returning(JiraWebhookDelivery.identifier)
    )
    return session.execute(statement).first() is not None


def release_delivery(session: Session, identifier: str) -> None:
    """Forget a delivery whose processing failed, so Jira's retry is processed."""
    session.execute(
        delete(JiraWebhookDelivery).where(JiraWebhookDelivery.identifier == identifier[:128])
    )


def prune_deliveries(session: Session, now: datetime) -> None:
    session.execute(
        delete(JiraWebhookDelivery).where(JiraWebhookDelivery.received_at < now - KEEP_DELIVERIES)
    )
