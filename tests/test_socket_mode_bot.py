"""The real `python -m bot run` in Socket Mode (the manifest's default) against the fake's
websocket: requests are acknowledged over the socket, and SIGTERM stops it gracefully (the
socket closes, what was acknowledged is done, exit 0)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from sandbox.harness import wait_until
from sandbox.slack.fake import FakeSlack
from storage.db import Database
from storage.models import CapturedMessage, TimelineEvent
from tests.bench import ALICE, BOB, INCIDENT_CHANNEL
from tests.processes import Launcher, bot_env

pytestmark = pytest.mark.xdist_group("bot_processes")  # see tests/test_production_server.py


def command(slack: FakeSlack, name: str, text: str, user: str = ALICE) -> dict[str, Any]:
    """A slash command as Socket Mode delivers it: the HTTP form's fields, as JSON."""
    return {
        "token": "verification_token",
        "team_id": slack.team_id,
        "team_domain": slack.team_domain,
        "channel_id": INCIDENT_CHANNEL,
        "channel_name": "inc-checkout",
        "user_id": user,
        "user_name": user.lower(),
        "command": name,
        "text": text,
        "api_app_id": "A0001",
        "is_enterprise_install": "false",
        "response_url": slack.new_response_url(),
        "trigger_id": f"{uuid.uuid4().int % 10**10}.{uuid.uuid4().hex}",
    }


def message_event(slack: FakeSlack, text: str) -> dict[str, Any]:
    message = slack.post_as_user(INCIDENT_CHANNEL, BOB, text)
    return {
        "token": "verification_token",
        "team_id": slack.team_id,
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "event": {
            "type": "message",
            "channel": INCIDENT_CHANNEL,
            "channel_type": "channel",
            **message,
            "event_ts": message["ts"],
        },
    }


def test_socket_mode_acks_over_the_socket_and_stops_gracefully_on_sigterm(
    launcher: Launcher, slack: FakeSlack, database_url: str
) -> None:
    bound = 15.0
    env = bot_env(
        slack,
        database_url,
        SLACK_APP_TOKEN=slack.app_token,
        SHUTDOWN_TIMEOUT_SECONDS=str(bound),
        SCHEDULER_FIRST_RUN_SECONDS="3600",
    )
    bot = launcher.start(env, wait=False)  # no HTTP server in Socket Mode
    slack.wait_for_socket_connections(1, timeout=45)
    bot.wait_for_output("Socket Mode", timeout=10)

    declared = slack.send_socket_envelope(
        "slash_commands", command(slack, "/incident", "declare Socket checkout")
    )
    assert slack.wait_for_socket_ack(declared, timeout=10) == {}  # the ack, after the commit
    slack.wait_for("chat.postMessage", timeout=15)
    help_ack = slack.wait_for_socket_ack(
        slack.send_socket_envelope("slash_commands", command(slack, "/timeline", "help"))
    )
    assert "/timeline" in help_ack["text"]  # the answer rides on the ack

    # A burst, with Slack rate-limiting the echoes, then SIGTERM while they are still due.
    slack.rate_limit("chat.postMessage", retry_after=2)
    tokens = [f"sock-{n:02d}-{uuid.uuid4().hex[:6]}" for n in range(10)]
    envelopes = [
        slack.send_socket_envelope("slash_commands", command(slack, "/timeline", token))
        for token in tokens
    ]
    captured = message_event(slack, "replica 3 is back")
    envelopes.append(slack.send_socket_envelope("events_api", captured))
    for envelope in envelopes:
        slack.wait_for_socket_ack(envelope, timeout=10)
    bot.terminate()
    code = bot.wait(timeout=bound + 10)
    output = bot.output()

    assert code == 0, output
    assert "stopped" in output, output
    assert slack.socket_mode_connections() == 0  # the socket was closed
    db = Database(database_url)
    try:
        with db.session() as session:
            texts = session.scalars(select(TimelineEvent.text)).all()
            kept = session.scalars(select(CapturedMessage.text)).all()
    finally:
        db.dispose()
    assert sorted(t for t in texts if t.startswith("sock-")) == sorted(tokens)  # once each
    assert "replica 3 is back" in kept  # stored before its ack
    echoed = [
        str(c.params.get("text", ""))
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200 and c.params.get("channel") == INCIDENT_CHANNEL
    ]
    for token in tokens:  # what was acknowledged was done before the exit, once
        assert sum(token in text for text in echoed) == 1, (token, echoed)


def test_a_stopped_socket_mode_bot_takes_no_new_envelope(
    launcher: Launcher, slack: FakeSlack, tmp_path: Path
) -> None:
    env = bot_env(
        slack,
        f"sqlite:///{tmp_path / 'socket.sqlite3'}",
        SLACK_APP_TOKEN=slack.app_token,
        SCHEDULER_FIRST_RUN_SECONDS="3600",
    )
    bot = launcher.start(env, wait=False)
    slack.wait_for_socket_connections(1, timeout=45)
    bot.terminate()
    assert bot.wait(timeout=20) == 0
    wait_until(lambda: slack.socket_mode_connections() == 0, what="the socket to close")
    with pytest.raises(RuntimeError):  # nobody is connected: Slack would queue it elsewhere
        slack.send_socket_envelope("slash_commands", command(slack, "/timeline", "late"))
