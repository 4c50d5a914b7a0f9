"""Channel membership and channel facts on the database (the caller owns the transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.models import ChannelMember, Incident


def members_of(session: Session, team_id: str, channel_id: str) -> set[str]:
    return set(
        session.scalars(
            select(ChannelMember.user_id).where(
                ChannelMember.team_id == team_id, ChannelMember.channel_id == channel_id
            )
        )
    )


def add_member(
    session: Session, team_id: str, channel_id: str, user_id: str, *, now: datetime
) -> bool:
    """Record a join (False: already recorded)."""
    key = {"team_id": team_id, "channel_id": channel_id, "user_id": user_id}
    if session.get(ChannelMember, key) is not None:
        return False
    session.add(ChannelMember(**key, since=now))
    session.flush()
    return True


def remove_member(session: Session, team_id: str, channel_id: str, user_id: str) -> bool:
    result = session.execute(
        delete(ChannelMember).where(
            ChannelMember.team_id == team_id,
            ChannelMember.channel_id == channel_id,
            ChannelMember.user_id == user_id,
        )
    )
    return bool(getattr(result, "rowcount", 0))


def forget_channel(session: Session, team_id: str, channel_id: str) -> int:
    """The bot left the channel: nobody is known to be in it any more (fail closed)."""
    result = session.execute(
        delete(ChannelMember).where(
            ChannelMember.team_id == team_id, ChannelMember.channel_id == channel_id
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)


def seed_members(
    session: Session, team_id: str, channel_id: str, members: Iterable[str], *, read_at: datetime
) -> None:
    """Make the recorded members what conversations.members said at `read_at`. A row learnt
    from an event after that read (a later join) is kept."""
    wanted = set(members)
    known = {
        row.user_id: row
        for row in session.scalars(
            select(ChannelMember).where(
                ChannelMember.team_id == team_id, ChannelMember.channel_id == channel_id
            )
        )
    }
    for user_id, row in known.items():
        if user_id not in wanted and row.since < read_at:
            session.delete(row)
    for user_id in sorted(wanted - known.keys()):
        session.add(
            ChannelMember(team_id=team_id, channel_id=channel_id, user_id=user_id, since=read_at)
        )
    session.flush()


def set_channel_private(session: Session, team_id: str, channel_id: str, private: bool) -> int:
    """Every incident of the channel follows it (earlier ones too: their content is in it)."""
    result = session.execute(
        update(Incident)
        .where(Incident.team_id == team_id, Incident.channel_id == channel_id)
        .values(channel_private=private)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def set_channel_shared(session: Session, team_id: str, channel_id: str, shared: bool) -> int:
    result = session.execute(
        update(Incident)
        .where(Incident.team_id == team_id, Incident.channel_id == channel_id)
        .values(channel_shared=shared)
    )
    return int(getattr(result, "rowcount", 0) or 0)
