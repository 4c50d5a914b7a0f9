"""App Home: "Your follow-ups" and "Your postmortems", published when the tab opens."""

from __future__ import annotations

from slack_bolt import App

from bot.core.errors import UserError
from bot.home import blocks, flows
from handlers.request import Request, listener


def app_home_opened(request: Request) -> None:
    event = request.payload
    if event.get("tab") != "home" or not event.get("user"):
        return
    flows.home_opened(request.services, request.team_id, event["user"])


def home_followup_button(request: Request) -> None:
    action = request.payload
    try:
        flows.followup_button(
            request.services, request.origin, action["action_id"], action.get("value")
        )
    except UserError as error:  # Home has no channel to answer in
        flows.notify(request.services, request.origin, error.message)
    request.ack()


def home_open_in_channel(request: Request) -> None:
    request.ack()  # a link button: Slack opens the URL; the click still needs an answer


def register(app: App) -> None:
    app.event("app_home_opened")(listener(app_home_opened))
    app.action(blocks.HOME_DONE_ACTION)(listener(home_followup_button))
    app.action(blocks.HOME_SNOOZE_ACTION)(listener(home_followup_button))
    app.action(blocks.HOME_OPEN_ACTION)(listener(home_open_in_channel))
