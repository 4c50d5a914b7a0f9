"""The knowledge data layer on both databases: tags, the shared search index, list filters,
ranked search with snippets, paging, and private incidents kept from people outside them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.core.errors import UserError
from bot.incidents.service import Workspace, change_status, declare_incident
from bot.knowledge.access import Viewer, forget_memberships
from bot.knowledge.index import refresh_stale
from bot.knowledge.search import MARK_START, ListFilter, list_incidents, search_incidents
from bot.knowledge.tags import add_tags, labels_of, parse_tags, remove_tags, team_tags
from bot.timeline.service import record_event
from storage.db import Database
from storage.models import EventKind, Incident, IncidentStatus, Severity

T0 = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
TEAM = "T0001"


def _incident(db: Database, n: int, title: str, notes: list[str], *, private: bool = False) -> int:
    at = T0 + timedelta(days=n)
    with db.session() as session:
        incident = declare_incident(
            session,
            workspace=Workspace(TEAM),
            channel_id=f"C{n}",
            channel_private=private,
            commander_id="U1",
            title=title,
            severity=None,
            now=at,
        )
        for note in notes:
            record_event(
                session,
                incident,
                kind=EventKind.NOTE,
                text=note,
                author_id="U1",
                occurred_at=at,
                now=at,
            )
        if n % 2:
            change_status(session, incident, IncidentStatus.RESOLVED, by="U1", now=at)
        return incident.id


@pytest.fixture(autouse=True)
def _no_cached_memberships() -> None:
    forget_memberships()


def test_tags_are_normalised_and_refused_clearly() -> None:
    assert parse_tags(" Database, #payments  database") == ("database", "payments")
    for bad in ("<!channel>", "a" * 41, "-leading", "sql;drop"):
        with pytest.raises(UserError, match="isn't a tag"):
            parse_tags(bad)
    with pytest.raises(UserError, match="at least one"):
        parse_tags(" , ")


def test_search_ranks_pages_and_snippets_on_both_databases(db: Database) -> None:
    for n in range(1, 8):
        _incident(db, n, f"Incident number {n}", ["redis timeout once"] if n != 4 else [])
    best = _incident(db, 9, "Redis timeouts everywhere", ["redis redis timeout", "redis again"])
    viewer = Viewer(TEAM, "U1")
    with db.session() as session:
        assert refresh_stale(session, TEAM, now=T0 + timedelta(days=10)) == 8
        first = search_incidents(session, TEAM, "redis timeouts", viewer=viewer, limit=3)
        assert first.total == 7 and first.has_next and not first.has_previous
        assert first.hits[0].incident.id == best
        assert MARK_START in first.hits[0].snippet
        rest = search_incidents(session, TEAM, "redis timeout", viewer=viewer, offset=6, limit=3)
        assert len(rest.hits) == 1 and not rest.has_next
        seen = {h.incident.id for h in first.hits} | {h.incident.id for h in rest.hits}
        assert len(seen) == 4


def test_private_incidents_only_for_their_channel(db: Database) -> None:
    _incident(db, 1, "Leaked credentials rotated", ["secret rotation"], private=True)
    _incident(db, 3, "Public credentials page down", ["rotation docs"])
    with db.session() as session:
        refresh_stale(session, TEAM, now=T0 + timedelta(days=5))
        outsider = search_incidents(session, TEAM, "credentials", viewer=Viewer(TEAM, "U2"))
        assert [h.incident.key for h in outsider.hits] == ["INC-2"]
        inside = search_incidents(session, TEAM, "credentials", viewer=Viewer(TEAM, "U2", "C1"))
        assert {h.incident.key for h in inside.hits} == {"INC-1", "INC-2"}
        listed = list_incidents(session, TEAM, viewer=Viewer(TEAM, "U2"))
        assert [i.key for i in listed.items] == ["INC-2"]


def test_list_filters_and_tags(db: Database) -> None:
    ids = [_incident(db, n, f"Thing {n}", []) for n in range(1, 6)]
    now = T0 + timedelta(days=6)
    with db.session() as session:
        incident = session.get_one(Incident, ids[0])
        assert add_tags(session, incident, ("database", "payments"), by="U1", now=now) == [
            "database",
            "payments",
        ]
        assert add_tags(session, incident, ("database",), by="U1", now=now) == []
        assert remove_tags(session, incident, ("payments", "nope"), by="U1", now=now) == [
            "payments"
        ]
        assert labels_of(session, incident.id) == ["database"]
        assert team_tags(session, TEAM, viewer=Viewer(TEAM, "U1")) == [("database", 1)]
    viewer = Viewer(TEAM, "U1")
    with db.session() as session:
        tagged = list_incidents(session, TEAM, filter=ListFilter(tag="database"), viewer=viewer)
        assert [i.key for i in tagged.items] == ["INC-1"] and tagged.items[0].tags == ("database",)
        open_ = list_incidents(
            session, TEAM, filter=ListFilter(statuses=(IncidentStatus.ACTIVE,)), viewer=viewer
        )
        assert [i.key for i in open_.items] == ["INC-4", "INC-2"]
        sev = list_incidents(
            session, TEAM, filter=ListFilter(severities=(Severity.SEV1,)), viewer=viewer
        )
        assert sev.total == 0
        dated = list_incidents(
            session,
            TEAM,
            filter=ListFilter(since=T0 + timedelta(days=2), until=T0 + timedelta(days=4)),
            viewer=viewer,
            limit=1,
        )
        assert dated.total == 2 and [i.key for i in dated.items] == ["INC-3"]
        refresh_stale(session, TEAM, now=now)
        found = search_incidents(session, TEAM, "database", viewer=viewer)
        assert [h.incident.key for h in found.hits] == ["INC-1"]


def test_text_after_an_angle_bracket_is_still_searchable(db: Database) -> None:
    """PostgreSQL's text parser reads `<script> …` as the start of a tag and drops the rest of
    the document: a title or note holding pasted HTML must not hide what follows it."""
    found = _incident(db, 1, "Checkout <script> errors", ["a <b then the kafka lag grew"])
    viewer = Viewer(TEAM, "U1")
    with db.session() as session:
        refresh_stale(session, TEAM, now=T0 + timedelta(days=2))
        for words in ("errors", "kafka lag"):
            page = search_incidents(session, TEAM, words, viewer=viewer)
            assert [h.incident.id for h in page.hits] == [found], words
        snippet = search_incidents(session, TEAM, "kafka", viewer=viewer).hits[0].snippet
        assert "kafka" in snippet.lower()
