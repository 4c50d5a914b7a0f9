"""Who asked, and where: the ids every flow needs from a Slack request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Origin:
    """The workspace, channel and person behind a request. Every row is scoped by the team
    (and enterprise) id; the channel binds a request to its incident."""

    team_id: str
    channel_id: str
    user_id: str
    enterprise_id: str | None = None
