"""SQLAlchemy 2 typed models. Every row is scoped by Slack team (and enterprise) id.

Schema changes go through an Alembic migration in `storage/migrations/versions`; a test checks
that the migrations produce exactly these models.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from storage.types import UTCDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SLACK_ID = 32  # Slack ids are short ("T0123ABCD", "C0123ABCD"); leave room for growth.


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Severity(enum.StrEnum):
    SEV1 = "sev1"
    SEV2 = "sev2"
    SEV3 = "sev3"
    SEV4 = "sev4"
    SEV5 = "sev5"

    @property
    def label(self) -> str:
        return self.value.upper()


class IncidentStatus(enum.StrEnum):
    ACTIVE = "active"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


class EventKind(enum.StrEnum):
    NOTE = "note"
    DETECTION = "detection"
    ESCALATION = "escalation"
    MITIGATION = "mitigation"
    DECISION = "decision"
    STATUS = "status"  # recorded automatically by the bot
    MESSAGE = "message"  # a captured channel message
    FOLLOWUP = "followup"  # a follow-up was created (recorded automatically)


class KeyTime(enum.StrEnum):
    """The moments of an incident its metrics are measured between (bot.incidents.keytimes)."""

    IMPACT_STARTED = "impact_started"
    DETECTED = "detected"
    DECLARED = "declared"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"
    IMPACT_ENDED = "impact_ended"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class KeyTimeVia(enum.StrEnum):
    """How a person set a key time."""

    COMMAND = "command"  # `/incident mitigated at 14:32`, `/incident impact started 13:58`
    MODAL = "modal"  # the "Edit key times" modal
    EVENT_EDIT = "event_edit"  # the time of its status event was edited on the timeline


class EventSource(enum.StrEnum):
    AUTO = "auto"  # the bot recorded it (status changes, follow-ups, postmortems)
    COMMAND = "command"  # /timeline
    SHORTCUT = "shortcut"  # the "Add to timeline" message shortcut
    REACTION = "reaction"  # the timeline emoji on a message


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    # Stored as VARCHAR + CHECK (portable, and easy to extend in a migration).
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        UniqueConstraint("team_id", "number"),
        # At most one open incident per channel: enforced by the database, not only by a check.
        Index(
            "uq_incidents_open_channel",
            "team_id",
            "channel_id",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
        Index("ix_incidents_team_channel", "team_id", "channel_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    enterprise_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)
    severity: Mapped[Severity] = mapped_column(_enum(Severity, "severity"))
    status: Mapped[IncidentStatus] = mapped_column(_enum(IncidentStatus, "incident_status"))
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    channel_private: Mapped[bool] = mapped_column(Boolean)
    # Slack Connect: another organisation is in the channel (bot.core.visibility).
    channel_shared: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    commander_id: Mapped[str] = mapped_column(String(SLACK_ID))
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mitigated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    events: Mapped[list[TimelineEvent]] = relationship(
        back_populates="incident", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def key(self) -> str:
        return f"INC-{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status is not IncidentStatus.RESOLVED


class TimelineEvent(Base):
    __tablename__ = "timeline_events"
    __table_args__ = (
        Index("ix_timeline_events_incident_time", "incident_id", "occurred_at"),
        # A Slack message is on an incident's timeline at most once (shortcut, reaction, retries).
        UniqueConstraint("incident_id", "source_channel_id", "source_ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[EventKind] = mapped_column(_enum(EventKind, "event_kind"))
    text: Mapped[str] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(SLACK_ID))  # who said/did it
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[EventSource] = mapped_column(
        _enum(EventSource, "event_source"), server_default=EventSource.AUTO.value
    )
    added_by: Mapped[str | None] = mapped_column(String(SLACK_ID))  # who put it on the timeline
    source_channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    source_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(Text)
    edited_by: Mapped[str | None] = mapped_column(String(SLACK_ID))
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The key time this automatic event records ("Incident declared", "Status changed to
    # mitigated"): moving the event moves the key time, and the declaration stays.
    key_time: Mapped[KeyTime | None] = mapped_column(_enum(KeyTime, "event_key_time"))

    incident: Mapped[Incident] = relationship(back_populates="events")


class IncidentKeyTime(Base):
    """A key time a person set (by command, the modal, or moving its status event).

    Only what people set is stored; everything else is derived from what was captured
    (bot.incidents.keytimes), so a later detection or mitigation event still counts until
    someone says otherwise.
    """

    __tablename__ = "incident_key_times"
    __table_args__ = (UniqueConstraint("incident_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    kind: Mapped[KeyTime] = mapped_column(_enum(KeyTime, "key_time"))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    set_by: Mapped[str] = mapped_column(String(SLACK_ID))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())
    via: Mapped[KeyTimeVia] = mapped_column(_enum(KeyTimeVia, "key_time_via"))


class CapturedMessage(Base):
    """A message of an incident channel, as it arrived (Events API) or was backfilled.

    Keyed by (team, channel, ts) so live capture and backfill never duplicate. Edits overwrite
    the text; a deletion clears it and sets `deleted_at` (so a late backfill cannot revive it).
    """

    __tablename__ = "captured_messages"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "ts"),
        Index("ix_captured_messages_channel_time", "team_id", "channel_id", "posted_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))  # set on replies (and parents)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())  # from ts
    user_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    bot_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    username: Mapped[str | None] = mapped_column(String(255))  # bots and integrations
    subtype: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text, default="")
    file_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    edited_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProcessedEvent(Base):
    """Events API deliveries already handled (Slack retries with the same event_id)."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SeenSlackRequest(Base):
    """A signed Slack request already taken in over HTTP, by the hash of its signature and
    timestamp: the same pair again is a replay (bot.slack.request_replays). Kept until the
    timestamp is too old to pass verification anyway."""

    __tablename__ = "seen_slack_requests"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex SHA-256
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SlackUser(Base):
    """A cache of users.info (time zone for `/timeline at`, names for documents)."""

    __tablename__ = "slack_users"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    real_name: Mapped[str | None] = mapped_column(String(255))
    tz: Mapped[str] = mapped_column(String(64))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamSequence(Base):
    """Per-team counters (INC-1, INC-2, ...), incremented atomically."""

    __tablename__ = "team_sequences"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class FollowUpStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    WONT_DO = "wont_do"

    @property
    def label(self) -> str:
        return {"in_progress": "in progress", "wont_do": "won't do"}.get(self.value, self.value)

    @property
    def is_open(self) -> bool:
        return self in (FollowUpStatus.OPEN, FollowUpStatus.IN_PROGRESS)


class Priority(enum.StrEnum):
    P1 = "p1"
    P2 = "p2"
    P3 = "p3"
    P4 = "p4"

    @property
    def label(self) -> str:
        return self.value.upper()


class FollowUpField(enum.StrEnum):
    """What a follow-up change touched (`follow_up_changes.field`)."""

    CREATED = "created"
    STATUS = "status"
    OWNER = "owner"
    DUE_DATE = "due_date"
    PRIORITY = "priority"
    SNOOZED_UNTIL = "snoozed_until"


class FollowUp(Base):
    """Corrective work from an incident, numbered per incident (INC-42-F3)."""

    __tablename__ = "follow_ups"
    __table_args__ = (
        UniqueConstraint("incident_id", "number"),  # also serves "an incident's follow-ups"
        # A retried modal submission or command carries the same key: created once.
        UniqueConstraint("request_key"),
        # `/followup list mine`, App Home: one owner's open follow-ups by due date.
        Index("ix_follow_ups_owner_status_due", "team_id", "owner_id", "status", "due_date"),
        # `/followup list overdue` across the team.
        Index("ix_follow_ups_team_status_due", "team_id", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(Text)  # as Slack delivers it (rendered via safe_mrkdwn)
    description: Mapped[str] = mapped_column(Text, default="")
    owner_id: Mapped[str | None] = mapped_column(String(SLACK_ID))  # None: the commander assigns
    due_date: Mapped[date] = mapped_column(Date)
    priority: Mapped[Priority] = mapped_column(_enum(Priority, "follow_up_priority"))
    status: Mapped[FollowUpStatus] = mapped_column(_enum(FollowUpStatus, "follow_up_status"))
    created_by: Mapped[str] = mapped_column(String(SLACK_ID))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source_channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    source_ts: Mapped[str | None] = mapped_column(String(32))
    permalink: Mapped[str | None] = mapped_column(Text)  # of the source message
    announcement_channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    announcement_ts: Mapped[str | None] = mapped_column(String(32))
    announcement_permalink: Mapped[str | None] = mapped_column(Text)
    snoozed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    request_key: Mapped[str | None] = mapped_column(String(128))

    incident: Mapped[Incident] = relationship(lazy="joined")
    changes: Mapped[list[FollowUpChange]] = relationship(
        back_populates="follow_up",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="FollowUpChange.id",
    )
    # In the follow-up's own query (at most one link): a button click loaded it with a second
    # round trip, on the ack's path.
    jira_link: Mapped[JiraLink | None] = relationship(
        back_populates="follow_up", lazy="joined", passive_deletes=True
    )

    @property
    def key(self) -> str:
        return f"{self.incident.key}-F{self.number}"


class FollowUpChange(Base):
    """Who changed what on a follow-up, and when (values as text: ids, ISO dates, statuses)."""

    __tablename__ = "follow_up_changes"
    __table_args__ = (Index("ix_follow_up_changes_follow_up", "follow_up_id", "changed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    follow_up_id: Mapped[int] = mapped_column(ForeignKey("follow_ups.id", ondelete="CASCADE"))
    changed_by: Mapped[str] = mapped_column(String(SLACK_ID))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    field: Mapped[FollowUpField] = mapped_column(_enum(FollowUpField, "follow_up_field"))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)

    follow_up: Mapped[FollowUp] = relationship(back_populates="changes")


class PostmortemStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    COMPLETED = "completed"

    @property
    def label(self) -> str:
        return {"draft": "Draft", "in_review": "In Review", "completed": "Completed"}[self.value]


class Postmortem(Base):
    """One postmortem per incident: where it lives, its status and owner, its versions."""

    __tablename__ = "postmortems"
    __table_args__ = (Index("ix_postmortems_team_owner_status", "team_id", "owner_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[PostmortemStatus] = mapped_column(_enum(PostmortemStatus, "postmortem_status"))
    owner_id: Mapped[str] = mapped_column(String(SLACK_ID))
    template: Mapped[str | None] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=0)
    canvas_id: Mapped[str | None] = mapped_column(String(64))
    file_id: Mapped[str | None] = mapped_column(String(64))
    document_url: Mapped[str | None] = mapped_column(Text)  # canvas/file permalink or attached URL
    # The incident's Confluence page, and which version of the postmortem it was last written
    # from (the bot's text then: what a people's edit is told apart from).
    confluence_page_id: Mapped[str | None] = mapped_column(String(64))
    confluence_version: Mapped[int | None] = mapped_column(Integer)
    attached: Mapped[bool] = mapped_column(Boolean, default=False)  # written elsewhere
    message_channel_id: Mapped[str | None] = mapped_column(String(SLACK_ID))
    message_ts: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    incident: Mapped[Incident] = relationship()
    versions: Mapped[list[PostmortemVersion]] = relationship(
        back_populates="postmortem", cascade="all, delete-orphan", passive_deletes=True
    )


class PostmortemVersion(Base):
    """Each generated document, kept: regenerating a Draft never loses the previous text."""

    __tablename__ = "postmortem_versions"
    __table_args__ = (UniqueConstraint("postmortem_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    postmortem_id: Mapped[int] = mapped_column(ForeignKey("postmortems.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    template: Mapped[str] = mapped_column(String(100))
    markdown: Mapped[str] = mapped_column(Text)
    # The rendering with its {bot}/{people} markers: a destination that publishes later (an
    # outbox job of its own, Confluence) needs to know who owns each section.
    marked: Mapped[str | None] = mapped_column(Text)
    generated_by: Mapped[str] = mapped_column(String(SLACK_ID))
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    postmortem: Mapped[Postmortem] = relationship(back_populates="versions")


class IncidentSearchDoc(Base):
    """Text of an incident for search and recurrence (see bot.knowledge.index).

    PostgreSQL keeps `to_tsvector('english', document)` in a GIN-indexed stored generated
    column, `search_vector`; SQLite mirrors documents into the FTS5 table `incident_search_fts`.
    Both exist in the migrations only (0004, 0017).
    """

    __tablename__ = "incident_search_docs"
    __table_args__ = (Index("ix_incident_search_docs_team", "team_id"),)

    incident_id: Mapped[int] = mapped_column(
        ForeignKey("incidents.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    document: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentComponent(Base):
    """A component (a lowercase slug such as `api`) an incident affects, for the status page."""

    __tablename__ = "incident_components"
    __table_args__ = (UniqueConstraint("incident_id", "component"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    component: Mapped[str] = mapped_column(String(64))


class IncidentTag(Base):
    """A free tag on an incident (`/incident tag database,payments`), a normalised slug; with
    the incident's components, what search filters on and recurrence compares
    (bot.knowledge.tags)."""

    __tablename__ = "incident_tags"
    __table_args__ = (
        UniqueConstraint("incident_id", "tag"),
        Index("ix_incident_tags_team_tag", "team_id", "tag"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64))
    added_by: Mapped[str] = mapped_column(String(SLACK_ID))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IncidentUpdate(Base):
    """A stakeholder update (`/incident update`); public ones appear on the status page."""

    __tablename__ = "incident_updates"
    __table_args__ = (Index("ix_incident_updates_incident_time", "incident_id", "posted_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)  # as Slack delivers it (rendered via safe_mrkdwn)
    components: Mapped[list[str]] = mapped_column(JSON, default=list)
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    posted_by: Mapped[str] = mapped_column(String(SLACK_ID))
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReminderItem(enum.StrEnum):
    FOLLOWUP = "followup"
    POSTMORTEM = "postmortem"
    DIGEST = "digest"  # the weekly digest (item id 0, day: the Monday of its ISO week)


class ReminderKind(enum.StrEnum):
    OVERDUE = "overdue"
    DUE_SOON = "due_soon"
    DRAFT_STALE = "draft_stale"
    REVIEW_STALE = "review_stale"
    WEEKLY_DIGEST = "weekly_digest"


class ClaimState(enum.StrEnum):
    CLAIMED = "claimed"  # about to be sent (a lease: re-claimable once old, see bot.reminders)
    SENT = "sent"


class ReminderClaim(Base):
    """A reminder taken by one sweep before it is sent: the unique key makes it exactly once.

    `day` is the recipient's local date for daily reminders, and the due date for the one
    heads-up before a follow-up is due.
    """

    __tablename__ = "reminder_claims"
    __table_args__ = (
        UniqueConstraint("item_kind", "item_id", "reminder_kind", "day"),
        Index("ix_reminder_claims_day", "day"),  # pruning old claims
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    item_kind: Mapped[ReminderItem] = mapped_column(_enum(ReminderItem, "reminder_item"))
    item_id: Mapped[int] = mapped_column(Integer)
    reminder_kind: Mapped[ReminderKind] = mapped_column(_enum(ReminderKind, "reminder_kind"))
    day: Mapped[date] = mapped_column(Date)
    recipient_id: Mapped[str] = mapped_column(String(SLACK_ID))
    state: Mapped[ClaimState] = mapped_column(_enum(ClaimState, "reminder_claim_state"))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# Indexes for the reminder sweep (bot.reminders.selection), across teams: only open follow-ups
# by due date (a small partial index), and postmortems by status and when it last changed.
_OPEN_FOLLOWUP = text("status IN ('open', 'in_progress')")
Index(
    "ix_follow_ups_open_due",
    FollowUp.due_date,
    postgresql_where=_OPEN_FOLLOWUP,
    sqlite_where=_OPEN_FOLLOWUP,
)
Index("ix_postmortems_status_changed", Postmortem.status, Postmortem.status_changed_at)


class JiraExportState(enum.StrEnum):
    PENDING = "pending"  # asked for; not yet sent (or a worker holds the lease)
    EXPORTED = "exported"  # the Jira issue exists: `issue_key`
    FAILED = "failed"  # the last attempt failed: `last_error`; retried at `next_attempt_at`


class JiraLink(Base):
    """A follow-up's Jira issue: export state, the key once created, and what sync last saw.

    `marker` is a label put on the Jira issue when it is created; before any create, Jira is
    searched for it, so a retried or repeated export adopts the issue instead of making another.
    """

    __tablename__ = "jira_links"
    __table_args__ = (
        UniqueConstraint("follow_up_id"),
        UniqueConstraint("marker"),
        UniqueConstraint("issue_key"),  # webhooks and polling find the follow-up by key
        Index("ix_jira_links_state_next", "state", "next_attempt_at"),  # the retry job
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    follow_up_id: Mapped[int] = mapped_column(ForeignKey("follow_ups.id", ondelete="CASCADE"))
    marker: Mapped[str] = mapped_column(String(128))
    state: Mapped[JiraExportState] = mapped_column(_enum(JiraExportState, "jira_export_state"))
    requested_by: Mapped[str] = mapped_column(String(SLACK_ID))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # one exporter at a time
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issue_key: Mapped[str | None] = mapped_column(String(64))
    issue_url: Mapped[str | None] = mapped_column(Text)
    assignee_note: Mapped[str | None] = mapped_column(Text)  # why nobody was assigned
    exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What sync last saw in Jira: a field is applied to the follow-up only when Jira changed it
    # (a due date changed in Slack is not reverted by the next poll).
    status_name: Mapped[str | None] = mapped_column(String(255))  # as Jira names it
    status_category: Mapped[str | None] = mapped_column(String(16))  # new/indeterminate/done
    seen_due: Mapped[str | None] = mapped_column(String(10))
    seen_assignee: Mapped[str | None] = mapped_column(String(128))  # accountId or username
    jira_updated: Mapped[str | None] = mapped_column(String(40))  # Jira's `updated`, for ordering
    synced_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A status change made in Slack and not yet applied in Jira (retried by the sync job):
    push_status: Mapped[str | None] = mapped_column(String(16))
    push_error: Mapped[str | None] = mapped_column(Text)

    follow_up: Mapped[FollowUp] = relationship(back_populates="jira_link")


class JiraWebhookDelivery(Base):
    """Jira webhook deliveries already handled (`X-Atlassian-Webhook-Identifier`): Jira retries
    a delivery with the same identifier."""

    __tablename__ = "jira_webhook_deliveries"

    identifier: Mapped[str] = mapped_column(String(128), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class JobClaim(Base):
    """A scheduled job's run for one time slot, taken by one replica (INSERT wins once)."""

    __tablename__ = "job_claims"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot: Mapped[str] = mapped_column(String(64), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # to do (or being done, while its lease holds)
    DONE = "done"
    DEAD = "dead"  # failed for good (a permanent refusal, or too many attempts)


class OutboxJob(Base):
    """A side effect (a Slack post, a DM, a Jira call, a canvas) recorded in the same transaction
    as the change that causes it, and carried out by the outbox workers of any replica: nothing
    acknowledged to Slack is lost in a crash, and nothing is done twice (see bot.core.outbox)."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        # What the workers ask for: due jobs of a lane (only pending rows are indexed).
        Index(
            "ix_outbox_jobs_due",
            "lane",
            "next_attempt_at",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        # Jobs of one ordering key run one at a time, oldest first.
        Index(
            "ix_outbox_jobs_pending_order",
            "ordering_key",
            "id",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
        Index("ix_outbox_jobs_finished_at", "finished_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    kind: Mapped[str] = mapped_column(String(64))
    lane: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    # At most one live job per key (e.g. one generation per incident); cleared when it ends.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    ordering_key: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[OutboxState] = mapped_column(_enum(OutboxState, "outbox_state"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    leased_by: Mapped[str | None] = mapped_column(String(128))
    request_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class GapState(enum.StrEnum):
    PENDING = "pending"  # to fetch (or being fetched: see the backfill job)
    DONE = "done"
    FAILED = "failed"  # Slack refused for good (missing scope, channel gone)


class CaptureGap(Base):
    """A stretch of an incident channel that live capture did not see: the lead-up before the
    declaration, or a time when no replica was capturing (see bot.capture.watch). A backfill job
    fetches it from Slack's history, page by page; the cursor is kept here, so a restart
    resumes where it stopped, and generation says what is still being fetched."""

    __tablename__ = "capture_gaps"
    __table_args__ = (
        UniqueConstraint("team_id", "channel_id", "reason", "start_at"),
        Index("ix_capture_gaps_channel_state", "team_id", "channel_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    team_id: Mapped[str] = mapped_column(String(SLACK_ID))
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID))
    reason: Mapped[str] = mapped_column(String(16))  # "leadup" or "downtime"
    start_at: Mapped[datetime] = mapped_column(UTCDateTime())
    end_at: Mapped[datetime] = mapped_column(UTCDateTime())
    state: Mapped[GapState] = mapped_column(_enum(GapState, "capture_gap_state"))
    cursor: Mapped[str | None] = mapped_column(String(255))  # next history page
    history_done: Mapped[bool] = mapped_column(Boolean, default=False)
    threads: Mapped[list[str]] = mapped_column(JSON, default=list)  # parents still to fetch
    fetched: Mapped[int] = mapped_column(Integer, default=0)  # messages stored so far
    calls: Mapped[int] = mapped_column(Integer, default=0)  # Slack calls made so far
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class CaptureHeartbeat(Base):
    """Each running replica's last sign of life: when none was alive for a while, capture had
    a gap, in every incident channel (bot.capture.watch)."""

    __tablename__ = "capture_heartbeats"

    worker: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ChannelMember(Base):
    """Who is in an incident channel, seeded from conversations.members and kept by Slack's
    member events: a private incident's content is shown to these people only
    (bot.core.visibility). `since` is when the row was learnt, so a seed read before a join
    event never removes the person that event added."""

    __tablename__ = "channel_members"

    team_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    channel_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(SLACK_ID), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime())
