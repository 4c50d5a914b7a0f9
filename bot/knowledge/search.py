"""Listing and searching past incidents, for Slack (`/incident list`, `/incident search`) and
the web archive: one query each, filtered by what the viewer may see (bot.knowledge.access).

Search uses the database's own full-text search over each incident's document
(bot.knowledge.index): PostgreSQL `tsvector`/`ts_rank`/`ts_headline` (the GIN-indexed stored
vector of migration 0017), SQLite FTS5 with `bm25` and `snippet`. Results are ranked, then
newest first; pages are `offset`/`limit` with the total, so a caller can offer Next and
Previous.
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
# The text search configuration, inline (as the stored vectors were made with it).
_ENGLISH: ColumnElement[Any] = literal_column("'english'")
# PostgreSQL: each document's stored tsvector (a generated column, migration 0017).
_PG_VECTOR: ColumnElement[Any] = literal_column("incident_search_docs.search_vector")
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


class _Paged:
    """What the Next/Previous buttons of a page need to know."""

    offset: int
    total: int

    def _shown(self) -> int:
        raise NotImplementedError

    @property
    def has_next(self) -> bool:
        return self.offset + self._shown() < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


@dataclass(frozen=True)
class IncidentPage(_Paged):
    items: list[IncidentSummary]
    offset: int
    limit: int
    total: int

    def _shown(self) -> int:
        return len(self.items)


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
class SearchPage(_Paged):
    query: SearchQuery
    hits: list[Hit]
    offset: int
    limit: int
    total: int

    def _shown(self) -> int:
        return len(self.hits)


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
    """Matches through the GIN index on the stored vectors (migration 0017), ranked with
    `ts_rank` on those vectors; `ts_headline` (which parses the document again) only for the
    page's rows."""
    tsquery = _pg_tsquery(query)
    total_over = func.count().over().label("total")
    rank = func.ts_rank(_PG_VECTOR, tsquery, 1).label("rank")
    rows = session.execute(
        _filtered(
            select(Incident, rank, total_over).join(
                IncidentSearchDoc, IncidentSearchDoc.incident_id == Incident.id
            ),
            team_id,
            flt,
            viewer,
        )
        .where(IncidentSearchDoc.team_id == team_id, _PG_VECTOR.op("@@")(tsquery))
        .order_by(rank.desc(), Incident.declared_at.desc(), Incident.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    if not rows:
        total = 0
        if offset:
            total = (
                session.scalar(
                    _filtered(
                        select(func.count(Incident.id)).join(
                            IncidentSearchDoc, IncidentSearchDoc.incident_id == Incident.id
                        ),
                        team_id,
                        flt,
                        viewer,
                    ).where(IncidentSearchDoc.team_id == team_id, _PG_VECTOR.op("@@")(tsquery))
                )
                or 0
            )
        return [], total
    ids = [r[0].id for r in rows]
    headline = func.ts_headline(
        _ENGLISH, IncidentSearchDoc.document, tsquery, literal_column(_pg_quote(_PG_HEADLINE))
    )
    headlines: dict[int, str] = dict(
        session.execute(
            select(IncidentSearchDoc.incident_id, headline).where(
                IncidentSearchDoc.incident_id.in_(ids)
            )
        ).all()
    )
    return [(r[0], float(r[1]), headlines.get(r[0].id, "")) for r in rows], int(rows[0][2])


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
    """The matches are found (and ranked by bm25) once, in a materialized CTE: joined
    directly, SQLite would walk the team's incidents and run the full-text query for each.
    Snippets are made for the page's rows only."""
    fts_query = _fts_query(query)
    matched = (
        select(_FTS.c.rowid.label("id"), func.bm25(_FTS_NAME).label("bm25"))
        .where(_FTS_NAME.op("MATCH")(bindparam("q", fts_query)), _FTS.c.team_id == team_id)
        .cte("matched")
        .prefix_with("MATERIALIZED")
    )
    total_over = func.count().over().label("total")
    rows = session.execute(
        _filtered(
            select(Incident, matched.c.bm25, total_over).join(matched, matched.c.id == Incident.id),
            team_id,
            flt,
            viewer,
        )
        .order_by(matched.c.bm25, Incident.declared_at.desc(), Incident.id.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    if not rows:
        total = 0
        if offset:
            total = (
                session.scalar(
                    _filtered(
                        select(func.count(Incident.id)).join(matched, matched.c.id == Incident.id),
                        team_id,
                        flt,
                        viewer,
                    )
                )
                or 0
            )
        return [], total
    ids = [r[0].id for r in rows]
    snippets = dict(
        session.execute(
            select(_FTS.c.rowid, func.snippet(_FTS_NAME, 0, MARK_START, MARK_END, "…", 14)).where(
                _FTS_NAME.op("MATCH")(bindparam("q2", fts_query)), _FTS.c.rowid.in_(ids)
            )
        ).all()
    )
    return [(r[0], -float(r[1]), snippets.get(r[0].id, "")) for r in rows], int(rows[0][2])
