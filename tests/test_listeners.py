"""Listeners are plain module-level functions: importable and callable without Bolt's request
machinery (here with a recording ack/respond, the real client and the real database)."""

from __future__ import annotations

from typing import Any

from slack_bolt import BoltContext
from slack_sdk import WebClient
from sqlalchemy import select

from bot.app import job_specs
from bot.core.outbox_worker import OutboxWorkers
from bot.incidents import flows as incident_flows
from bot.services import Services
from bot.slack.client import make_web_client
from bot.slack.origin import Origin
from bot.slack.workspaces import SingleWorkspace
from handlers.followups import followup_command
from handlers.request import Request
from handlers.timeline import timeline_command
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import FollowUp, TimelineEvent
from tests.bench import ALICE, INCIDENT_CHANNEL


class Recorder:
    """Stands in for Bolt's `ack` and `respond`: remembers each call's arguments."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> None:
        self.calls.append(kwargs)


def _services(slack: FakeSlack, db: Database) -> Services:
    settings = sandbox_settings(slack, db.url)
    workspace = SingleWorkspace(make_web_client(settings))
    return Services(settings=settings, db=db, workspaces=workspace)


def _command_request(
    text: str, slack: FakeSlack, client: WebClient, services: Services
) -> tuple[Request, Recorder, Recorder]:
    """A slash command as Slack sends it, with a recording ack and respond."""
    body = {
        "text": text,
        "channel_id": INCIDENT_CHANNEL,
        "user_id": ALICE,
        "team_id": slack.team_id,
    }
    ack, respond = Recorder(), Recorder()
    context = BoltContext(team_id=slack.team_id)
    request = Request(ack, respond, client, body, body, context, services)  # type: ignore[arg-type]
    return request, ack, respond


def test_timeline_listener_called_directly(slack: FakeSlack, db: Database) -> None:
    services = _services(slack, db)
    client = make_web_client(services.settings)
    origin = Origin(slack.team_id, INCIDENT_CHANNEL, ALICE)
    incident_flows.declare(services, client, origin, "Checkout returns 500s", None)
    request, ack, _respond = _command_request("Rolled back deploy 4812", slack, client, services)

    timeline_command(request)

    assert ack.calls == [{}]
    with db.session() as session:
        texts = session.scalars(select(TimelineEvent.text)).all()
    assert "Rolled back deploy 4812" in texts  # stored before the ack
    echoed = [m for m in slack.messages(INCIDENT_CHANNEL) if "4812" in m.get("text", "")]
    assert echoed == []  # the echo is an outbox job: not posted by the listener
    assert OutboxWorkers(db, job_specs(services)).run_pending() >= 2  # announcement, echo
    assert any(
        "Rolled back deploy 4812" in m.get("text", "") for m in slack.messages(INCIDENT_CHANNEL)
    )


def test_followup_listener_answers_help_in_the_ack(slack: FakeSlack, db: Database) -> None:
    services = _services(slack, db)
    client = make_web_client(services.settings)
    request, ack, respond = _command_request("help", slack, client, services)

    followup_command(request)

    assert len(ack.calls) == 1 and "/followup" in ack.calls[0]["text"]
    assert ack.calls[0]["response_type"] == "ephemeral"
    assert respond.calls == []
    with db.session() as session:
        assert session.scalars(select(FollowUp)).all() == []
