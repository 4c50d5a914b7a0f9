"""App Home: "Your follow-ups" and "Your postmortems", published when the tab opens."""

from __future__ import annotations

from slack_bolt import App
from slack_sdk.errors import SlackApiError

from bot.core.errors import UserError
from bot.home import blocks, flows
from handlers.errors import message_for
from handlers.request import Request, listener


def app_home_opened(request: Request) -> None:
    event = request.payload
    if event.get("tab") != "home" or not event.get("user"):
        return
    flows.publish_home(request.services, request.client, request.team_id, event["user"])


def home_followup_button(request: Request) -> None:
    request.ack()
    services, client, origin, action = (
        request.services,
        request.client,
        request.origin,
        request.payload,
    )
    try:
        notice = flows.followup_button(
            services, client, origin, action["action_id"], action.get("value")
        )
    except (UserError, SlackApiError) as error:  # Home has no channel to answer in
        notice = message_for(error)
    flows.publish_home(services, client, origin.team_id, origin.user_id, notice)


def home_open_in_channel(request: Request) -> None:
    request.ack()  # a link button: Slack opens the URL; the click still needs an answer


def register(app: App) -> None:
    app.event("app_home_opened")(listener(app_home_opened))
    app.action(blocks.HOME_DONE_ACTION)(listener(home_followup_button))
    app.action(blocks.HOME_SNOOZE_ACTION)(listener(home_followup_button))
    app.action(blocks.HOME_OPEN_ACTION)(listener(home_open_in_channel))
