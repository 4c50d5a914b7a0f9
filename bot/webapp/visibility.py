"""Which incidents the person signed in may see on the web: public ones, and private ones whose
channel they are in, asked of Slack (cached briefly by `SlackAccess`)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, or_, select
from sqlalchemy.orm import Session

from bot.webapp.slack_access import SlackAccess
from storage.models import Incident


def visible_channels(
    session: Session, access: SlackAccess, *, team_id: str, user_id: str
) -> set[str]:
    """The private incident channels of the team that `user_id` is a member of."""
    channels = session.scalars(
        select(Incident.channel_id)
        .where(Incident.team_id == team_id, Incident.channel_private.is_(True))
        .distinct()
    )
    return {c for c in channels if access.is_member(team_id, c, user_id)}


def visible_filter(
    session: Session, access: SlackAccess, *, team_id: str, user_id: str
) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: public, or private in a channel the person is in."""
    channels = visible_channels(session, access, team_id=team_id, user_id=user_id)
    mine = Incident.channel_id.in_(sorted(channels)) if channels else false()
    return or_(Incident.channel_private.is_(False), mine)


def may_see(access: SlackAccess, incident: Incident, user_id: str) -> bool:
    if not incident.channel_private:
        return True
    return access.is_member(incident.team_id, incident.channel_id, user_id)
