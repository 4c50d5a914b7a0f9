"""Channel events that change who may see an incident: members joining and leaving, the bot
removed, the channel shared with another organisation (bot.membership.flows). Channel
conversions arrive as `message` subtypes, through the capture listener."""

from __future__ import annotations

from slack_bolt import App

from bot.membership import flows
from handlers.request import Request, listener


def channel_event(request: Request) -> None:
    flows.channel_event(
        request.services,
        team_id=request.team_id,
        event_id=request.body.get("event_id"),
        event=request.payload,
        bot_user_id=request.context.bot_user_id,
    )


def register(app: App) -> None:
    for kind in flows.EVENTS:
        app.event(kind)(listener(channel_event))
