"""The fake's channel events have the shapes Slack documents (compared with the recorded
payloads in /work/shared/slack-fixtures, skipped where they are absent)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sandbox.slack import channel_events, events
from tests.conftest import shared_file


def _inner(name: str) -> dict[str, Any]:
    event = json.loads(shared_file(f"slack-fixtures/{name}").read_text())["event"]
    assert isinstance(event, dict)
    return event


@pytest.mark.parametrize(
    ("fixture", "ours"),
    [
        (
            "event_callback_member_left_channel.java-sdk-shape.json",
            channel_events.member_left("C1", False, "U1", "T1"),
        ),
        (
            "event_callback_group_left.java-sdk-shape.json",
            channel_events.bot_removed("C1", True, "U1"),
        ),
        (
            "event_callback_channel_shared.java-sdk-shape.json",
            channel_events.channel_shared("C1", "E163Q94DX"),
        ),
    ],
)
def test_channel_events_have_slacks_fields(fixture: str, ours: dict[str, Any]) -> None:
    documented = _inner(fixture)
    assert ours["type"] == documented["type"]
    assert set(ours) == set(documented)


def test_member_left_channel_types_are_letters_as_documented() -> None:
    documented = _inner("event_callback_member_left_channel.json")
    assert documented["channel_type"] == "C"
    assert channel_events.member_left("C1", False, "U1", "T1")["channel_type"] == "C"
    assert channel_events.member_left("C1", True, "U1", "T1")["channel_type"] == "G"


def test_conversion_to_private_is_the_documented_message_subtype() -> None:
    documented = _inner("event_callback_message_channel_convert_to_private.json")
    note = {
        "type": "message",
        "subtype": "channel_convert_to_private",
        "user": "U1234ABCD",
        "text": channel_events.MADE_PRIVATE,
        "ts": "1730984822.596869",
    }
    ours = events.message_posted("C1234ABCD", True, note)
    assert set(ours) == set(documented)
    assert (ours["subtype"], ours["channel_type"], ours["text"]) == (
        documented["subtype"],
        documented["channel_type"],
        documented["text"],
    )
