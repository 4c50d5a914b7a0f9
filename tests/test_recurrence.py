"""Recurrence: earlier incidents like this one, by full-text search (SQLite FTS5, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.incidents.service import Workspace, change_status, declare_incident
from bot.postmortem.recurrence import index_search_documents, similar_incidents, terms_of
from bot.timeline.service import record_event
from storage.db import Database
from storage.models import EventKind, Incident, IncidentStatus

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)


def _incident(db: Database, n: int, title: str, notes: list[str], team: str = "T0001") -> int:
    at = T0 + timedelta(days=n)
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(team),
            channel_id=f"C{n}",
            channel_private=False,
            commander_id="U1",
            title=title,
            severity=None,
            now=at,
        )
        for text in notes:
            record_event(
                session,
                incident,
                kind=EventKind.NOTE,
                text=text,
                author_id="U1",
                occurred_at=at,
                now=at,
            )
        change_status(
            session, incident, IncidentStatus.RESOLVED, by="U1", now=at + timedelta(hours=1)
        )
        return incident.id


def test_finds_earlier_incidents_sharing_words_and_says_which(db: Database) -> None:
    _incident(db, 1, "Redis cache evictions slow checkout", ["maxmemory reached on redis primary"])
    _incident(db, 2, "Login page typo", ["fixed the css"])
    _incident(db, 3, "Payments webhook retries", ["stripe webhook backlog"])
    _incident(db, 1, "Redis evictions everywhere", ["redis"], team="T0OTHER")  # another workspace
    current = _incident(db, 4, "Checkout latency from redis evictions", ["redis maxmemory again"])
    with db.session() as session:
        incident = session.get_one(Incident, current)
        index_search_documents(session, incident, now=T0 + timedelta(days=5))
        matches = similar_incidents(session, incident)
        keys = [m.incident.key for m in matches]
        assert keys[0] == "INC-1"
        assert "INC-4" not in keys  # never itself
        assert all(m.incident.team_id == "T0001" for m in matches)
        assert "INC-2" not in keys  # nothing in common
        assert {"redis", "evictions"} <= set(matches[0].shared_terms)


def test_no_earlier_incidents_means_no_matches(db: Database) -> None:
    only = _incident(db, 1, "First ever incident", ["something broke"])
    with db.session() as session:
        incident = session.get_one(Incident, only)
        index_search_documents(session, incident, now=T0)
        assert similar_incidents(session, incident) == []


def test_terms_put_title_words_first_and_drop_noise() -> None:
    terms = terms_of("the db was down\nthe db again\nstatus changed", title="Database outage")
    assert terms[:2] == ["database", "outage"]
    assert "the" not in terms and "status" not in terms and "db" not in terms  # < 3 letters


def test_shared_tags_make_incidents_similar_and_outrank_words_alone(db: Database) -> None:
    from bot.knowledge.tags import add_tags
    from bot.status.service import set_components

    words_only = _incident(db, 1, "Checkout latency spike", ["latency from the checkout api"])
    tagged = _incident(db, 2, "Nightly batch failed", ["cron job exited"])
    component = _incident(db, 3, "Card form broken", ["javascript error"])
    _incident(db, 4, "Office wifi down", ["router rebooted"])
    current = _incident(db, 5, "Checkout latency again", ["payments database slow"])
    now = T0 + timedelta(days=6)
    with db.session() as session:
        add_tags(session, session.get_one(Incident, tagged), ("payments",), by="U1", now=now)
        add_tags(session, session.get_one(Incident, current), ("payments",), by="U1", now=now)
        set_components(
            session, session.get_one(Incident, component), ("checkout",), by="U1", now=now
        )
        set_components(session, session.get_one(Incident, current), ("checkout",), by="U1", now=now)
    with db.session() as session:
        incident = session.get_one(Incident, current)
        index_search_documents(session, incident, now=now)
        matches = similar_incidents(session, incident)
        by_id = {m.incident.id: m for m in matches}
        assert by_id[tagged].shared_tags == ["payments"]  # no words in common, same tag
        assert by_id[component].shared_tags == ["checkout"]  # components count as tags
        assert by_id[words_only].shared_tags == [] and "latency" in by_id[words_only].shared_terms
        assert len(matches) == 3  # the wifi outage shares nothing
        assert matches[-1].incident.id == words_only  # words alone rank below a shared tag
