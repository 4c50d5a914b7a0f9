"""Capturing incident channels: every `message` event (message.channels / message.groups).

The event is stored before the ack (one short transaction), so an event Slack was told arrived
is never lost. Bolt runs only the first listener that matches a request: this is THE listener
for `message` events; anything else that needs message events should be called from here.
"""

from __future__ import annotations

from slack_bolt import App

from bot.capture import flows
from handlers.request import Request, listener


def capture_message(request: Request) -> None:
    flows.capture_message(
        request.services,
        team_id=request.team_id,
        event_id=request.body.get("event_id"),
        event=request.payload,
    )


def register(app: App) -> None:
    app.event("message")(listener(capture_message))
