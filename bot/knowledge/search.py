"""Listing and searching past incidents, for Slack (`/incident list`, `/incident search`) and
the web archive: one query each, filtered by what the viewer may see (bot.knowledge.access).

Search uses the database's own full-text search over each incident's document
(bot.knowledge.index): PostgreSQL `to_tsvector`/`ts_rank`/`ts_headline` (the GIN index of
migration 0004), SQLite FTS5 with `bm25` and `snippet`. Results are ranked, then newest first;
pages are `offset`/`limit` with the total, so a caller can offer Next and Previous.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.knowledge.access import Viewer, viewer_filter
from bot.knowledge.tags import has_label, labels_by_incident
from storage.models import (
    FollowUp,
    Incident,
    IncidentSearchDoc,
    IncidentStatus,
    Postmortem,
    PostmortemStatus,
    Severity,
)

# Around the matched words in a snippet (private-use characters: they never occur in what people
# write, and a caller turns them into its own highlighting after escaping the text).
MARK_START = "\ue000"
MARK_END = "\ue001"
MAX_PAGE = 50
MAX_QUERY_TERMS = 16
MAX_QUERY_LENGTH = 500
_CHUNK = re.compile(r'"([^"]*)"?|(\S+)')
_TOKEN = re.compile(r"[^\W_]+")  # letters and digits, in any script (as both tokenizers split)
_FTS = table("incident_search_fts", column("rowid"), column("document"), column("team_id"))
_FTS_NAME: ColumnElement[Any] = literal_column("incident_search_fts")
_ENGLISH: ColumnElement[Any] = literal_column(
    "'english'"
)  # inline, so the planner sees the GIN index's expression
_PG_HEADLINE = (
    f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=18, MinWords=6, "
    'MaxFragments=2, FragmentDelimiter=" … "'
)


@dataclass(frozen=True)
class ListFilter:
    """What the archive can be narrowed to; every field empty: everything."""

    statuses: tuple[IncidentStatus, ...] = ()
    severities: tuple[Severity, ...] = ()
    tag: str | None = None  # a free tag or a component (normalised)
    since: datetime | None = None  # declared at or after
    until: datetime | None = None  # declared before
    involving: str | None = None  # a user: commander, postmortem owner, or follow-up owner


@dataclass(frozen=True)
class IncidentSummary:
    """One incident as lists show it."""

    id: int
    key: str
    title: str  # as Slack delivered it (render with safe_mrkdwn)
    severity: Severity
    status: IncidentStatus
    channel_id: str
    channel_private: bool
    commander_id: str
    declared_at: datetime
    resolved_at: datetime | None
    tags: tuple[str, ...]  # free tags and components
    postmortem_status: PostmortemStatus | None
    postmortem_url: str | None


@dataclass(frozen=True)
class Hit:
    incident: IncidentSummary
    snippet: str  # plain text with MARK_START/MARK_END around matches (escape before showing)
    rank: float  # higher is better


@dataclass(frozen=True)
class IncidentPage:
    items: list[IncidentSummary]
    offset: int
    limit: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


@dataclass(frozen=True)
class SearchQuery:
    """Words people searched for: each term is one word, or several that must be adjacent
    (a quoted phrase, or `api-gateway`)."""

    terms: tuple[tuple[str, ...], ...]
    text: str = field(default="")

    @property
    def words(self) -> list[str]:
        return [w for term in self.terms for w in term]


@dataclass(frozen=True)
class SearchPage:
    query: SearchQuery
    hits: list[Hit]
    offset: int
    limit: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.hits) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


def parse_query(words: str) -> SearchQuery:
    """`disk "api gateway" 5xx` → terms (disk) (api gateway) (5xx); refuses what has no words."""
    words = words.strip()
    if len(words) > MAX_QUERY_LENGTH:
        raise UserError(
            f"That search is {len(words)} characters; keep it under {MAX_QUERY_LENGTH}."
        )
    terms: list[tuple[str, ...]] = []
    for match in _CHUNK.finditer(words):
        chunk = match.group(1) if match.group(1) is not None else match.group(2)
        tokens = tuple(t.lower() for t in _TOKEN.findall(chunk))
        if tokens and tokens not in terms:
            terms.append(tokens)
    if not terms:
        raise UserError(
            "Give me words to search for, for example `/incident search redis timeout` "
            '(quote a phrase: `/incident search "connection pool"`).'
        )
    if len(terms) > MAX_QUERY_TERMS:
        raise UserError(f"That is {len(terms)} search terms; use at most {MAX_QUERY_TERMS}.")
    return SearchQuery(tuple(terms), words)


def _page_bounds(offset: int, limit: int) -> tuple[int, int]:
    return max(0, offset), min(max(1, limit), MAX_PAGE)


def _filtered(query: Select[Any], team_id: str, flt: ListFilter, viewer: Viewer) -> Select[Any]:
    conditions: list[ColumnElement[bool]] = [Incident.team_id == team_id, viewer_filter(viewer)]
    if flt.statuses:
        conditions.append(Incident.status.in_(flt.statuses))
    if flt.severities:
        conditions.append(Incident.severity.in_(flt.severities))
    if flt.tag:
        conditions.append(has_label(flt.tag))
    if flt.since is not None:
        conditions.append(Incident.declared_at >= flt.since)
    if flt.until is not None:
        conditions.append(Incident.declared_at < flt.until)
    if flt.involving:
        person = flt.involving
        conditions.append(
            or_(
                Incident.commander_id == person,
                exists().where(
                    Postmortem.incident_id == Incident.id, Postmortem.owner_id == person
                ),
                exists().where(FollowUp.incident_id == Incident.id, FollowUp.owner_id == person),
            )
        )
    return query.where(and_(*conditions))


def _summaries(session: Session, incidents: list[Incident]) -> list[IncidentSummary]:
    ids = [i.id for i in incidents]
    labels = labels_by_incident(session, ids)
    postmortems: dict[int, tuple[PostmortemStatus, str | None]] = {}
    if ids:
        for incident_id, status, url in session.execute(
            select(Postmortem.incident_id, Postmortem.status, Postmortem.document_url).where(
                Postmortem.incident_id.in_(ids)
            )
        ):
            postmortems[incident_id] = (status, url)
    out = []
    for incident in incidents:
        pm_status, pm_url = postmortems.get(incident.id, (None, None))
        out.append(
            IncidentSummary(
                id=incident.id,
                key=incident.key,
                title=incident.title,
                severity=incident.severity,
                status=incident.status,
                channel_id=incident.channel_id,
                channel_private=incident.channel_private,
                commander_id=incident.commander_id,
                declared_at=incident.declared_at,
                resolved_at=incident.resolved_at,
                tags=tuple(labels.get(incident.id, [])),
                postmortem_status=pm_status,
                postmortem_url=pm_url,
            )
        )
    return out


def list_incidents(
    session: Session,
    team_id: str,
    *,
    filter: ListFilter = ListFilter(),  # noqa: A002 - the archive's word for it
    viewer: Viewer,
    offset: int = 0,
    limit: int = 10,
) -> IncidentPage:
    """The viewer's incidents matching `filter`, newest first."""
    offset, limit = _page_bounds(offset, limit)
    base = _filtered(select(Incident), team_id, filter, viewer)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    incidents = list(
        session.scalars(
            base.order_by(Incident.declared_at.desc(), Incident.id.desc())
            .offset(offset)
            .limit(limit)
        )
    )
    return IncidentPage(_summaries(session, incidents), offset, limit, total)


def search_incidents(
    session: Session,
    team_id: str,
    words: str | SearchQuery,
    *,
    viewer: Viewer,
    filter: ListFilter = ListFilter(),  # noqa: A002
    offset: int = 0,
    limit: int = 10,
) -> SearchPage:
    """The viewer's incidents whose documents contain every term, best match first."""
    query = words if isinstance(words, SearchQuery) else parse_query(words)
    offset, limit = _page_bounds(offset, limit)
    if session.get_bind().dialect.name == "postgresql":
        rows, total = _search_postgresql(session, team_id, query, viewer, filter, offset, limit)
    else:
        rows, total = _search_sqlite(session, team_id, query, viewer, filter, offset, limit)
    incidents = [row[0] for row in rows]
    summaries = _summaries(session, incidents)
    hits = [
        Hit(summary, _tidy_snippet(str(row[2] or "")), float(row[1] or 0.0))
        for summary, row in zip(summaries, rows, strict=True)
    ]
    return SearchPage(query, hits, offset, limit, total)


def _tidy_snippet(snippet: str) -> str:
    return re.sub(r"\s+", " ", snippet).strip()


def _pg_tsquery(query: SearchQuery) -> ColumnElement[Any]:
    singles = " ".join(t[0] for t in query.terms if len(t) == 1)
    parts: list[ColumnElement[Any]] = []
    if singles:
        parts.append(func.plainto_tsquery(_ENGLISH, bindparam("q_words", singles)))
    for n, phrase in enumerate(t for t in query.terms if len(t) > 1):
        parts.append(func.phraseto_tsquery(_ENGLISH, bindparam(f"q_phrase{n}", " ".join(phrase))))
    combined = parts[0]
    for part in parts[1:]:
        combined = combined.op("&&")(part)
    return combined


def _search_postgresql(
    session: Session,
    team_id: str,
    query: SearchQuery,
    viewer: Viewer,
    flt: ListFilter,
    offset: int,
    limit: int,
) -> tuple[list[Any], int]:
    tsquery = _pg_tsquery(query)
    vector = func.to_tsvector(_ENGLISH, IncidentSearchDoc.document)
    matches = vector.op("@@")(tsquery)
    base = _filtered(
        select(Incident).join(IncidentSearchDoc, IncidentSearchDoc.incident_id == Incident.id),
        team_id,
        flt,
        viewer,
    ).where(IncidentSearchDoc.team_id == team_id, matches)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    if not total:
        return [], 0
    rank = func.ts_rank(vector, tsquery, 1).label("rank")
    ranked = (
        base.add_columns(rank, IncidentSearchDoc.document.label("document"))
        .order_by(rank.desc(), Incident.declared_at.desc(), Incident.id.desc())
        .offset(offset)
        .limit(limit)
        .subquery()
    )
    headline = func.ts_headline(
        _ENGLISH, ranked.c.document, tsquery, literal_column(_pg_quote(_PG_HEADLINE))
    )
    page = session.execute(
        select(ranked.c.id, ranked.c.rank, headline).order_by(
            ranked.c.rank.desc(), ranked.c.declared_at.desc(), ranked.c.id.desc()
        )
    ).all()
    incidents = {
        i.id: i
        for i in session.scalars(select(Incident).where(Incident.id.in_([r[0] for r in page])))
    }
    return [(incidents[r[0]], r[1], r[2]) for r in page], total


def _pg_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _fts_query(query: SearchQuery) -> str:
    return " ".join('"' + " ".join(term) + '"' for term in query.terms)


def _search_sqlite(
    session: Session,
    team_id: str,
    query: SearchQuery,
    viewer: Viewer,
    flt: ListFilter,
    offset: int,
    limit: int,
) -> tuple[list[Any], int]:
    matches = _FTS_NAME.op("MATCH")(bindparam("q", _fts_query(query)))
    base = _filtered(
        select(Incident).select_from(_FTS).join(Incident, Incident.id == _FTS.c.rowid),
        team_id,
        flt,
        viewer,
    ).where(matches)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    if not total:
        return [], 0
    bm25 = func.bm25(_FTS_NAME)
    snippet = func.snippet(_FTS_NAME, 0, MARK_START, MARK_END, "…", 14)
    rows = session.execute(
        base.add_columns((-bm25).label("rank"), snippet)
        .order_by(bm25, Incident.declared_at.desc(), Incident.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [(r[0], r[1], r[2]) for r in rows], total
