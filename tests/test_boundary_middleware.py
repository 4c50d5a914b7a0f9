"""The Bolt side of the boundary (handlers.middleware), without HTTP in front of it: Socket
Mode requests (which come over Slack's authenticated websocket, not through bot.web) still
reach the listeners, cleaned; an HTTP request that did not pass bot.web.verify does not."""

from __future__ import annotations

from urllib.parse import urlencode

from slack_bolt import BoltRequest
from sqlalchemy import select

from bot.app import create_bot
from bot.services import Services
from sandbox.harness import sandbox_settings
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import Incident
from tests.bench import ALICE, INCIDENT_CHANNEL


def _command(slack: FakeSlack, text: str) -> dict[str, str]:
    return {
        "command": "/incident",
        "text": text,
        "team_id": slack.team_id,
        "channel_id": INCIDENT_CHANNEL,
        "user_id": ALICE,
        "response_url": slack.new_response_url(),
        "trigger_id": slack.new_trigger_id(),
    }


def _titles(db: Database) -> list[str]:
    with db.read_session() as session:
        return list(session.scalars(select(Incident.title)))


def test_socket_mode_requests_reach_the_listeners_cleaned(slack: FakeSlack, db: Database) -> None:
    settings = sandbox_settings(slack, db.url, slack_app_token="xapp-1-A0001-test")
    assert settings.socket_mode
    bot = create_bot(Services(settings=settings, db=db))
    try:
        # what SocketModeHandler builds from an envelope
        request = BoltRequest(
            body=_command(slack, "declare Disk\x00 full sev2"), mode="socket_mode"
        )
        assert bot.app.dispatch(request).status == 200
    finally:
        bot.close()  # the listener's work after the ack has finished
    assert _titles(db) == ["Disk full"]
    assert slack.calls_to("chat.postMessage")


def test_an_http_request_bolt_did_not_get_from_our_verifier_is_refused(
    slack: FakeSlack, db: Database
) -> None:
    """A second lock: if anything handed Bolt a raw HTTP request (Bolt's own adapter, say),
    with Bolt's signature check off, nothing would run."""
    bot = create_bot(Services(settings=sandbox_settings(slack, db.url), db=db))
    slack.reset_calls()
    try:
        body = urlencode(_command(slack, "declare Forged sev1"))
        request = BoltRequest(
            body=body, headers={"content-type": "application/x-www-form-urlencoded"}
        )
        assert bot.app.dispatch(request).status == 401
    finally:
        bot.close()
    assert _titles(db) == []
    assert slack.calls == []
