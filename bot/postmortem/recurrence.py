"""Finding earlier incidents like this one, with the database's full-text search.

Each incident has a search document in `incident_search_docs` (bot.knowledge.index, shared
with `/incident search`). PostgreSQL ranks them with `tsvector`/`ts_rank` (a GIN-indexed
stored vector); SQLite mirrors the documents into an FTS5 table and ranks with bm25.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, text, union
from sqlalchemy.orm import Session

from bot.core.visibility import may_show_in_incident_channel
from bot.knowledge.index import document_for, documents_due, write_documents
from bot.knowledge.tags import labels_of
from storage.models import Incident, IncidentComponent, IncidentSearchDoc, IncidentTag

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
    shared_tags: list[str] = field(default_factory=list)


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


def index_search_documents(session: Session, incident: Incident, *, now: datetime) -> None:
    """Read and write the search documents in one transaction (the command line's offline
    generation; the bot's generation reads them in a transaction that only reads, then writes
    them in a short one: `documents_due`, `write_documents`)."""
    write_documents(session, documents_due(session, incident), now=now)


def _sharing_labels(session: Session, incident: Incident, labels: list[str]) -> dict[int, set[str]]:
    """Other incidents of the workspace carrying any of `labels` (free tags or components)."""
    shared: dict[int, set[str]] = {}
    if not labels:
        return shared
    for other_id, label in session.execute(
        union(
            select(IncidentTag.incident_id, IncidentTag.tag).where(
                IncidentTag.team_id == incident.team_id,
                IncidentTag.tag.in_(labels),
                IncidentTag.incident_id != incident.id,
            ),
            select(IncidentComponent.incident_id, IncidentComponent.component).where(
                IncidentComponent.team_id == incident.team_id,
                IncidentComponent.component.in_(labels),
                IncidentComponent.incident_id != incident.id,
            ),
        )
    ):
        shared.setdefault(int(other_id), set()).add(str(label))
    return shared


def similar_incidents(session: Session, incident: Incident, *, limit: int = 5) -> list[Match]:
    """Earlier incidents of the workspace like this one: those sharing its tags (free tags and
    components) and those whose documents share its most telling words (written first:
    `bot.knowledge.index.write_documents`). Each shared tag counts as much as being found by the
    words; ties go to the better text match, then the newer incident. Only incidents whose
    content may be written into this incident's channel (bot.core.visibility) are candidates: a
    public incident's postmortem never names a private one, and a channel shared with another
    organisation gets none."""
    if incident.channel_shared:
        return []
    doc = session.get(IncidentSearchDoc, incident.id)
    document = doc.document if doc is not None else document_for(session, incident)
    terms = terms_of(document, title=incident.title)
    by_words: list[int] = []
    if terms:
        if session.get_bind().dialect.name == "postgresql":
            by_words = _search_postgresql(session, incident, terms, limit * 4)
        else:
            by_words = _search_sqlite(session, incident, terms, limit * 4)
    by_tags = _sharing_labels(session, incident, labels_of(session, incident.id))
    position = {incident_id: n for n, incident_id in enumerate(by_words)}

    def score(incident_id: int) -> tuple[int, int, int]:
        found = len(by_tags.get(incident_id, ())) + (1 if incident_id in position else 0)
        return (-found, position.get(incident_id, len(position)), -incident_id)

    matches: list[Match] = []
    for incident_id in sorted(set(by_words) | set(by_tags), key=score):
        if len(matches) == limit:
            break
        other = session.get(Incident, incident_id)
        if other is None or not may_show_in_incident_channel(other, incident):
            continue
        other_doc = session.get(IncidentSearchDoc, incident_id)
        other_words = set(_WORD.findall((other_doc.document if other_doc else other.title).lower()))
        other_terms = {w.strip(".-_") for w in other_words}
        matches.append(
            Match(
                other,
                [t for t in terms if t in other_terms][:5],
                sorted(by_tags.get(incident_id, ())),
            )
        )
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
              AND search_vector @@ to_tsquery('english', :q)
            ORDER BY ts_rank(search_vector, to_tsquery('english', :q)) DESC,
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
