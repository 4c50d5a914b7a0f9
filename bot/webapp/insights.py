"""The numbers behind the insights page, over the last 12 months, for the incidents the person
may see (a Session in, tables out; the charts and CSVs are drawn from these tables).

- incidents per month (by declaration) and severity;
- time to detect / mitigate / resolve per month of declaration: median and 90th percentile in
  minutes, from the same key times and metrics as the incident's own page and postmortem
  (`bot.incidents.keytimes.derive` and `metrics`), over the incidents where the metric is known;
- follow-ups opened (created) and closed (a status change from open or in progress to done or
  won't do) per month, and those overdue now (still open, due before today) by month due;
- postmortems by status, and days from the incident's resolution to the postmortem's
  completion per month of completion (median and 90th percentile).

Median is the middle value (the mean of the two middle ones for an even count); the 90th
percentile is the nearest rank: the value at position ceil(0.9 n) of the sorted values.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from bot.incidents.keytimes import Captured, SetKeyTime, derive, metrics
from storage.models import (
    EventKind,
    FollowUp,
    FollowUpChange,
    FollowUpField,
    FollowUpStatus,
    Incident,
    IncidentKeyTime,
    KeyTime,
    Postmortem,
    PostmortemStatus,
    Severity,
    TimelineEvent,
)

MONTHS = 12
CHUNK = 500  # ids per IN (...): well under every database's bind limit
OPEN = {FollowUpStatus.OPEN.value, FollowUpStatus.IN_PROGRESS.value}
Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    slug: str  # the CSV's name
    title: str
    columns: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Insights:
    months: list[str]
    by_severity: Table
    response: Table
    followups: Table
    postmortem_status: Table
    completion: Table

    def tables(self) -> list[Table]:
        return [
            self.by_severity,
            self.response,
            self.followups,
            self.postmortem_status,
            self.completion,
        ]


def month_of(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


def last_months(now: datetime, count: int = MONTHS) -> list[str]:
    year, month = now.astimezone(UTC).year, now.astimezone(UTC).month
    found = []
    for _ in range(count):
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return found[::-1]


def window_start(months: list[str]) -> datetime:
    year, month = (int(part) for part in months[0].split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[math.ceil(0.9 * len(ordered)) - 1]


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for offset in range(0, len(ids), CHUNK):
        yield ids[offset : offset + CHUNK]


def _minutes(span: timedelta | None) -> float | None:
    return None if span is None else span.total_seconds() / 60


def compute(
    session: Session, *, team_id: str, visible: ColumnElement[bool], now: datetime
) -> Insights:
    months = last_months(now)
    start = window_start(months)
    incidents = list(
        session.scalars(
            select(Incident).where(
                Incident.team_id == team_id,
                visible,
                Incident.declared_at >= start,
                Incident.declared_at <= now,
            )
        )
    )
    ids = [i.id for i in incidents]
    return Insights(
        months=months,
        by_severity=_by_severity(incidents, months),
        response=_response(session, incidents, ids, months),
        followups=_followups(session, ids, months, now),
        postmortem_status=_postmortem_status(session, ids),
        completion=_completion(session, team_id, visible, months, start, now),
    )


def _by_severity(incidents: list[Incident], months: list[str]) -> Table:
    counts = Counter((month_of(i.declared_at), i.severity) for i in incidents)
    rows: list[list[Cell]] = []
    for month in months:
        per = [counts[(month, sev)] for sev in Severity]
        rows.append([month, *per, sum(per)])
    return Table(
        "incidents-by-severity",
        "Incidents per month by severity",
        ["month", *(s.label for s in Severity), "total"],
        rows,
    )


def _response(
    session: Session, incidents: list[Incident], ids: list[int], months: list[str]
) -> Table:
    events: dict[int, list[tuple[EventKind, datetime]]] = defaultdict(list)
    set_times: dict[int, dict[KeyTime, SetKeyTime]] = defaultdict(dict)
    for chunk in _chunks(ids):
        for incident_id, kind, at in session.execute(
            select(TimelineEvent.incident_id, TimelineEvent.kind, TimelineEvent.occurred_at).where(
                TimelineEvent.incident_id.in_(chunk),
                TimelineEvent.kind.in_((EventKind.DETECTION, EventKind.MITIGATION)),
            )
        ):
            events[incident_id].append((kind, at))
        for stored in session.scalars(
            select(IncidentKeyTime).where(IncidentKeyTime.incident_id.in_(chunk))
        ):
            set_times[stored.incident_id][stored.kind] = SetKeyTime(
                stored.at, stored.set_by, stored.via
            )
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    counted: Counter[str] = Counter()
    for incident in incidents:
        captured = Captured(
            declared_at=incident.declared_at,
            mitigated_at=incident.mitigated_at,
            resolved_at=incident.resolved_at,
            detections=tuple(at for k, at in events[incident.id] if k is EventKind.DETECTION),
            mitigations=tuple(at for k, at in events[incident.id] if k is EventKind.MITIGATION),
        )
        measured = metrics(derive(captured, set_times[incident.id]))
        month = month_of(incident.declared_at)
        counted[month] += 1
        for name, span in (
            ("detect", measured.time_to_detect.value),
            ("mitigate", measured.time_to_mitigate.value),
            ("resolve", measured.time_to_resolve.value),
        ):
            minutes = _minutes(span)
            if minutes is not None:
                samples[(month, name)].append(minutes)
    rows: list[list[Cell]] = []
    for month in months:
        row: list[Cell] = [month, counted[month]]
        for name in ("detect", "mitigate", "resolve"):
            values = samples[(month, name)]
            row += [len(values), _round(median(values)), _round(p90(values))]
        rows.append(row)
    columns = ["month", "incidents"]
    for name in ("detect", "mitigate", "resolve"):
        columns += [f"{name} n", f"{name} median min", f"{name} p90 min"]
    return Table("response-times", "Time to detect, mitigate and resolve (minutes)", columns, rows)


def _followups(session: Session, ids: list[int], months: list[str], now: datetime) -> Table:
    followups: list[FollowUp] = []
    closed_in: Counter[str] = Counter()
    for chunk in _chunks(ids):
        followups += session.scalars(
            select(FollowUp).where(FollowUp.incident_id.in_(chunk))
        ).unique()
    for chunk in _chunks([f.id for f in followups]):
        for at, old, new in session.execute(
            select(
                FollowUpChange.changed_at, FollowUpChange.old_value, FollowUpChange.new_value
            ).where(
                FollowUpChange.follow_up_id.in_(chunk),
                FollowUpChange.field == FollowUpField.STATUS,
            )
        ):
            if old in OPEN and new not in OPEN and at <= now:
                closed_in[month_of(at)] += 1
    opened = Counter(month_of(f.created_at) for f in followups if f.created_at <= now)
    today = now.astimezone(UTC).date()
    overdue = Counter(
        f"{f.due_date.year:04d}-{f.due_date.month:02d}"
        for f in followups
        if f.status.is_open and f.due_date < today
    )
    rows: list[list[Cell]] = [[m, opened[m], closed_in[m], overdue[m]] for m in months]
    return Table(
        "follow-ups",
        "Follow-ups opened and closed per month, and overdue now (by month due)",
        ["month", "opened", "closed", "overdue now"],
        rows,
    )


def _postmortem_status(session: Session, ids: list[int]) -> Table:
    counts: Counter[PostmortemStatus] = Counter()
    for chunk in _chunks(ids):
        counts.update(
            session.scalars(select(Postmortem.status).where(Postmortem.incident_id.in_(chunk)))
        )
    rows: list[list[Cell]] = [[s.label, counts[s]] for s in PostmortemStatus]
    return Table("postmortems-by-status", "Postmortems by status", ["status", "postmortems"], rows)


def _completion(
    session: Session,
    team_id: str,
    visible: ColumnElement[bool],
    months: list[str],
    start: datetime,
    now: datetime,
) -> Table:
    days: dict[str, list[float]] = defaultdict(list)
    for completed_at, resolved_at in session.execute(
        select(Postmortem.completed_at, Incident.resolved_at)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(
            Incident.team_id == team_id,
            visible,
            Postmortem.status == PostmortemStatus.COMPLETED,
            Postmortem.completed_at >= start,
            Postmortem.completed_at <= now,
        )
    ):
        if completed_at is None or resolved_at is None or completed_at < resolved_at:
            continue
        days[month_of(completed_at)].append((completed_at - resolved_at).total_seconds() / 86400)
    rows: list[list[Cell]] = [
        [m, len(days[m]), _round(median(days[m])), _round(p90(days[m]))] for m in months
    ]
    return Table(
        "postmortem-completion",
        "Postmortems completed per month, and days from resolution to completion",
        ["month", "completed", "median days", "p90 days"],
        rows,
    )
