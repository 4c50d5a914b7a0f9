"""Each incident's search document: the one full-text index search and recurrence share.

A document is the incident's title, its tags and components, what people put on its timeline,
its channel's messages, its follow-ups and the people's sections of its latest postmortem
(summary, root cause, lessons: the bot's own sections only repeat the rest, and "Similar
earlier incidents" would make every incident match its neighbours). It is stored in
`incident_search_docs`; PostgreSQL keeps its `tsvector` in a GIN-indexed stored column, SQLite
mirrors it into the FTS5 table `incident_search_fts` (Porter stemming, migration 0017).

Documents are rewritten when a postmortem is generated, when tags change, and, before a
search, for incidents that have none yet or that are still moving (open, or resolved in the
last two weeks) and changed since their document was written.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, exists, func, or_, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.knowledge.tags import labels_of
from bot.postmortem.document import Owner, split_document
from bot.postmortem.markdown import slack_to_markdown
from storage.models import (
    CapturedMessage,
    EventKind,
    FollowUp,
    Incident,
    IncidentSearchDoc,
    IncidentStatus,
    Postmortem,
    PostmortemVersion,
    TimelineEvent,
)

MAX_DOCUMENT = 200_000  # characters: PostgreSQL's tsvector stops at 1 MB; ranking stays cheap
LEADUP = timedelta(hours=1)  # channel messages this long before the declaration count
STILL_MOVING = timedelta(days=14)  # resolved this recently: follow-ups and writing still change
REFRESH_PER_SEARCH = 20  # bound on documents rewritten before one search (the ack is 3 s)


# PostgreSQL's parser reads `<word …` as an XML tag and drops what follows an unclosed one, so
# pasted HTML would hide the rest of a document; look-alike angle quotes keep it searchable and
# still read naturally in a snippet.
_NOT_MARKUP = str.maketrans({"<": "\u2039", ">": "\u203a"})


def _plain(texts: list[str]) -> list[str]:
    return [slack_to_markdown(t, {}) for t in texts if t]


def _channel_log(session: Session, incident: Incident) -> list[str]:
    since = incident.declared_at - LEADUP
    query = select(CapturedMessage.text).where(
        CapturedMessage.team_id == incident.team_id,
        CapturedMessage.channel_id == incident.channel_id,
        CapturedMessage.deleted_at.is_(None),
        CapturedMessage.posted_at >= since,
    )
    if incident.resolved_at is not None:
        query = query.where(CapturedMessage.posted_at <= incident.resolved_at + STILL_MOVING)
    return list(session.scalars(query.order_by(CapturedMessage.posted_at).limit(5000)))


def _postmortem_text(session: Session, incident: Incident) -> str:
    version = session.scalars(
        select(PostmortemVersion)
        .join(Postmortem, Postmortem.id == PostmortemVersion.postmortem_id)
        .where(Postmortem.incident_id == incident.id)
        .order_by(PostmortemVersion.version.desc())
        .limit(1)
    ).first()
    if version is None:
        return ""
    if not version.marked:
        return version.markdown
    document = split_document(version.marked)
    kept = [s for s in document.sections if s.owner is Owner.PEOPLE]
    return "\n".join("\n".join([s.heading, *(b.markdown for b in s.body)]) for s in kept)


def document_for(session: Session, incident: Incident) -> str:
    events = session.scalars(  # automatic events are boilerplate, not meaning
        select(TimelineEvent.text)
        .where(
            TimelineEvent.incident_id == incident.id,
            TimelineEvent.kind.not_in((EventKind.STATUS, EventKind.FOLLOWUP)),
        )
        .order_by(TimelineEvent.occurred_at)
    ).all()
    followups = session.execute(
        select(FollowUp.title, FollowUp.description)
        .where(FollowUp.incident_id == incident.id)
        .order_by(FollowUp.number)
    ).all()
    parts = [
        *_plain([incident.title]),
        " ".join(labels_of(session, incident.id)),
        *_plain(list(events)),
        *_plain([f"{title}\n{description}" for title, description in followups]),
        _postmortem_text(session, incident),
        *_plain(_channel_log(session, incident)),
    ]
    return "\n".join(p for p in parts if p)[:MAX_DOCUMENT].translate(_NOT_MARKUP)


def refresh_document(session: Session, incident: Incident, *, now: datetime) -> str:
    """(Re)write the incident's search document, in both the table and SQLite's FTS mirror."""
    document = document_for(session, incident)
    write_document(session, SearchDocument(incident.id, incident.team_id, document), now=now)
    return document


@dataclass(frozen=True)
class SearchDocument:
    incident_id: int
    team_id: str
    text: str


def write_document(session: Session, document: SearchDocument, *, now: datetime) -> None:
    """Store a search document read earlier (`now`: when that read began, so that anything
    written since makes it stale again). One upsert: two writers indexing the same incident at
    once both succeed (the later one wins) instead of one failing on the primary key."""
    values = {
        "incident_id": document.incident_id,
        "team_id": document.team_id,
        "document": document.text,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(IncidentSearchDoc)
        .values(**values)
        .on_conflict_do_update(
            index_elements=["incident_id"],
            set_={"document": document.text, "updated_at": now},
        )
    )
    if dialect == "sqlite":
        session.execute(
            text("DELETE FROM incident_search_fts WHERE rowid = :id"),
            {"id": document.incident_id},
        )
        session.execute(
            text("INSERT INTO incident_search_fts (rowid, document, team_id) VALUES (:id, :d, :t)"),
            {"id": document.incident_id, "d": document.text, "t": document.team_id},
        )


def _changed_since_indexed() -> ColumnElement[bool]:
    """A WHERE clause on `Incident` joined with its document: something the document is made
    of was written after it (a timeline event added or edited, a channel message captured,
    edited or deleted, a follow-up changed). Tags are re-indexed when they change; postmortems
    when generated. Removing a timeline event leaves no trace to see: it waits for the next
    change."""
    since = IncidentSearchDoc.updated_at
    return or_(
        exists().where(
            TimelineEvent.incident_id == Incident.id,
            or_(TimelineEvent.recorded_at > since, TimelineEvent.edited_at > since),
        ),
        exists().where(
            CapturedMessage.team_id == Incident.team_id,
            CapturedMessage.channel_id == Incident.channel_id,
            or_(
                CapturedMessage.captured_at > since,
                CapturedMessage.edited_at > since,
                CapturedMessage.deleted_at > since,
            ),
        ),
        exists().where(FollowUp.incident_id == Incident.id, FollowUp.updated_at > since),
    )


def _stale(team_id: str, now: datetime) -> Select[Incident]:
    """Incidents whose document is missing, or behind while they still move (open, or
    resolved within `STILL_MOVING`): only those few are checked for changes."""
    doc = IncidentSearchDoc
    moving = or_(
        Incident.status != IncidentStatus.RESOLVED,
        Incident.resolved_at >= now - STILL_MOVING,
    )
    return (
        select(Incident)
        .outerjoin(doc, doc.incident_id == Incident.id)
        .where(
            Incident.team_id == team_id,
            or_(doc.incident_id.is_(None), and_(moving, _changed_since_indexed())),
        )
        .order_by(func.coalesce(doc.updated_at, Incident.declared_at), Incident.id)
    )


def has_stale(session: Session, team_id: str, *, now: datetime) -> bool:
    """Whether `refresh_stale` has anything to do (asked in a read-only transaction, so that
    searches don't queue for SQLite's write lock when nothing needs writing)."""
    return bool(session.scalar(select(_stale(team_id, now).order_by(None).exists())))


def refresh_stale(session: Session, team_id: str, *, now: datetime) -> int:
    """Before a search: rewrite the documents that are behind (`_stale`), at most
    `REFRESH_PER_SEARCH`, oldest first, in incident id order (two writers take row locks in
    the same order). Returns how many were rewritten."""
    todo = sorted(
        session.scalars(_stale(team_id, now).limit(REFRESH_PER_SEARCH)), key=lambda i: i.id
    )
    for incident in todo:
        refresh_document(session, incident, now=now)
    return len(todo)


def documents_due(session: Session, incident: Incident) -> list[SearchDocument]:
    """The documents to write before a postmortem is generated: every one of the incident's
    workspace that is missing, and this incident's, in incident id order (two writers take row
    locks in the same order: no deadlocks). Read only: `write_document` stores them."""
    missing = session.scalars(
        select(Incident).where(
            Incident.team_id == incident.team_id,
            ~select(IncidentSearchDoc.incident_id)
            .where(IncidentSearchDoc.incident_id == Incident.id)
            .exists(),
        )
    )
    todo = {other.id: other for other in missing}
    todo[incident.id] = incident
    return [
        SearchDocument(i, todo[i].team_id, document_for(session, todo[i])) for i in sorted(todo)
    ]


def write_documents(session: Session, documents: list[SearchDocument], *, now: datetime) -> None:
    for document in documents:
        write_document(session, document, now=now)
