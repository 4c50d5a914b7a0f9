"""What a postmortem template sees: typed values gathered from the database in a few queries.

Every field here is part of the template contract documented in docs/templates.md.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

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
class Figures:
    started_at: datetime  # the earliest known event (lead-up included)
    detected_at: datetime  # the first detection event, else the declaration
    declared_at: datetime
    mitigated_at: datetime | None
    resolved_at: datetime | None
    time_to_detect: timedelta | None
    time_to_mitigate: timedelta | None
    time_to_resolve: timedelta | None
    duration: timedelta | None


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

    def as_template_vars(self) -> dict[str, object]:
        return {
            "incident": self.incident,
            "figures": self.figures,
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


def channel_messages(
    session: Session, incident: Incident, *, since: datetime, until: datetime
) -> list[CapturedMessage]:
    """The incident channel's captured messages in the window, oldest first, deletions gone."""
    return list(
        session.scalars(
            select(CapturedMessage)
            .where(
                CapturedMessage.team_id == incident.team_id,
                CapturedMessage.channel_id == incident.channel_id,
                CapturedMessage.posted_at >= since,
                CapturedMessage.posted_at <= until,
                CapturedMessage.deleted_at.is_(None),
            )
            .order_by(CapturedMessage.posted_at, CapturedMessage.ts)
        )
    )


def nest_threads(rows: list[CapturedMessage], names: Names) -> list[Message]:
    """Top-level messages in time order, each with its thread replies under it."""
    markdown_names = names.all
    by_ts: dict[str, Message] = {}
    top: list[Message] = []
    pending: dict[str, list[tuple[CapturedMessage, Message]]] = defaultdict(list)
    for row in rows:
        author = names.person(row.user_id or row.bot_id, row.username) or Person("", "unknown")
        message = Message(
            at=row.posted_at,
            author=author,
            text=slack_to_markdown(row.text, markdown_names),
            edited=row.edited_at is not None,
            files=list(row.file_names or []),
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


def figures_for(incident: Incident, events: list[TimelineEvent]) -> Figures:
    started = min([incident.declared_at, *[e.occurred_at for e in events]])
    detections = [e.occurred_at for e in events if e.kind is EventKind.DETECTION]
    detected = detections[0] if detections else incident.declared_at
    declared = incident.declared_at

    def span(end: datetime | None, start: datetime) -> timedelta | None:
        return end - start if end is not None else None

    return Figures(
        started_at=started,
        detected_at=detected,
        declared_at=declared,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        time_to_detect=detected - started if detected > started else None,
        time_to_mitigate=span(incident.mitigated_at, declared),
        time_to_resolve=span(incident.resolved_at, declared),
        duration=span(incident.resolved_at, started),
    )
