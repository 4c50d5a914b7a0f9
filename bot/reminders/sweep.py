"""One reminder sweep: select, group per person, keep to working hours, claim, send, settle.

Sending happens outside database transactions. Each person's reminders are claimed in one
short transaction first; a failed send (ok:false, 429, network) releases the claims so the next
sweep retries, a successful one marks them sent. See bot.reminders.claims for why this is
exactly once across threads and replicas.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.dates import local_today
from bot.core.metrics import reminder_sent
from bot.core.settings import Settings
from bot.core.visibility import hidden_incident_ids
from bot.reminders.blocks import MAX_ITEMS, reminder_dm
from bot.reminders.claims import already_claimed, claim, mark_sent, prune, release
from bot.reminders.hours import WorkingHours, working_hours
from bot.reminders.selection import (
    Reminder,
    Rules,
    classify_followup,
    classify_postmortem,
    followup_recipient,
    select_candidates,
)
from bot.slack.users import get_user
from bot.slack.workspaces import Workspaces, as_workspaces
from storage.db import Database
from storage.models import FollowUp, Postmortem, ReminderKind

log = logging.getLogger("postmortem_bot.reminders")
_ORDER = list(ReminderKind)


@dataclass
class Delivery:
    """One DM: sent, would be sent (dry run), or failed (its claims released for a retry)."""

    recipient_id: str
    tz: str
    reminders: list[Reminder]
    status: str  # "sent" | "would send" | "failed"
    error: str | None = None

    def describe(self) -> str:
        items = ", ".join(
            f"{_label(r)} {r.key.reminder_kind.value.replace('_', ' ')}" for r in self.reminders
        )
        why = f" ({self.error}; the next sweep retries)" if self.error else ""
        return f"{self.status} DM to {self.recipient_id} ({self.tz}): {items}{why}"


@dataclass
class SweepReport:
    now: datetime
    dry_run: bool
    selection_ms: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    outside_hours: list[str] = field(default_factory=list)  # "U123 (Europe/Paris)"
    unreachable: list[str] = field(default_factory=list)  # users.info failed or not a person
    not_installed: list[str] = field(default_factory=list)  # team ids without a bot token

    @property
    def sent(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == "sent"]

    @property
    def failed(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.status == "failed"]

    def lines(self) -> list[str]:
        lines = [d.describe() for d in self.deliveries]
        if self.outside_hours:
            lines.append("outside working hours, later: " + ", ".join(self.outside_hours))
        if self.unreachable:
            lines.append("could not look up: " + ", ".join(self.unreachable))
        if self.not_installed:
            lines.append("not installed, kept for later: " + ", ".join(self.not_installed))
        if not self.deliveries:
            lines.append("nothing to send")
        return lines


def _label(reminder: Reminder) -> str:
    if reminder.followup is not None:
        return reminder.followup.key
    assert reminder.postmortem is not None
    return f"{reminder.postmortem.incident.key} postmortem"


def rules_from(settings: Settings) -> Rules:
    return Rules(
        due_soon_days=settings.reminder_due_soon_days,
        draft_sla=timedelta(hours=settings.postmortem_draft_sla_hours),
        review_sla=timedelta(days=settings.postmortem_review_sla_days),
    )


def sweep(
    db: Database,
    clients: Workspaces | WebClient,
    settings: Settings,
    now: datetime,
    *,
    dry_run: bool = False,
) -> SweepReport:
    """Send (or, with dry_run, list) every reminder due at `now`, each with the client of the
    workspace it belongs to (one client: one workspace)."""
    workspaces = as_workspaces(clients)
    rules = rules_from(settings)
    hours = working_hours(settings.working_hours, settings.working_days)
    report = SweepReport(now=now, dry_run=dry_run)
    started = time.perf_counter()
    with db.session() as session:
        candidates = select_candidates(session, now=now, rules=rules)
    report.selection_ms = (time.perf_counter() - started) * 1000
    people: dict[tuple[str, str], list[FollowUp | Postmortem]] = {}
    for followup in candidates.followups:
        people.setdefault((followup.team_id, followup_recipient(followup)), []).append(followup)
    for postmortem in candidates.postmortems:
        people.setdefault((postmortem.team_id, postmortem.owner_id), []).append(postmortem)
    for (team_id, user_id), items in sorted(people.items()):
        client = workspaces.client_for(team_id)
        if client is None:  # uninstalled (or not yet): nothing is claimed, nothing is lost
            if team_id not in report.not_installed:
                report.not_installed.append(team_id)
            continue
        _remind(db, client, report, hours, rules, team_id, user_id, items)
    if not dry_run:
        with db.session() as session:
            prune(session, today=now.date())
    return report


def _remind(
    db: Database,
    client: WebClient,
    report: SweepReport,
    hours: WorkingHours,
    rules: Rules,
    team_id: str,
    user_id: str,
    items: list[FollowUp | Postmortem],
) -> None:
    now = report.now
    try:
        user = get_user(db, client, team_id=team_id, user_id=user_id, now=now)
    except SlackApiError as error:
        log.warning("users.info failed for %s: %s", user_id, error.response.get("error"))
        user = None
    if user is None or user.is_bot:
        report.unreachable.append(user_id)
        return
    if not hours.contains(now, user.tz):
        report.outside_hours.append(f"{user_id} ({user.tz})")
        return
    today = local_today(now, user.tz)
    reminders = _classify(items, today, rules)
    with db.session() as session:
        taken = already_claimed(session, [r.key for r in reminders], now=now)
    reminders = [r for r in reminders if r.key not in taken][:MAX_ITEMS]
    if not reminders:
        return
    if report.dry_run:
        report.deliveries.append(Delivery(user_id, user.tz, reminders, "would send"))
        return
    with db.session() as session:
        won = [
            r
            for r in sorted(reminders, key=lambda r: r.key)  # one order: no deadlocks
            if claim(session, r.key, team_id=team_id, recipient_id=user_id, now=now)
        ]
    won.sort(key=lambda r: reminders.index(r))
    if won:
        report.deliveries.append(_send(db, client, user_id, user.tz, won, today, now))


def _classify(items: list[FollowUp | Postmortem], today: date, rules: Rules) -> list[Reminder]:
    reminders: list[Reminder] = []
    for item in items:
        if isinstance(item, FollowUp):
            reminder = classify_followup(item, today=today, rules=rules)
            if reminder is not None:
                reminders.append(reminder)
        elif isinstance(item, Postmortem):
            reminders.append(classify_postmortem(item, today=today))
    return sorted(reminders, key=lambda r: _ORDER.index(r.key.reminder_kind))


def _send(
    db: Database,
    client: WebClient,
    user_id: str,
    tz: str,
    reminders: list[Reminder],
    today: date,
    now: datetime,
) -> Delivery:
    keys = [r.key for r in reminders]
    with db.session() as session:
        incidents = [r.followup.incident for r in reminders if r.followup is not None]
        incidents += [r.postmortem.incident for r in reminders if r.postmortem is not None]
        hidden = hidden_incident_ids(session, incidents, user_id)
    text, blocks = reminder_dm(reminders, today=today, hidden=hidden)
    try:
        channel = client.conversations_open(users=user_id)["channel"]["id"]
        client.chat_postMessage(channel=channel, text=text, blocks=blocks)
    except Exception as error:  # any failure: give the claims back
        reason = (
            str(error.response.get("error", "error"))
            if isinstance(error, SlackApiError)
            else type(error).__name__
        )
        log.warning("reminder DM to %s failed (%s); will retry", user_id, reason)
        with db.session() as session:
            release(session, keys, claimed_at=now)
        return Delivery(user_id, tz, reminders, "failed", error=reason)
    with db.session() as session:
        mark_sent(session, keys, claimed_at=now)
    for reminder in reminders:
        reminder_sent(reminder.key.reminder_kind.value)
    return Delivery(user_id, tz, reminders, "sent")
