"""Posting to the stakeholder channel (STATUS_UPDATES_CHANNEL), and saying clearly when the bot
can't (no Bolt: the caller tells the person what this returns)."""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.status import blocks

# Slack's answers when the bot can't post in a channel (not a member, private, gone).
UNREACHABLE = {"not_in_channel", "channel_not_found", "is_archived"}


def tell_stakeholders(
    client: WebClient,
    channel: str,
    message: tuple[str, list[dict[str, Any]]],
    *,
    what: str,
) -> str | None:
    """Post `message` in the stakeholder channel; when the bot can't, the private note that says
    why (other Slack errors propagate)."""
    text, message_blocks = message
    try:
        client.chat_postMessage(channel=channel, text=text, blocks=message_blocks)
    except SlackApiError as error:
        code = str(error.response.get("error", ""))
        if code not in UNREACHABLE:
            raise
        return blocks.stakeholder_channel_unreachable(channel, code, what=what)
    return None
