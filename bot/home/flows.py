"""App Home: publish a person's view, and what its follow-up buttons do (no Bolt)."""

from __future__ import annotations

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.followups.flows import followup_id, publish_change
from bot.followups.service import change_status, get_followup, owned_open, snooze
from bot.home import blocks
from bot.home.blocks import PostmortemSummary
from bot.postmortem.service import owned_by
from bot.services import Services
from bot.slack.origin import Origin
from bot.slack.users import user_timezone
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


def publish_home(
    services: Services, client: WebClient, team_id: str, user_id: str, notice: str | None = None
) -> None:
    """Publish the person's Home tab: their open follow-ups and the postmortems they own."""
    now = services.clock()
    tz = user_timezone(services.db, client, team_id=team_id, user_id=user_id, now=now)
    with services.db.session() as session:
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


def followup_button(
    services: Services, client: WebClient, origin: Origin, action_id: str, value: object
) -> str:
    """Home's *Done* or *Snooze* on one follow-up; the notice Home shows afterwards."""
    now, team_id, user_id = services.clock(), origin.team_id, origin.user_id
    with services.db.session() as session:
        followup = get_followup(session, team_id=team_id, followup_id=followup_id(value))
        if action_id == blocks.HOME_DONE_ACTION:
            change = change_status(session, followup, FollowUpStatus.DONE, by=user_id, now=now)
        else:
            snooze(session, followup, by=user_id, now=now)
            change = None
    if change is None:
        return f"{followup.key} is snoozed for a day."
    publish_change(services, client, followup, change)
    return f"{followup.key} is done. Nice work!"
