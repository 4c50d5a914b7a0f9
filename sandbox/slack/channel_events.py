"""What happens to a channel's membership and kind in the fake workspace, and the Events API
deliveries Slack sends for it (shapes from docs.slack.dev, see
/work/shared/slack-fixtures/README.md):

- someone joins: a `channel_join` message in the channel, and `member_joined_channel`
  (`channel_type` "C" public / "G" private, `team`, `inviter` when invited);
- someone leaves: a `channel_leave` message, and `member_left_channel`;
- the bot is removed: `channel_left` (public) or `group_left` (private), with `actor_id`;
- the channel is made private / public: the `message` subtypes `channel_convert_to_private`
  (`channel_type` "group") / `channel_convert_to_public` (`channel_type` "channel");
- another organisation joins (Slack Connect): `channel_shared` with `connected_team_id`.
"""

from __future__ import annotations

import time

from sandbox.slack.base import JsonDict

MADE_PRIVATE = "made this channel *private*. Now, it can only be viewed or joined by invitation."
MADE_PUBLIC = "made this channel *public*. Any member in this workspace can see and join it."


def _now() -> str:
    return f"{time.time():.6f}"


def channel_type_letter(private: bool) -> str:
    return "G" if private else "C"


def member_joined(
    channel_id: str, private: bool, user: str, team: str, inviter: str | None
) -> JsonDict:
    event: JsonDict = {
        "type": "member_joined_channel",
        "user": user,
        "channel": channel_id,
        "channel_type": channel_type_letter(private),
        "team": team,
        "event_ts": _now(),
    }
    if inviter:
        event["inviter"] = inviter
    return event


def member_left(channel_id: str, private: bool, user: str, team: str) -> JsonDict:
    return {
        "type": "member_left_channel",
        "user": user,
        "channel": channel_id,
        "channel_type": channel_type_letter(private),
        "team": team,
        "event_ts": _now(),
    }


def bot_removed(channel_id: str, private: bool, actor: str) -> JsonDict:
    return {
        "type": "group_left" if private else "channel_left",
        "channel": channel_id,
        "actor_id": actor,
        "event_ts": _now(),
    }


def channel_shared(channel_id: str, connected_team_id: str) -> JsonDict:
    return {
        "type": "channel_shared",
        "connected_team_id": connected_team_id,
        "channel": channel_id,
        "event_ts": _now(),
    }
