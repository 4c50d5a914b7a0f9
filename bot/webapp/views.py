"""The pages: the archive (`/app/`), one incident (`/app/incidents/INC-N`), the insights
(`/app/insights`, and each table as CSV at `/app/insights/<table>.csv`).

Who may see what is bot.knowledge.access's rule, as in Slack: each page first asks Slack which
private channels the person is in (`load_memberships`, cached briefly, before any
transaction), then filters with `visible_incidents_filter` / `incident_visible_to`. The archive
is bot.knowledge.search's `list_incidents` and `search_incidents`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, render_template, request
from markupsafe import Markup, escape
from slack_sdk import WebClient
from werkzeug.wrappers import Response

from bot.core.errors import UserError
from bot.knowledge.access import (
    Viewer,
    incident_visible_to,
    load_memberships,
    visible_incidents_filter,
)
from bot.knowledge.index import has_stale, refresh_stale
from bot.knowledge.search import (
    MARK_END,
    MARK_START,
    IncidentSummary,
    ListFilter,
    list_incidents,
    parse_query,
    search_incidents,
)
from bot.knowledge.tags import team_tags
from bot.webapp import insights as insight
from bot.webapp.auth import current_user
from bot.webapp.charts import PALETTE, Series, bar_chart, line_chart
from bot.webapp.service import find_incident, incident_page
from storage.db import Database
from storage.models import IncidentStatus, Severity

blueprint = Blueprint("views", __name__)
E = TypeVar("E")
_KEY = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)
ARCHIVE_PAGE = 25


def _state() -> dict[str, Any]:
    state = current_app.extensions["postmortem_bot"]
    assert isinstance(state, dict)
    return state


def _db() -> Database:
    db: Database = _state()["db"]
    return db


def _me() -> dict[str, str]:
    me = current_user()
    assert me is not None  # auth.require_sign_in ran first
    return me


def _viewer() -> Viewer:
    """The person signed in, their private channels asked of Slack first (outside any
    transaction; cached briefly by bot.knowledge.access)."""
    me = _me()
    viewer = Viewer(me["team"], me["user"])
    client_for: Callable[[str], WebClient | None] = _state()["client_for"]
    client = client_for(viewer.team_id)
    if client is not None:
        load_memberships(client, viewer)
    return viewer


def _enum_arg(name: str, kind: Callable[[str], E], problems: list[str], allowed: str) -> E | None:
    raw = (request.args.get(name) or "").strip().lower()
    if not raw:
        return None
    try:
        return kind(raw)
    except ValueError:
        problems.append(f"Unknown {name} “{raw[:40]}”: use one of {allowed}.")
        return None


def _date_arg(name: str, problems: list[str]) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        problems.append(f"“{raw[:40]}” is not a date: use YYYY-MM-DD, e.g. 2026-03-31.")
        return None


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    incident: IncidentSummary
    snippet: Markup | None


@dataclass(frozen=True)
class Archive:
    rows: list[Row]
    total: int
    page: int
    pages: int


def highlighted(snippet: str) -> Markup:
    """A search snippet: people's text escaped, then the matched words marked."""
    text = str(escape(snippet))
    return Markup(text.replace(MARK_START, "<mark>").replace(MARK_END, "</mark>"))


def archive_view() -> str:
    viewer = _viewer()
    problems: list[str] = []
    statuses = ", ".join(s.value for s in IncidentStatus)
    severities = ", ".join(s.value for s in Severity)
    try:
        page_number = min(10_000, max(1, int(request.args.get("page") or 1)))
    except ValueError:
        page_number = 1
    status = _enum_arg("status", IncidentStatus, problems, statuses)
    severity = _enum_arg("severity", Severity, problems, severities)
    since, until = _date_arg("since", problems), _date_arg("until", problems)
    tag = (request.args.get("tag") or "").strip()[:64] or None
    flt = ListFilter(
        statuses=(status,) if status else (),
        severities=(severity,) if severity else (),
        tag=tag,
        since=_day_start(since) if since else None,
        until=_day_start(until + timedelta(days=1)) if until else None,
    )
    words = (request.args.get("q") or "").strip()
    query = None
    if words:
        try:
            query = parse_query(words)
        except UserError as error:
            problems.append(str(error).replace("/incident search", "search"))
    offset = (page_number - 1) * ARCHIVE_PAGE
    now: Callable[[], datetime] = _state()["clock"]
    if query is not None:  # documents of incidents still moving: written only when behind
        with _db().read_session() as session:
            stale = has_stale(session, viewer.team_id, now=now())
        if stale:
            with _db().session() as session:
                refresh_stale(session, viewer.team_id, now=now())
    with _db().read_session() as session:
        if query is not None:
            found = search_incidents(
                session, viewer.team_id, query, viewer=viewer, filter=flt,
                offset=offset, limit=ARCHIVE_PAGE,
            )  # fmt: skip
            rows = [Row(hit.incident, highlighted(hit.snippet)) for hit in found.hits]
        else:
            listed = list_incidents(
                session, viewer.team_id, filter=flt, viewer=viewer,
                offset=offset, limit=ARCHIVE_PAGE,
            )  # fmt: skip
            rows, found_total = [Row(item, None) for item in listed.items], listed.total
        total = found.total if query is not None else found_total
        tags = [name for name, _count in team_tags(session, viewer.team_id, viewer=viewer)]
    pages = max(1, -(-total // ARCHIVE_PAGE))
    return render_template(
        "webapp/archive.html.j2",
        me=_me(),
        found=Archive(rows, total, min(page_number, pages), pages),
        filters={"status": status, "severity": severity, "tag": tag},
        problems=problems,
        tags=tags,
        statuses=list(IncidentStatus),
        severities=list(Severity),
        args=request.args,
    )


# Flask names the endpoint after the function; keep `views.archive` for url_for.
blueprint.add_url_rule("/", endpoint="archive", view_func=archive_view, methods=["GET"])


@blueprint.get("/incidents/<key>")
def incident(key: str) -> str:
    match = _KEY.match(key)
    if match is None:
        abort(404)
    viewer = _viewer()
    with _db().read_session() as session:
        found = find_incident(session, team_id=viewer.team_id, number=int(match.group(1)))
        # Someone who may not see a private incident is told nothing about it: same 404.
        if found is None or not incident_visible_to(session, found, viewer.user_id):
            abort(404)
        page = incident_page(session, found)
        return render_template(
            "webapp/incident.html.j2", me=_me(), page=page, slack_url=_slack_url(viewer.team_id)
        )


def _slack_url(team_id: str) -> Callable[[str], str]:
    def link(channel_id: str) -> str:
        return f"https://slack.com/app_redirect?channel={channel_id}&team={team_id}"

    return link


def _insights() -> insight.Insights:
    viewer = _viewer()
    now: Callable[[], datetime] = _state()["clock"]
    with _db().read_session() as session:
        return insight.compute(
            session,
            team_id=viewer.team_id,
            visible=visible_incidents_filter(viewer.user_id),
            now=now(),
        )


@blueprint.get("/insights")
def insights() -> str:
    data = _insights()
    return render_template("webapp/insights.html.j2", me=_me(), data=data, charts=_charts(data))


def _column(table: insight.Table, name: str) -> list[float | None]:
    index = table.columns.index(name)
    return [None if row[index] is None else float(row[index] or 0) for row in table.rows]


def _charts(data: insight.Insights) -> dict[str, Any]:
    months = data.months
    severity = data.by_severity
    response = data.response
    charts: dict[str, Any] = {
        "by_severity": bar_chart(
            severity.title,
            months,
            [
                Series(sev.label, _column(severity, sev.label), PALETTE[i])
                for i, sev in enumerate(Severity)
            ],
            stacked=True,
            unit="incidents",
        ),
        "response": [
            line_chart(
                f"Time to {name} (minutes)",
                months,
                [
                    Series("median", _column(response, f"{name} median min"), PALETTE[2]),
                    Series("p90", _column(response, f"{name} p90 min"), PALETTE[0], dashed=True),
                ],
                unit="minutes",
            )
            for name in ("detect", "mitigate", "resolve")
        ],
        "followups": bar_chart(
            data.followups.title,
            months,
            [
                Series("opened", _column(data.followups, "opened"), PALETTE[2]),
                Series("closed", _column(data.followups, "closed"), PALETTE[3]),
                Series("overdue now", _column(data.followups, "overdue now"), PALETTE[0]),
            ],
            unit="follow-ups",
        ),
        "postmortem_status": bar_chart(
            data.postmortem_status.title,
            [str(row[0]) for row in data.postmortem_status.rows],
            [Series("postmortems", _column(data.postmortem_status, "postmortems"), PALETTE[5])],
            unit="postmortems",
        ),
        "completion": line_chart(
            "Days from resolution to completed postmortem",
            months,
            [
                Series("median", _column(data.completion, "median days"), PALETTE[2]),
                Series("p90", _column(data.completion, "p90 days"), PALETTE[0], dashed=True),
            ],
            unit="days",
        ),
    }
    return charts


@blueprint.get("/insights/<slug>.csv")
def insights_csv(slug: str) -> Response:
    data = _insights()
    for table in data.tables():
        if table.slug == slug:
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(table.columns)
            writer.writerows(["" if cell is None else cell for cell in row] for row in table.rows)
            return Response(
                out.getvalue(),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{slug}.csv"'},
            )
    abort(404)


@blueprint.get("/style.css")
def style() -> Response:
    return Response(render_template("webapp/app.css"), mimetype="text/css")
