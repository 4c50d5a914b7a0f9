"""How to find captured messages by their Slack ts without depending on planner statistics.

A message is keyed by (team, channel, ts), and the unique index on those columns serves the
lookup. But on a PostgreSQL without fresh statistics (autovacuum off, or just after a bulk
load) the planner cannot tell that index from (team, channel, posted_at): it may take either
with team and channel as the only index condition and the ts as a filter, reading the whole
channel for each message (issue 15: 14 ms a message at 50,000, generation quadratic). A
message's `posted_at` is its ts as a time, so the lookups also bound `posted_at` to the
message's second (a page's span): whichever index is chosen, it is searched, not scanned.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement

from storage.models import CapturedMessage

_SLACK = timedelta(seconds=1)  # posted_at is exact; a second either side costs nothing


def _time_of(ts: str) -> datetime | None:
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or not fraction.isdigit() or len(fraction) > 6:
        return None
    return datetime.fromtimestamp(int(seconds), UTC) + timedelta(
        microseconds=int(fraction.ljust(6, "0"))
    )


def message_is(team_id: str, channel_id: str, ts: str) -> list[ColumnElement[bool]]:
    """WHERE conditions for the one message at `ts`."""
    return messages_are(team_id, channel_id, [ts], single=True)


def messages_are(
    team_id: str, channel_id: str, ts_values: Iterable[str], *, single: bool = False
) -> list[ColumnElement[bool]]:
    """WHERE conditions for the messages at `ts_values` (a history page)."""
    wanted = list(ts_values)
    conditions: list[ColumnElement[bool]] = [
        CapturedMessage.team_id == team_id,
        CapturedMessage.channel_id == channel_id,
        CapturedMessage.ts == wanted[0] if single else CapturedMessage.ts.in_(wanted),
    ]
    times = [_time_of(ts) for ts in wanted]
    if times and all(t is not None for t in times):
        known = [t for t in times if t is not None]
        conditions.append(CapturedMessage.posted_at >= min(known) - _SLACK)
        conditions.append(CapturedMessage.posted_at <= max(known) + _SLACK)
    return conditions
