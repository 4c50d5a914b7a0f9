"""The one rule for who may see an incident's content (title, timeline, follow-ups, documents).

A public incident's content may be shown anywhere in its workspace. A private incident's
content is shown only in its own channel and to the people recorded as members of that channel
(`channel_members`, kept from Slack's events by bot.membership). Anything unknown fails closed:
a private incident whose channel members were never learnt is visible to nobody outside it.

Every surface that renders incident content asks here: a surface for one person (App Home,
DMs, private lists) asks `incident_visible_to` or filters with `visible_incidents_filter`; a
surface written into a channel (postmortems, the digest, stakeholder updates) asks
`may_show_in_channel`; a surface for everyone (the status page) shows public incidents only
(`public_incidents_filter`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from storage.models import ChannelMember, Incident

HIDDEN_TITLE = "(a private incident)"


def _member_of_channel(user_id: str) -> ColumnElement[bool]:
    return exists(
        select(ChannelMember.user_id).where(
            ChannelMember.team_id == Incident.team_id,
            ChannelMember.channel_id == Incident.channel_id,
            ChannelMember.user_id == user_id,
        )
    )


def visible_incidents_filter(user_id: str) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: the incidents `user_id` may see (public ones, and private
    ones whose channel they are a recorded member of)."""
    return or_(Incident.channel_private.is_(False), _member_of_channel(user_id))


def public_incidents_filter() -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: what may be shown to anyone (the status page)."""
    return Incident.channel_private.is_(False)


def channel_incidents_filter(channel_id: str) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: what may be written into `channel_id` (the SQL form of
    `may_show_in_channel`)."""
    return or_(Incident.channel_private.is_(False), Incident.channel_id == channel_id)


def is_channel_member(session: Session, team_id: str, channel_id: str, user_id: str) -> bool:
    return (
        session.get(
            ChannelMember, {"team_id": team_id, "channel_id": channel_id, "user_id": user_id}
        )
        is not None
    )


def incident_visible_to(session: Session, incident: Incident, user_id: str) -> bool:
    """May `user_id` see this incident's content (in a DM, on Home, in a private list)?"""
    if not incident.channel_private:
        return True
    return is_channel_member(session, incident.team_id, incident.channel_id, user_id)


def may_show_in_channel(incident: Incident, channel_id: str) -> bool:
    """May this incident's content be written into `channel_id`? A private incident's only
    into its own channel."""
    return not incident.channel_private or incident.channel_id == channel_id


def may_show_in_incident_channel(shown: Incident, target: Incident) -> bool:
    """May `shown`'s content be written into `target`'s channel (its postmortem's Recurrence)?
    A channel shared with another organisation (Slack Connect) gets no other incident's
    content at all: its guests are not the workspace's people."""
    if shown.id == target.id:
        return True
    if target.channel_shared:
        return False
    return may_show_in_channel(shown, target.channel_id)


def hidden_incident_ids(
    session: Session, incidents: Iterable[Incident], user_id: str
) -> frozenset[int]:
    """Of these incidents, the ones `user_id` may not see (their content is to be left out)."""
    return frozenset(i.id for i in incidents if not incident_visible_to(session, i, user_id))


def title_for(session: Session, incident: Incident, user_id: str) -> str:
    """The incident's title for `user_id`, or a placeholder if they may not see it."""
    return incident.title if incident_visible_to(session, incident, user_id) else HIDDEN_TITLE


def visible_in_incident_channel(target: Incident) -> ColumnElement[bool]:
    """A WHERE clause on `Incident`: the incidents whose content may be written into
    `target`'s channel (`may_show_in_incident_channel`)."""
    if target.channel_shared:
        return Incident.id == target.id
    return or_(Incident.id == target.id, channel_incidents_filter(target.channel_id))


__all__ = [
    "HIDDEN_TITLE",
    "channel_incidents_filter",
    "hidden_incident_ids",
    "incident_visible_to",
    "is_channel_member",
    "may_show_in_channel",
    "may_show_in_incident_channel",
    "public_incidents_filter",
    "title_for",
    "visible_in_incident_channel",
    "visible_incidents_filter",
]
