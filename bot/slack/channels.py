"""Making sure the bot can work in a channel before binding an incident to it."""

from __future__ import annotations

from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.core.errors import UserError

INVITE_HINT = "invite me first with `/invite @postmortem-bot`, then run the command again"


@dataclass(frozen=True)
class ChannelInfo:
    id: str
    is_private: bool


def prepare_incident_channel(client: WebClient, channel_id: str) -> ChannelInfo:
    """Check the channel can host an incident and that the bot is in it (joining if public)."""
    try:
        channel = client.conversations_info(channel=channel_id)["channel"]
    except SlackApiError as error:
        if error.response.get("error") in ("channel_not_found", "not_in_channel"):
            raise UserError(f"I can't see this channel. If it is private, {INVITE_HINT}.") from None
        raise
    if channel.get("is_im") or channel.get("is_mpim"):
        raise UserError(
            "Incidents live in channels, not direct messages. Create a channel for it "
            "(for example #inc-checkout-500s) and run `/incident declare` there."
        )
    is_private = bool(channel.get("is_private"))
    if not channel.get("is_member"):
        if is_private:
            raise UserError(f"I'm not in this private channel: {INVITE_HINT}.")
        client.conversations_join(channel=channel_id)
    return ChannelInfo(id=channel_id, is_private=is_private)
