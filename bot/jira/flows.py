"""`JiraSync`: Jira export and two-way sync, wired to the database, Slack and the clock.

Handlers call `export`, `export_incident` and `status_changed`; the HTTP server calls
`handle_webhook`; the scheduler calls `run_scheduled` (retries, pending pushes, polling).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from bot.core import metrics
from bot.core.clock import Clock
from bot.core.job_claims import claim_slot
from bot.core.settings import Settings
from bot.followups import announcement as publish
from bot.followups.service import OPEN_STATUSES
from bot.jira import links, outbound, webhook
from bot.jira.export import ExportResult, export_followup
from bot.jira.gateway import JiraFailure, JiraGateway, JiraIssue
from bot.jira.inbound import Applied, apply_issue
from bot.slack.workspaces import Workspaces
from storage.db import Database
from storage.models import FollowUp

log = logging.getLogger("postmortem_bot.jira")
SYNC_JOB = "jira_sync"


@dataclass
class SyncReport:
    exported: list[str] = field(default_factory=list)
    export_failures: list[str] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)
    polled: int = 0
    changed: list[str] = field(default_factory=list)
    skipped: bool = False  # another replica has this slot
    error: str | None = None


class JiraSync:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        workspaces: Workspaces,
        clock: Clock,
        *,
        gateway: JiraGateway | None = None,
        on_session: Callable[[Any], None] | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.workspaces = workspaces
        self.clock = clock
        # Jira calls and errors by method are counted in /metrics (bot.metrics).
        self.gateway = gateway or JiraGateway(
            settings, on_session=on_session or metrics.instrument_requests_session
        )

    # -- start -------------------------------------------------------------------------------

    def startup_check(self) -> str | None:
        """Report once, at start, whether Jira can be used; the bot runs either way."""
        problem = self.gateway.check()
        if problem:
            log.error(
                "Jira is not usable: %s Follow-ups are still created; exports are kept and "
                "retried until Jira works.",
                problem,
            )
        else:
            log.info(
                "Jira: connected to %s (project %s)", self.gateway.base_url, self.gateway.project
            )
        return problem

    # -- Slack → Jira ------------------------------------------------------------------------

    def export(
        self, client: WebClient | None, team_id: str, followup_id: int, *, by: str
    ) -> ExportResult:
        result = export_followup(
            self.db,
            self.gateway,
            self.settings,
            client,
            team_id=team_id,
            followup_id=followup_id,
            by=by,
            now=self.clock(),
        )
        if client is not None and (result.created or result.adopted or result.error):
            self._after_export(client, result)
        return result

    def export_incident(
        self, client: WebClient, team_id: str, incident_id: int, *, by: str
    ) -> list[ExportResult]:
        """Export every open follow-up of the incident not yet in Jira."""
        with self.db.session() as session:
            ids = list(
                session.scalars(
                    select(FollowUp.id)
                    .where(
                        FollowUp.team_id == team_id,
                        FollowUp.incident_id == incident_id,
                        FollowUp.status.in_(OPEN_STATUSES),
                    )
                    .order_by(FollowUp.number)
                )
            )
        return [self.export(client, team_id, followup_id, by=by) for followup_id in ids]

    def _after_export(self, client: WebClient, result: ExportResult) -> None:
        followup = self._reload(result.followup.id)
        try:
            publish.refresh(client, followup, jira_enabled=True)
            if result.ok:
                text = f"Exported to Jira: <{result.issue_url}|{result.issue_key}>"
                if result.assignee_note:
                    text += f" ({result.assignee_note})"
                publish.note(client, followup, text)
        except SlackApiError as error:
            log.warning(
                "could not update %s in Slack: %s", followup.key, error.response.get("error")
            )

    def status_changed(self, client: WebClient, followup: FollowUp) -> None:
        """A follow-up's status changed in Slack: move its Jira issue (if it has one)."""
        with self.db.session() as session:
            requested = outbound.request_push(session, followup.id)
        if requested:
            self.push_requested(client, followup.id)

    def push_requested(self, client: WebClient | None, followup_id: int) -> None:
        """Move the Jira issue to the status written down by `outbound.request_push` (in the
        transaction that changed the follow-up), and say how it went in Slack."""
        result = outbound.push_status(self.db, self.gateway, followup_id, now=self.clock())
        self._say_push(client, self._reload(followup_id), result)

    def _say_push(
        self, client: WebClient | None, followup: FollowUp, result: outbound.PushResult | None
    ) -> None:
        text = result.message(followup.key) if result else None
        if client is None or not text:
            return
        try:
            fresh = self._reload(followup.id)
            publish.refresh(client, fresh, jira_enabled=True)
            publish.note(client, fresh, text)
        except SlackApiError as error:
            log.warning(
                "could not post Jira result for %s: %s", followup.key, error.response.get("error")
            )

    # -- Jira → Slack ------------------------------------------------------------------------

    def handle_webhook(self, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON answer) for one delivery to `POST /jira/webhook`."""
        secret = self.settings.jira_webhook_secret
        if secret is None or not secret.get_secret_value():
            log.warning("Jira webhook refused: JIRA_WEBHOOK_SECRET is not set")
            return 401, {"error": "webhook secret not configured"}
        if not webhook.signature_ok(
            secret.get_secret_value(), body, headers.get("x-hub-signature")
        ):
            return 401, {"error": "bad signature"}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, {"error": "body is not JSON"}
        if not isinstance(payload, dict):
            return 400, {"error": "body is not a JSON object"}
        identifier = headers.get("x-atlassian-webhook-identifier", "")
        now = self.clock()
        if identifier:
            with self.db.session() as session:
                first = webhook.claim_delivery(session, identifier, now)
            if not first:
                return 200, {"ok": True, "duplicate": True}
        try:
            applied = self._apply_webhook(payload)
        except Exception:
            if identifier:
                with self.db.session() as session:  # Jira's retry is then processed
                    webhook.release_delivery(session, identifier)
            raise
        return 200, {"ok": True, "applied": applied}

    def _apply_webhook(self, payload: dict[str, Any]) -> bool:
        issue_json = payload.get("issue")
        event = str(payload.get("webhookEvent") or "")
        if event != "jira:issue_updated" or not isinstance(issue_json, dict):
            return False
        if "key" not in issue_json:
            return False
        issue = JiraIssue.from_json(issue_json, self.gateway.base_url)
        return self._apply(issue) is not None

    def _apply(self, issue: JiraIssue) -> Applied | None:
        team = self._team_of(issue.key)
        if team is None:
            return None
        client = self.workspaces.client_for(team)
        applied = apply_issue(self.db, issue, lookup=self._lookup(client), now=self.clock())
        if applied is None or client is None or not (applied.changes or applied.notes):
            return applied
        try:
            for change in applied.changes:
                publish.publish_change(client, applied.followup, change, jira_enabled=True)
            for text in applied.notes:
                publish.note(client, applied.followup, text)
            if not applied.changes:
                publish.refresh(client, applied.followup, jira_enabled=True)
        except SlackApiError as error:
            log.warning(
                "could not post Jira changes of %s: %s", issue.key, error.response.get("error")
            )
        return applied

    def _team_of(self, key: str) -> str | None:
        with self.db.session() as session:
            link = links.link_by_key(session, key)
            return link.team_id if link else None

    @staticmethod
    def _lookup(client: WebClient | None) -> Callable[[str], str | None]:
        def by_email(email: str) -> str | None:
            if client is None:
                return None
            try:
                return str(client.users_lookupByEmail(email=email)["user"]["id"])
            except SlackApiError:
                return None

        return by_email

    # -- scheduled ---------------------------------------------------------------------------

    def run_scheduled(self) -> SyncReport:
        """Once per JIRA_SYNC_INTERVAL_MINUTES across replicas: retry failed and stranded
        exports, retry status changes Jira has not taken yet, then poll every exported issue."""
        now = self.clock()
        every = timedelta(minutes=self.settings.jira_sync_interval_minutes)
        with self.db.session() as session:
            won = claim_slot(session, SYNC_JOB, now, every)
        if not won:
            return SyncReport(skipped=True)
        return self.sync_now()

    def sync_now(self) -> SyncReport:
        report = SyncReport()
        now = self.clock()
        with self.db.session() as session:
            webhook.prune_deliveries(session, now)
        with self.db.session() as session:
            due = links.due_exports(session, now)
        for team, followup_id in due:
            client = self.workspaces.client_for(team)
            result = self.export(client, team, followup_id, by="scheduler")
            key = result.followup.key
            (report.exported if result.ok else report.export_failures).append(key)
        with self.db.session() as session:
            pushes = links.pending_pushes(session)
        for team, followup_id in pushes:
            result_push = outbound.push_status(self.db, self.gateway, followup_id, now=self.clock())
            followup = self._reload(followup_id)
            self._say_push(self.workspaces.client_for(team), followup, result_push)
            if result_push is not None and result_push.error is None:
                report.pushed.append(followup.key)
        try:
            self._poll(report)
        except JiraFailure as failure:
            report.error = failure.reason
            log.warning("Jira polling failed: %s", failure.reason)
        return report

    def _poll(self, report: SyncReport) -> None:
        with self.db.session() as session:
            keys = links.exported_keys(session)
        for issue in self.gateway.issues(keys):
            report.polled += 1
            applied = self._apply(issue)
            if applied is not None and applied.changes:
                report.changed.append(applied.followup.key)

    def _reload(self, followup_id: int) -> FollowUp:
        with self.db.session() as session:
            followup = session.get_one(FollowUp, followup_id)
            _ = followup.incident, followup.jira_link
            return followup
