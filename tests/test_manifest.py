"""manifest.yml must be accepted by Slack's "Create app from manifest" and match our contracts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tests.conftest import shared_file

MANIFEST = Path(__file__).resolve().parents[1] / "manifest.yml"


def _manifest() -> dict[str, Any]:
    loaded = yaml.safe_load(MANIFEST.read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_manifest_validates_against_slacks_schema() -> None:
    schema = json.loads(shared_file("slack-fixtures/manifest.schema.json").read_text())
    jsonschema.validate(_manifest(), schema)


def test_manifest_has_every_command_escaped_and_both_shortcuts() -> None:
    features = _manifest()["features"]
    commands = {c["command"]: c for c in features["slash_commands"]}
    assert set(commands) == {"/incident", "/timeline", "/followup", "/postmortem"}
    assert all(c["should_escape"] is True for c in commands.values())
    shortcuts = {s["callback_id"]: s["type"] for s in features["shortcuts"]}
    assert shortcuts == {"add_to_timeline": "message", "create_followup": "message"}


def test_manifest_subscribes_to_what_capture_needs() -> None:
    manifest = _manifest()
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"message.channels", "message.groups", "reaction_added", "app_home_opened"} <= events
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # every event needs its read scope, posting and DMs need theirs
    assert {
        "channels:history",
        "groups:history",
        "reactions:read",
        "chat:write",
        "im:write",
    } <= scopes
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_manifest_subscribes_to_every_channel_event_visibility_follows() -> None:
    """The events bot.membership handles (joins, leaves, the bot removed, Slack Connect) are
    subscribed, with the read scopes Slack requires for them and for conversations.members;
    conversions arrive as message subtypes (message.channels / message.groups)."""
    from bot.membership.flows import EVENTS

    manifest = _manifest()
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert set(EVENTS) <= events
    assert {"message.channels", "message.groups"} <= events
    assert {"channels:read", "groups:read"} <= set(manifest["oauth_config"]["scopes"]["bot"])
