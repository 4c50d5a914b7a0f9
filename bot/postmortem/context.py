"""What a postmortem template sees: typed values gathered from the database in a few queries.

Every field here is part of the template contract documented in docs/templates.md.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Text, cast, select
from sqlalchemy.orm import Session

from bot.incidents.keytimes import KeyTimes, Moment, metrics
from bot.postmortem.markdown import slack_to_markdown
from storage.models import (
    CapturedMessage,
    EventKind,
    Incident,
    SlackUser,
    TimelineEvent,
)


@dataclass(frozen=True)
class Person:
    id: str
    name: str  # display name (real name when known), never a raw id when the bot knows better

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Event:
    at: datetime  # UTC
    kind: str
    author: Person | None
    text: str  # Markdown
    permalink: str | None
    edited: bool


@dataclass
class Message:
    at: datetime  # UTC
    author: Person
    text: str  # Markdown, edits applied
    edited: bool
    files: list[str]
    replies: list[Message] = field(default_factory=list)
    orphan_reply: bool = False  # a reply whose thread started before the captured window


@dataclass(frozen=True)
class FollowUpItem:
    key: str
    title: str
    owner: Person | None
    due: date | None
    priority: str
    status: str
    tracked_in: str | None  # a link (Jira) when the follow-up is tracked elsewhere


@dataclass(frozen=True)
class Participant:
    person: Person
    roles: list[str]
    messages: int


@dataclass(frozen=True)
class SimilarIncident:
    key: str
    title: str
    declared_at: datetime
    link: str | None
    why: str


@dataclass(frozen=True)
class KeyTimeInfo:
    """A key time for templates: when, and where that came from (docs/templates.md)."""

    name: str  # impact_started, detected, declared, mitigated, resolved, impact_ended
    label: str  # "Impact started"
    at: datetime | None  # UTC; None: not yet
    derived: bool  # False: a person set it
    source: str  # "set by Alice Ops", "the first detection event", "assumed: ...", "not yet"
    set_by: Person | None


@dataclass(frozen=True)
class MetricInfo:
    name: str  # time_to_detect, time_to_mitigate, time_to_resolve, impact_duration
    label: str  # "Time to detect"
    value: timedelta | None  # None: unknown (an end is not known yet)
    definition: str  # "impact started → detected"


@dataclass(frozen=True)
class Figures:
    """Key times and metrics (bot.incidents.keytimes has the definitions)."""

    day: date  # the incident's day: the UTC date it was declared
    impact_started_at: datetime
    detected_at: datetime
    declared_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None
    impact_ended_at: datetime | None  # None until resolved, unless someone set it
    time_to_detect: timedelta | None  # impact started → detected (unknown while assumed)
    time_to_mitigate: timedelta | None  # impact started → mitigated
    time_to_resolve: timedelta | None  # impact started → resolved
    impact_duration: timedelta | None  # impact started → impact ended (or resolved)
    times: list[KeyTimeInfo]
    metrics: list[MetricInfo]

    @property
    def started_at(self) -> datetime:
        """Templates written before key times: now the impact start."""
        return self.impact_started_at

    @property
    def duration(self) -> timedelta | None:
        """Templates written before key times: now the impact duration."""
        return self.impact_duration

    @property
    def impact_start_known(self) -> bool:
        return not self.time("impact_started").derived

    def time(self, name: str) -> KeyTimeInfo:
        return next(t for t in self.times if t.name == name)


@dataclass(frozen=True)
class IncidentInfo:
    key: str
    number: int
    title: str
    severity: str
    status: str
    channel_id: str
    private: bool
    commander: Person


@dataclass(frozen=True)
class PostmortemInfo:
    status: str
    owner: Person
    version: int
    template: str


@dataclass
class PostmortemContext:
    incident: IncidentInfo
    figures: Figures
    timeline: list[Event]
    messages: list[Message]
    message_count: int
    followups: list[FollowUpItem]
    participants: list[Participant]
    recurrence: list[SimilarIncident]
    postmortem: PostmortemInfo
    generated_at: datetime
    capture_notice: str | None = None  # messages still being fetched from Slack, if any

    def events_of(self, kind: str) -> list[Event]:
        return [e for e in self.timeline if e.kind == kind]

    @property
    def detection(self) -> Event | None:
        found = self.events_of(EventKind.DETECTION.value)
        return found[0] if found else None

    @property
    def leadup(self) -> list[Event]:
        return leadup_of(self.timeline, self.figures)

    def as_template_vars(self) -> dict[str, object]:
        return {
            "incident": self.incident,
            "figures": self.figures,
            "leadup": self.leadup,
            "timeline": self.timeline,
            "messages": self.messages,
            "message_count": self.message_count,
            "followups": self.followups,
            "participants": self.participants,
            "recurrence": self.recurrence,
            "postmortem": self.postmortem,
            "generated_at": self.generated_at,
            "capture_notice": self.capture_notice,
            "detection": self.detection,
            "detections": self.events_of("detection"),
            "escalations": self.events_of("escalation"),
            "mitigations": self.events_of("mitigation"),
            "decisions": self.events_of("decision"),
            "notes": self.events_of("note"),
        }


class Names:
    """Slack ids → people, from the users cache (and bot names seen in captured messages)."""

    def __init__(self, users: Mapping[str, str], bots: Mapping[str, str]) -> None:
        self._users = dict(users)
        self._bots = dict(bots)

    @property
    def all(self) -> dict[str, str]:
        return {**self._bots, **self._users}

    def person(self, slack_id: str | None, fallback: str | None = None) -> Person | None:
        if not slack_id:
            return Person("", fallback) if fallback else None
        name = self._users.get(slack_id) or self._bots.get(slack_id) or fallback or slack_id
        return Person(slack_id, name)

    def must(self, slack_id: str) -> Person:
        person = self.person(slack_id)
        assert person is not None
        return person


def load_names(session: Session, team_id: str, ids: set[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(SlackUser.user_id, SlackUser.real_name, SlackUser.name).where(
            SlackUser.team_id == team_id, SlackUser.user_id.in_(ids)
        )
    )
    return {user_id: (real or name) for user_id, real, name in rows}


def timeline_of(session: Session, incident: Incident) -> list[TimelineEvent]:
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.incident_id == incident.id)
            .order_by(TimelineEvent.occurred_at, TimelineEvent.id)
        )
    )


@dataclass(frozen=True)
class LoggedMessage:
    """What the channel log needs of a captured message: read as plain rows, not ORM objects
    (tens of thousands of them; loading each into the session was half of a generation)."""

    ts: str
    thread_ts: str | None
    posted_at: datetime
    user_id: str | None
    bot_id: str | None
    username: str | None
    text: str
    files_json: str | None  # the JSON list as stored: almost always "[]", decoded only if not
    edited_at: datetime | None

    @property
    def file_names(self) -> list[str]:
        if not self.files_json or self.files_json == "[]":
            return []
        names = json.loads(self.files_json)
        return [str(name) for name in names] if isinstance(names, list) else []


_CAPTURED = CapturedMessage.__table__
# The file names as text: the driver's JSON decoding of "[]" on every row was a seventh of a
# 50,000-message generation.
_LOGGED = tuple(
    cast(_CAPTURED.c.file_names, Text).label("files_json")
    if f.name == "files_json"
    else _CAPTURED.c[f.name]
    for f in fields(LoggedMessage)
)


def channel_messages(
    session: Session, incident: Incident, *, since: datetime, until: datetime
) -> list[LoggedMessage]:
    """The incident channel's captured messages in the window, oldest first, deletions gone."""
    columns = _CAPTURED.c
    rows = session.connection().execute(  # Core: no ORM bookkeeping per row
        select(*_LOGGED)
        .where(
            columns.team_id == incident.team_id,
            columns.channel_id == incident.channel_id,
            columns.posted_at >= since,
            columns.posted_at <= until,
            columns.deleted_at.is_(None),
        )
        .order_by(columns.posted_at, columns.ts)
    )
    return [LoggedMessage(*row) for row in rows]


def nest_threads(rows: list[LoggedMessage], names: Names) -> list[Message]:
    """Top-level messages in time order, each with its thread replies under it."""
    markdown_names = names.all
    people: dict[tuple[str | None, str | None], Person] = {}  # a few authors, many messages
    by_ts: dict[str, Message] = {}
    top: list[Message] = []
    pending: dict[str, list[tuple[LoggedMessage, Message]]] = defaultdict(list)
    for row in rows:
        who = (row.user_id or row.bot_id, row.username)
        author = people.get(who)
        if author is None:
            author = people[who] = names.person(*who) or Person("", "unknown")
        message = Message(
            at=row.posted_at,
            author=author,
            text=slack_to_markdown(row.text, markdown_names),
            edited=row.edited_at is not None,
            files=row.file_names,
        )
        is_reply = row.thread_ts is not None and row.thread_ts != row.ts
        if not is_reply:
            by_ts[row.ts] = message
            top.append(message)
        else:
            pending[row.thread_ts or ""].append((row, message))
    for thread_ts, replies in pending.items():
        parent = by_ts.get(thread_ts)
        for _row, reply in replies:
            if parent is not None:
                parent.replies.append(reply)
            else:
                reply.orphan_reply = True
                top.append(reply)
    top.sort(key=lambda m: m.at)
    return top


def figures_for(times: KeyTimes, names: Names) -> Figures:
    """Key times and metrics as templates see them."""
    measured = metrics(times)

    def info(moment: Moment) -> KeyTimeInfo:
        setter = names.person(moment.set_by) if moment.set_by else None
        if moment.derived:
            source = moment.source
        else:
            how = {"command": "with /incident", "modal": "in Edit key times"}.get(
                moment.source, "by moving its timeline event"
            )
            source = f"set by {setter} {how}" if setter else f"set {how}"
        return KeyTimeInfo(
            moment.kind.value, moment.label, moment.at, moment.derived, source, setter
        )

    declared = times.declared.at
    detected, impact_started = times.detected.at, times.impact_started.at
    assert declared is not None and detected is not None and impact_started is not None
    return Figures(
        day=declared.astimezone(UTC).date(),
        impact_started_at=impact_started,
        detected_at=detected,
        declared_at=declared,
        mitigated_at=times.mitigated.at,
        resolved_at=times.resolved.at,
        impact_ended_at=times.impact_ended.at,
        time_to_detect=measured.time_to_detect.value,
        time_to_mitigate=measured.time_to_mitigate.value,
        time_to_resolve=measured.time_to_resolve.value,
        impact_duration=measured.impact_duration.value,
        times=[info(m) for m in times.all()],
        metrics=[MetricInfo(m.name, m.label, m.value, m.definition) for m in measured.all()],
    )


LEADUP_KINDS_LEFT_OUT = frozenset({EventKind.STATUS.value, EventKind.FOLLOWUP.value})


def leadup_of(timeline: list[Event], figures: Figures) -> list[Event]:
    """What happened before impact started; nothing from the declaration on is leadup."""
    end = min(figures.impact_started_at, figures.declared_at)
    return [e for e in timeline if e.at < end and e.kind not in LEADUP_KINDS_LEFT_OUT]
