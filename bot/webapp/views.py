"""The pages: the archive (`/app/`), one incident (`/app/incidents/INC-N`), the insights
(`/app/insights`, and each table as CSV at `/app/insights/<table>.csv`)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, TypeVar

from flask import Blueprint, abort, current_app, render_template, request
from sqlalchemy import ColumnElement
from sqlalchemy.orm import Session
from werkzeug.wrappers import Response

from bot.webapp import insights as insight
from bot.webapp.auth import current_user
from bot.webapp.charts import PALETTE, Series, bar_chart, line_chart
from bot.webapp.service import ArchiveFilters, all_tags, archive, find_incident, incident_page
from bot.webapp.slack_access import SlackAccess
from bot.webapp.visibility import may_see, visible_filter
from storage.db import Database
from storage.models import IncidentStatus, Severity

blueprint = Blueprint("views", __name__)
E = TypeVar("E")
_KEY = re.compile(r"^INC-(\d{1,9})$", re.IGNORECASE)


def _state() -> dict[str, Any]:
    state = current_app.extensions["postmortem_bot"]
    assert isinstance(state, dict)
    return state


def _db() -> Database:
    db: Database = _state()["db"]
    return db


def _access() -> SlackAccess:
    access: SlackAccess = _state()["access"]
    return access


def _me() -> dict[str, str]:
    me = current_user()
    assert me is not None  # auth.require_sign_in ran first
    return me


def _visible(session: Session, me: dict[str, str]) -> ColumnElement[bool]:
    return visible_filter(session, _access(), team_id=me["team"], user_id=me["user"])


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


def archive_view() -> str:
    me = _me()
    problems: list[str] = []
    statuses = ", ".join(s.value for s in IncidentStatus)
    severities = ", ".join(s.value for s in Severity)
    try:
        page_number = max(1, int(request.args.get("page") or 1))
    except ValueError:
        page_number = 1
    filters = ArchiveFilters(
        status=_enum_arg("status", IncidentStatus, problems, statuses),
        severity=_enum_arg("severity", Severity, problems, severities),
        tag=(request.args.get("tag") or "").strip()[:64] or None,
        since=_date_arg("since", problems),
        until=_date_arg("until", problems),
        words=(request.args.get("q") or "").strip()[:200] or None,
        page=page_number,
    )
    with _db().session() as session:
        found = archive(session, team_id=me["team"], visible=_visible(session, me), filters=filters)
        tags = all_tags(session, team_id=me["team"])
        return render_template(
            "webapp/archive.html.j2",
            me=me,
            found=found,
            filters=filters,
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
    me = _me()
    match = _KEY.match(key)
    if match is None:
        abort(404)
    with _db().session() as session:
        found = find_incident(session, team_id=me["team"], number=int(match.group(1)))
        # Someone who may not see a private incident is told nothing about it: same 404.
        if found is None or not may_see(_access(), found, me["user"]):
            abort(404)
        page = incident_page(session, found)
        return render_template(
            "webapp/incident.html.j2", me=me, page=page, slack_url=_slack_url(me["team"])
        )


def _slack_url(team_id: str) -> Callable[[str], str]:
    def link(channel_id: str) -> str:
        return f"https://slack.com/app_redirect?channel={channel_id}&team={team_id}"

    return link


def _insights() -> insight.Insights:
    me = _me()
    now: Callable[[], datetime] = _state()["clock"]
    with _db().session() as session:
        return insight.compute(
            session, team_id=me["team"], visible=_visible(session, me), now=now()
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
