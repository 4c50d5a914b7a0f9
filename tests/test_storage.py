"""Storage-level tests: each runs on SQLite and on PostgreSQL (when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from bot.core.errors import UserError
from bot.incidents.service import Workspace, change_status, declare_incident
from bot.timeline.service import list_events
from storage.db import Database
from storage.migrate import (
    SLACK_OAUTH_TABLES,
    alembic_config,
    current_revision,
    head_revision,
    include_name,
    include_slack_oauth_name,
    upgrade,
)
from storage.models import Base, EventKind, Incident, IncidentStatus, Severity

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
ACME = Workspace("T0001")


def _declare(db: Database, channel: str, *, team: Workspace = ACME, at: datetime = T0) -> Incident:
    with db.session() as session:
        return declare_incident(
            session,
            workspace=team,
            channel_id=channel,
            channel_private=False,
            commander_id="U1",
            title=f"trouble in {channel}",
            severity=None,
            now=at,
        )


def test_migrations_reach_head_and_match_the_models(db: Database) -> None:
    assert current_revision(db) == head_revision()
    upgrade(db)  # a second run is a no-op
    with db.engine.connect() as conn:
        diff = compare_metadata(
            MigrationContext.configure(
                conn, opts={"compare_type": True, "include_name": include_name}
            ),
            Base.metadata,
        )
    assert diff == []


def test_slack_oauth_tables_match_slack_sdks_own_definitions(db: Database) -> None:
    """Migration 0009 creates exactly what slack-sdk's SQLAlchemy OAuth stores expect (they are
    not in our models; a slack-sdk upgrade that changes them fails here and needs a migration)."""
    from bot.slack.oauth import installation_store, state_store

    stores = [installation_store(db, "any-client-id").metadata, state_store(db).metadata]
    assert {t for m in stores for t in m.tables} == SLACK_OAUTH_TABLES
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_slack_oauth_name}
        )
        diff = compare_metadata(context, stores)  # type: ignore[arg-type]
    assert diff == []


def test_numbers_are_sequential_per_team(db: Database) -> None:
    first = _declare(db, "C1")
    second = _declare(db, "C2")
    other_team = _declare(db, "C1", team=Workspace("T0002", "E1"))
    assert (first.key, second.key, other_team.key) == ("INC-1", "INC-2", "INC-1")
    assert other_team.enterprise_id == "E1"


def test_numbers_stay_unique_under_concurrent_declares(db: Database) -> None:
    numbers: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(index: int) -> None:
        try:
            for round_ in range(4):
                incident = _declare(db, f"C{index}-{round_}")
                with lock:
                    numbers.append(incident.number)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == list(range(1, 25))


def test_one_open_incident_per_channel_is_a_database_constraint(db: Database) -> None:
    _declare(db, "C1")
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(
            Incident(
                team_id="T0001",
                number=99,
                title="bypassing the check",
                severity=Severity.SEV3,
                status=IncidentStatus.ACTIVE,
                channel_id="C1",
                channel_private=False,
                commander_id="U2",
                declared_at=T0,
            )
        )


def test_second_declare_in_a_channel_is_refused_until_resolved(db: Database) -> None:
    first = _declare(db, "C1")
    with pytest.raises(UserError, match="already has an open incident: \\*INC-1\\*"):
        _declare(db, "C1")
    with db.session() as session:
        incident = session.get_one(Incident, first.id)
        change_status(session, incident, IncidentStatus.RESOLVED, by="U1", now=T0)
    assert _declare(db, "C1").key == "INC-2"


def test_times_are_timezone_aware_utc(db: Database) -> None:
    plus_two = datetime(2026, 11, 22, 11, 30, tzinfo=timezone(timedelta(hours=2)))
    incident = _declare(db, "C1", at=plus_two)
    with db.session() as session:
        loaded = session.get_one(Incident, incident.id)
        assert loaded.declared_at == datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
        assert loaded.declared_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        _declare(db, "C1", at=datetime(2026, 11, 22, 9, 0))


def test_status_changes_are_timeline_events(db: Database) -> None:
    incident = _declare(db, "C1")
    with db.session() as session:
        loaded = session.get_one(Incident, incident.id)
        change_status(
            session, loaded, IncidentStatus.MITIGATED, by="U2", now=T0 + timedelta(minutes=30)
        )
        change_status(
            session, loaded, IncidentStatus.RESOLVED, by="U3", now=T0 + timedelta(hours=2)
        )
    with db.session() as session:
        loaded = session.get_one(Incident, incident.id)
        events = list_events(session, loaded)
        assert [e.text for e in events] == [
            "Incident declared (SEV3): trouble in C1",
            "Status changed to mitigated",
            "Status changed to resolved",
        ]
        assert {e.kind for e in events} == {EventKind.STATUS}
        assert [e.author_id for e in events] == ["U1", "U2", "U3"]
        assert loaded.mitigated_at == T0 + timedelta(minutes=30)
        assert loaded.resolved_at == T0 + timedelta(hours=2)


def test_resolving_directly_sets_mitigated_too(db: Database) -> None:
    incident = _declare(db, "C1")
    with db.session() as session:
        loaded = session.get_one(Incident, incident.id)
        change_status(
            session, loaded, IncidentStatus.RESOLVED, by="U2", now=T0 + timedelta(hours=1)
        )
        with pytest.raises(UserError, match="already resolved"):
            change_status(session, loaded, IncidentStatus.RESOLVED, by="U2", now=T0)
    with db.session() as session:
        loaded = session.get_one(Incident, incident.id)
        assert loaded.mitigated_at == loaded.resolved_at == T0 + timedelta(hours=1)


def test_deleting_an_incident_removes_its_events(db: Database) -> None:
    incident = _declare(db, "C1")
    with db.session() as session:
        session.delete(session.get_one(Incident, incident.id))
    with db.session() as session:
        assert session.scalars(select(Incident)).all() == []
        from storage.models import TimelineEvent

        assert session.scalars(select(TimelineEvent)).all() == []


def test_migration_0011_classifies_existing_events_and_can_be_undone(database_url: str) -> None:
    """Events written before 0011: follow-up creations become `followup` events, and the
    declaration and status changes are linked to the key time they record; downgrading
    turns the follow-up events back into `status` and keeps every row."""
    database = Database(database_url)
    try:
        upgrade(database, "0009")
        with database.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO incidents (id, team_id, number, title, severity, status, "
                    "channel_id, channel_private, commander_id, declared_at) VALUES "
                    "(1, 'T1', 1, 'x', 'sev2', 'resolved', 'C1', false, 'U1', :t)"
                ),
                {"t": T0},
            )
            for event_id, kind, source, words in (
                (1, "status", "auto", "Incident declared (SEV2): x"),
                (2, "status", "auto", "Status changed to mitigated"),
                (3, "status", "auto", "Status changed to resolved"),
                (4, "status", "auto", "Follow-up INC-1-F1 created: Fix it"),
                (5, "note", "command", "Follow-up INC-1-F2 created: typed by a person"),
                (6, "status", "auto", "Severity changed from SEV3 to SEV2"),
            ):
                conn.execute(
                    text(
                        "INSERT INTO timeline_events (id, team_id, incident_id, occurred_at, "
                        "kind, text, recorded_at, source) VALUES "
                        "(:id, 'T1', 1, :t, :kind, :text, :t, :source)"
                    ),
                    {"id": event_id, "t": T0, "kind": kind, "text": words, "source": source},
                )
        upgrade(database)
        with database.engine.connect() as conn:
            rows = conn.execute(
                text("SELECT id, kind, key_time FROM timeline_events ORDER BY id")
            ).all()
        assert [tuple(r) for r in rows] == [
            (1, "status", "declared"),
            (2, "status", "mitigated"),
            (3, "status", "resolved"),
            (4, "followup", None),
            (5, "note", None),
            (6, "status", None),
        ]
        config = alembic_config()
        with database.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0009")
        with database.engine.connect() as conn:
            kinds = conn.execute(text("SELECT kind FROM timeline_events ORDER BY id")).scalars()
            assert list(kinds) == ["status"] * 4 + ["note", "status"]
    finally:
        database.dispose()
