"""App Home: "Your follow-ups" and "Your postmortems", published when the tab opens."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.orm import Session

from bot.core.errors import UserError
from bot.followups.service import change_status, get_followup, owned_open, snooze
from bot.home import blocks
from bot.home.blocks import PostmortemSummary
from bot.postmortem.service import owned_by
from bot.services import Services
from bot.slack.users import user_timezone
from handlers.errors import message_for, replies_on_error
from handlers.followups import followup_id, publish_change
from storage.models import FollowUpStatus

FETCH = 60  # more than Home can show: the rest is "and N more"


def postmortems_owned_by(session: Session, team_id: str, user_id: str) -> list[PostmortemSummary]:
    return [
        PostmortemSummary(
            incident_key=p.incident.key,
            title=p.incident.title,
            status=p.status.label,
            url=p.document_url,
        )
        for p in owned_by(session, team_id=team_id, owner_id=user_id, limit=FETCH)
    ]


def register(app: App, services: Services) -> None:
    db, clock = services.db, services.clock

    def publish_home(
        client: WebClient, team_id: str, user_id: str, notice: str | None = None
    ) -> None:
        now = clock()
        tz = user_timezone(db, client, team_id=team_id, user_id=user_id, now=now)
        with db.session() as session:
            page = owned_open(session, team_id=team_id, owner_id=user_id, limit=FETCH)
            view = blocks.home_view(
                page.items,
                postmortems_owned_by(session, team_id, user_id),
                now,
                tz_name=tz,
                total=page.total,
                notice=notice,
            )
        client.views_publish(user_id=user_id, view=view)

    def app_home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        if event.get("tab") != "home" or not event.get("user"):
            return
        publish_home(client, context.team_id or "", event["user"])

    def home_followup_button(
        ack: Ack,
        action: dict[str, Any],
        body: dict[str, Any],
        client: WebClient,
        context: BoltContext,
    ) -> None:
        ack()
        team, user, now = context.team_id or "", body["user"]["id"], clock()
        notice = None
        try:
            with db.session() as session:
                followup = get_followup(
                    session, team_id=team, followup_id=followup_id(action.get("value"))
                )
                if action["action_id"] == blocks.HOME_DONE_ACTION:
                    change = change_status(session, followup, FollowUpStatus.DONE, by=user, now=now)
                else:
                    snooze(session, followup, by=user, now=now)
                    change = None
            if change is not None:
                publish_change(client, followup, change, services.jira)
                notice = f"{followup.key} is done. Nice work!"
            else:
                notice = f"{followup.key} is snoozed for a day."
        except (UserError, SlackApiError) as error:  # Home has no channel to answer in
            notice = message_for(error)
        publish_home(client, team, user, notice)

    def home_open_in_channel(ack: Ack) -> None:
        ack()  # a link button: Slack opens the URL; the click still needs an answer

    app.event("app_home_opened")(replies_on_error(app_home_opened))
    app.action(blocks.HOME_DONE_ACTION)(replies_on_error(home_followup_button))
    app.action(blocks.HOME_SNOOZE_ACTION)(replies_on_error(home_followup_button))
    app.action(blocks.HOME_OPEN_ACTION)(replies_on_error(home_open_in_channel))
