"""Capturing incident channels: every `message` event (message.channels / message.groups).

Bolt acknowledges events before running the listener; the listener only queues the event for
the capture writer (bot/capture/writer.py explains why), so it frees its thread at once.
Bolt runs only the first listener that matches a request: this is THE listener for `message`
events; anything else that needs message events should be called from here.
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
