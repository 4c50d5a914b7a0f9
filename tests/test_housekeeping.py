"""Hourly housekeeping: tables that would otherwise only grow are pruned, and only of what is
past its use (Events API claims after Slack's retry window, OAuth states that expired)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from bot.core.clock import fixed_clock
from bot.scheduler import HOUSEKEEPING_JOB, run_housekeeping, start_scheduler
from bot.services import Services
from bot.slack.client import make_web_client
from bot.slack.event_claims import claim_event
from bot.slack.oauth import state_store
from bot.slack.request_replays import PRUNE_MARGIN, claim_request, request_claims, request_digest
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import ProcessedEvent, SeenSlackRequest

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _states(db: Database) -> list[str]:
    table = state_store(db).oauth_states
    with db.engine.connect() as conn:
        return sorted(row.state for row in conn.execute(select(table.c.state)))


def test_housekeeping_prunes_old_event_claims_and_expired_oauth_states(
    db: Database, slack: FakeSlack
) -> None:
    with db.session() as session:
        assert claim_event(session, team_id="T1", event_id="Ev-old", now=NOW - timedelta(days=2))
        assert claim_event(session, team_id="T1", event_id="Ev-new", now=NOW - timedelta(hours=1))
    store = state_store(db)
    table = store.oauth_states
    with db.engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {
                    "state": "expired",
                    "expire_at": (NOW - timedelta(minutes=1)).replace(tzinfo=None),
                },
                {"state": "live", "expire_at": (NOW + timedelta(minutes=9)).replace(tzinfo=None)},
            ],
        )
    services = Services(settings=sandbox_settings(slack, db.url), db=db, clock=fixed_clock(NOW))

    run_housekeeping(services)

    with db.session() as session:
        kept = session.scalars(select(ProcessedEvent.event_id)).all()
    assert kept == ["Ev-new"]
    assert _states(db) == ["live"]
    run_housekeeping(services)  # idempotent: nothing more to delete, nothing fails
    with db.session() as session:
        assert session.scalar(select(func.count()).select_from(ProcessedEvent)) == 1


def test_the_scheduler_runs_housekeeping(db: Database, slack: FakeSlack) -> None:
    services = Services(settings=sandbox_settings(slack, db.url), db=db)
    client = make_web_client(services.settings)
    scheduler = start_scheduler(services, client, first_run_in=timedelta(hours=1))
    try:
        job = scheduler.get_job(HOUSEKEEPING_JOB)
        assert job is not None
        assert job.trigger.interval == timedelta(hours=1)
    finally:
        scheduler.shutdown(wait=True)


def test_housekeeping_prunes_seen_requests_once_no_replica_would_accept_them(
    db: Database, slack: FakeSlack
) -> None:
    """A signed request is remembered until its timestamp is too old to verify anywhere (its
    window, plus a margin for replicas whose clocks run behind); then it may go."""
    claims = request_claims(db.single_statement)
    for name, expires in (
        ("long-gone", NOW - timedelta(hours=2)),
        ("within-margin", NOW - PRUNE_MARGIN + timedelta(minutes=1)),
        ("live", NOW + timedelta(minutes=4)),
    ):
        digest = request_digest(name, "v0=" + "0" * 64)
        assert claim_request(claims, digest=digest, expires_at=expires)
    services = Services(settings=sandbox_settings(slack, db.url), db=db, clock=fixed_clock(NOW))

    run_housekeeping(services)

    with db.session() as session:
        kept = set(session.scalars(select(SeenSlackRequest.digest)))
    assert kept == {request_digest(name, "v0=" + "0" * 64) for name in ("within-margin", "live")}
