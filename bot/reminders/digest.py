"""The weekly digest to REMINDER_DIGEST_CHANNEL: overdue follow-ups by owner, postmortems by
status, and a PNG chart of open versus closed follow-ups over the last 8 weeks.

The channel is shared, so private incidents are only counted ("and N in private incidents"),
never named. Sending is claimed once per ISO week in `reminder_claims` (bot.reminders.claims):
several replicas or a manual `remind --digest` after the scheduled run send it once; a failed
upload or post releases the claim so the next attempt sends it.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from bot.core.settings import Settings
from bot.postmortem.context import load_names
from bot.reminders.claims import ClaimKey, already_claimed, claim, mark_sent, release
from bot.reminders.digest_blocks import digest_message
from bot.slack.workspaces import Workspaces, as_workspaces
from storage.db import Database
from storage.models import (
    FollowUp,
    FollowUpChange,
    FollowUpField,
    FollowUpStatus,
    Incident,
    Postmortem,
    PostmortemStatus,
    ReminderItem,
    ReminderKind,
)

log = logging.getLogger("postmortem_bot.digest")
WEEKS = 8
CHART_FILENAME = "followups-8-weeks.png"
_OPEN = (FollowUpStatus.OPEN.value, FollowUpStatus.IN_PROGRESS.value)


@dataclass(frozen=True)
class Week:
    """The week (start, end]: follow-ups open at its end, and those closed during it."""

    start: datetime
    end: datetime
    open: int
    closed: int


@dataclass(frozen=True)
class Digest:
    team_id: str
    now: datetime
    overdue_by_owner: dict[str | None, list[str]]  # owner (None: unassigned) -> keys, by due
    overdue_private: int
    postmortems_by_status: dict[PostmortemStatus, int]
    postmortems_private: int
    weeks: list[Week]
    owner_names: dict[str, str] = field(default_factory=dict)  # no @-mentions: nobody is pinged

    @property
    def overdue_total(self) -> int:
        return sum(len(keys) for keys in self.overdue_by_owner.values())


def week_key(now: datetime) -> ClaimKey:
    """One digest per ISO week: keyed by that week's Monday."""
    today = now.date()
    monday = today - timedelta(days=today.weekday())
    return ClaimKey(ReminderItem.DIGEST, 0, ReminderKind.WEEKLY_DIGEST, monday)


def build_digest(session: Session, *, team_id: str, now: datetime) -> Digest:
    today = now.date()
    overdue = session.scalars(
        select(FollowUp)
        .join(Incident, Incident.id == FollowUp.incident_id)
        .where(
            FollowUp.team_id == team_id,
            FollowUp.status.in_(_OPEN),
            FollowUp.due_date < today,
            FollowUp.created_at <= now,
        )
        .order_by(FollowUp.due_date, FollowUp.id)
    ).unique()
    by_owner: dict[str | None, list[str]] = {}
    overdue_private = 0
    for followup in overdue:
        if followup.incident.channel_private:
            overdue_private += 1
        else:
            by_owner.setdefault(followup.owner_id, []).append(followup.key)
    by_status = {status: 0 for status in PostmortemStatus}
    postmortems_private = 0
    rows = session.execute(
        select(Postmortem.status, Incident.channel_private)
        .join(Incident, Incident.id == Postmortem.incident_id)
        .where(Postmortem.team_id == team_id, Postmortem.created_at <= now)
    )
    for status, private in rows:
        if private:
            postmortems_private += 1
        else:
            by_status[status] += 1
    return Digest(
        team_id=team_id,
        now=now,
        overdue_by_owner=dict(
            sorted(by_owner.items(), key=lambda item: (-len(item[1]), item[0] or "~"))
        ),
        overdue_private=overdue_private,
        postmortems_by_status=by_status,
        postmortems_private=postmortems_private,
        weeks=weekly_counts(session, team_id=team_id, now=now),
        owner_names=load_names(session, team_id, {o for o in by_owner if o}),
    )


def weekly_counts(session: Session, *, team_id: str, now: datetime) -> list[Week]:
    """For each of the 8 weeks ending at `now`: follow-ups open at the week's end (created
    before, not closed at that moment) and follow-ups closed during the week, from the status
    changes in `follow_up_changes`. Private incidents are left out."""
    first = now - timedelta(weeks=WEEKS)
    followups = list(
        session.scalars(
            select(FollowUp)
            .join(Incident, Incident.id == FollowUp.incident_id)
            .where(
                FollowUp.team_id == team_id,
                Incident.channel_private.is_(False),
                FollowUp.created_at <= now,
                # closed before the first week and untouched since: no part in the chart
                or_(FollowUp.status.in_(_OPEN), FollowUp.updated_at > first),
            )
        ).unique()
    )
    changes: dict[int, list[tuple[datetime, str | None, str | None]]] = {}
    ids = [f.id for f in followups]
    for offset in range(0, len(ids), 500):
        for change in session.scalars(
            select(FollowUpChange)
            .where(
                FollowUpChange.follow_up_id.in_(ids[offset : offset + 500]),
                FollowUpChange.field == FollowUpField.STATUS,
            )
            .order_by(FollowUpChange.changed_at, FollowUpChange.id)
        ):
            changes.setdefault(change.follow_up_id, []).append(
                (change.changed_at, change.old_value, change.new_value)
            )
    weeks: list[Week] = []
    for back in range(WEEKS - 1, -1, -1):
        end = now - timedelta(weeks=back)
        start = end - timedelta(weeks=1)
        open_count = closed = 0
        for followup in followups:
            history = changes.get(followup.id, [])
            if followup.created_at <= end and _status_at(followup, history, end) in _OPEN:
                open_count += 1
            if any(
                start < at <= end and old in _OPEN and new not in _OPEN for at, old, new in history
            ):
                closed += 1
        weeks.append(Week(start=start, end=end, open=open_count, closed=closed))
    return weeks


def _status_at(
    followup: FollowUp, history: list[tuple[datetime, str | None, str | None]], moment: datetime
) -> str | None:
    """The status at `moment`: the last change by then, else the status it was created with."""
    status = history[0][1] if history else followup.status.value
    for at, _old, new in history:
        if at > moment:
            break
        status = new
    return status


def render_chart(weeks: list[Week]) -> bytes:
    """A small PNG: open (at each week's end) and closed (during the week) follow-ups."""
    figure = Figure(figsize=(6.4, 3.2), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    positions = list(range(len(weeks)))
    labels = [f"{week.end:%b} {week.end.day}" for week in weeks]
    width = 0.4
    axes.bar([p - width / 2 for p in positions], [w.open for w in weeks], width, label="open")
    axes.bar([p + width / 2 for p in positions], [w.closed for w in weeks], width, label="closed")
    axes.set_xticks(positions, labels, fontsize=8)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_title("Follow-ups: open at week's end vs closed that week", fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def send_digests(
    db: Database,
    clients: Workspaces | WebClient,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    echo: Callable[[str], object] | None = None,
) -> bool:
    """`send_digest` for each workspace the bot is installed in. A channel id belongs to one
    workspace: when there are several (multi-workspace install), only those where
    REMINDER_DIGEST_CHANNEL is found get a digest. Every workspace is tried; the first error is
    raised after. True when at least one digest was posted (or, with dry_run, would be)."""
    everyone = as_workspaces(clients).all_clients()
    channel = settings.reminder_digest_channel
    targets = [c for c in everyone if _has_channel(c, channel)] if len(everyone) > 1 else everyone
    posted = False
    failure: Exception | None = None
    for client in targets:
        try:
            posted = send_digest(db, client, settings, now, dry_run=dry_run, echo=echo) or posted
        except Exception as error:
            log.warning("weekly digest failed for one workspace", exc_info=True)
            failure = failure or error
    if failure is not None:
        raise failure
    return posted


def _has_channel(client: WebClient, channel: str | None) -> bool:
    if not channel:
        return True  # send_digest says there is no channel
    try:
        client.conversations_info(channel=channel)
    except SlackApiError as error:
        return bool(error.response.get("error") != "channel_not_found")
    return True


def send_digest(
    db: Database,
    client: WebClient,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
    echo: Callable[[str], object] | None = None,
) -> bool:
    """Post this week's digest to REMINDER_DIGEST_CHANNEL; False when there is no channel or
    it was already sent this week. With dry_run, say what would be posted and touch nothing."""
    say = echo or (lambda line: log.debug("digest: %s", line))  # titles: not at info
    channel = settings.reminder_digest_channel
    if not channel:
        say("REMINDER_DIGEST_CHANNEL is not set: no digest")
        return False
    team_id = str(client.auth_test()["team_id"])
    key = week_key(now)
    if dry_run:
        with db.session() as session:
            taken = already_claimed(session, [key], now=now)
            digest = build_digest(session, team_id=team_id, now=now)
        if taken:
            say(f"already sent this week (week of {key.day.isoformat()}): nothing to send")
            return False
        text, _blocks = digest_message(digest)
        say(f"would post the weekly digest to {channel}: {text}")
        return True
    with db.session() as session:
        if not claim(session, key, team_id=team_id, recipient_id=channel, now=now):
            say(f"already sent this week (week of {key.day.isoformat()}): nothing to send")
            return False
    try:
        with db.session() as session:
            digest = build_digest(session, team_id=team_id, now=now)
        text, blocks = digest_message(digest)
        client.files_upload_v2(
            channel=channel,
            file=render_chart(digest.weeks),
            filename=CHART_FILENAME,
            title="Follow-ups, last 8 weeks",
            initial_comment="Follow-ups over the last 8 weeks: open versus closed",
        )
        client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except Exception:  # any failure: give the claim back, the next run sends it
        with db.session() as session:
            release(session, [key], claimed_at=now)
        raise
    with db.session() as session:
        mark_sent(session, [key], claimed_at=now)
    say(f"posted the weekly digest to {channel}: {text}")
    return True
