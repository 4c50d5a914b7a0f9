"""Finding earlier incidents like this one, with the database's full-text search.

Each incident has a search document (title + timeline text) in `incident_search_docs`.
PostgreSQL ranks them with `tsvector`/`ts_rank` (a GIN index on the expression); SQLite mirrors
the documents into an FTS5 table and ranks with bm25. Both are created by migration 0004.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.core.visibility import may_show_in_incident_channel
from bot.postmortem.markdown import slack_to_markdown
from storage.models import EventKind, Incident, IncidentSearchDoc, TimelineEvent

MAX_TERMS = 12
_WORD = re.compile(r"[a-z0-9][a-z0-9_.-]{2,}")
STOPWORDS = frozenset(
    """the and for are was were with that this from have has had not but all any can its into
    out our you your they them then than there their what when where which who why how will
    would could should about after before again also just more most over under very incident
    declared status changed severity sev1 sev2 sev3 sev4 sev5 now still some been being did
    does doing done get got going see seeing looks like here let lets yes okay thanks""".split()
)


@dataclass(frozen=True)
class Match:
    incident: Incident
    shared_terms: list[str]


def document_for(session: Session, incident: Incident) -> str:
    events = session.scalars(  # automatic events are boilerplate, not meaning
        select(TimelineEvent.text).where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.kind.not_in((EventKind.STATUS, EventKind.FOLLOWUP)),
        )
    ).all()
    plain = [slack_to_markdown(t, {}) for t in (incident.title, *events)]
    return "\n".join(plain)


def terms_of(document: str, *, title: str = "") -> list[str]:
    """The most telling words: title words first, then the most frequent others."""

    def words(source: str) -> list[str]:
        return [w.strip(".-_") for w in _WORD.findall(source.lower()) if w not in STOPWORDS]

    ordered: list[str] = []
    for word in words(title):
        if word and word not in ordered:
            ordered.append(word)
    for word, _count in Counter(words(document)).most_common():
        if word and word not in ordered:
            ordered.append(word)
    return [w for w in ordered if w.replace(".", "").replace("-", "").isalnum()][:MAX_TERMS]


def refresh_document(session: Session, incident: Incident, *, now: datetime) -> str:
    """(Re)write the incident's search document, in both the table and SQLite's FTS mirror.

    One upsert: two generations indexing the same incident at once both succeed (the later one
    wins) instead of one failing on the primary key.
    """
    document = document_for(session, incident)
    values = {
        "incident_id": incident.id,
        "team_id": incident.team_id,
        "document": document,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(IncidentSearchDoc)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["incident_id"],
            set_={"document": document, "updated_at": now},
        )
    )
    if dialect == "sqlite":
        session.execute(
            text("DELETE FROM incident_search_fts WHERE rowid = :id"), {"id": incident.id}
        )
        session.execute(
            text("INSERT INTO incident_search_fts (rowid, document, team_id) VALUES (:id, :d, :t)"),
            {"id": incident.id, "d": document, "t": incident.team_id},
        )
    return document


def _missing(session: Session, team_id: str) -> list[Incident]:
    """Earlier incidents without a document yet (resolved without a postmortem)."""
    return list(
        session.scalars(
            select(Incident).where(
                Incident.team_id == team_id,
                ~select(IncidentSearchDoc.incident_id)
                .where(IncidentSearchDoc.incident_id == Incident.id)
                .exists(),
            )
        )
    )


def index_search_documents(session: Session, incident: Incident, *, now: datetime) -> None:
    """Bring the search documents of the incident's workspace up to date (in a transaction of
    its own, before gathering: the gathering transaction then only reads).

    Every document is written in incident id order, this incident's included: two generations
    in one workspace take their row locks in the same order, so they wait instead of
    deadlocking.
    """
    todo = {other.id: other for other in _missing(session, incident.team_id)}
    todo[incident.id] = incident
    for incident_id in sorted(todo):
        refresh_document(session, todo[incident_id], now=now)


def similar_incidents(session: Session, incident: Incident, *, limit: int = 5) -> list[Match]:
    """Earlier incidents of the workspace whose documents share the most telling words with
    this one's (`index_search_documents` first), among those whose content may be written into
    this incident's channel (bot.core.visibility): a public incident's postmortem never names a
    private one, and a channel shared with another organisation gets none."""
    doc = session.get(IncidentSearchDoc, incident.id)
    document = doc.document if doc is not None else document_for(session, incident)
    terms = terms_of(document, title=incident.title)
    if not terms:
        return []
    if incident.channel_shared:
        return []
    if session.get_bind().dialect.name == "postgresql":
        ids = _search_postgresql(session, incident, terms, limit)
    else:
        ids = _search_sqlite(session, incident, terms, limit)
    matches = []
    for incident_id in ids:
        other = session.get(Incident, incident_id)
        if other is None or not may_show_in_incident_channel(other, incident):
            continue
        other_doc = session.get(IncidentSearchDoc, incident_id)
        other_words = set(_WORD.findall((other_doc.document if other_doc else other.title).lower()))
        other_terms = {w.strip(".-_") for w in other_words}
        matches.append(Match(other, [t for t in terms if t in other_terms][:5]))
    return matches


def _search_postgresql(
    session: Session, incident: Incident, terms: list[str], limit: int
) -> list[int]:
    words = [re.sub(r"[^a-z0-9]", "", t) for t in terms]
    query = " | ".join(w for w in words if w)
    if not query:
        return []
    rows = session.execute(
        text(
            """
            SELECT incident_id FROM incident_search_docs
            WHERE team_id = :team AND incident_id <> :id
              AND incident_id IN (SELECT id FROM incidents WHERE team_id = :team
                                  AND (channel_private = false OR channel_id = :channel))
              AND to_tsvector('english', document) @@ to_tsquery('english', :q)
            ORDER BY ts_rank(to_tsvector('english', document), to_tsquery('english', :q)) DESC,
                     incident_id DESC
            LIMIT :limit
            """
        ),
        {
            "team": incident.team_id,
            "id": incident.id,
            "q": query,
            "limit": limit,
            "channel": incident.channel_id,
        },
    )
    return [int(r[0]) for r in rows]


def _search_sqlite(session: Session, incident: Incident, terms: list[str], limit: int) -> list[int]:
    query = " OR ".join('"' + t.replace('"', "") + '"' for t in terms)
    rows = session.execute(
        text(
            """
            SELECT rowid FROM incident_search_fts
            WHERE incident_search_fts MATCH :q AND team_id = :team AND rowid <> :id
              AND rowid IN (SELECT id FROM incidents WHERE team_id = :team
                            AND (channel_private = 0 OR channel_id = :channel))
            ORDER BY bm25(incident_search_fts), rowid DESC
            LIMIT :limit
            """
        ),
        {
            "q": query,
            "team": incident.team_id,
            "id": incident.id,
            "limit": limit,
            "channel": incident.channel_id,
        },
    )
    return [int(r[0]) for r in rows]
