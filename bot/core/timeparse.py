"""Reading the time in `/timeline at <time> <text>` (pure; raises UserError).

Accepted, case-insensitive:
- `14:32`, `14:32:05`, `2:32pm`: in the user's Slack time zone, the most recent such moment
  that is not in the future (so `23:50` just after midnight means yesterday);
- `today 14:32`, `yesterday 23:50`: that day, in the user's time zone;
- any of the above followed by `UTC` or `Z` (`14:32 UTC`, `14:32Z`): in UTC instead;
- ISO-8601 with an offset (`2026-11-22T14:32:00+01:00`, `2026-11-22T13:32Z`): as given;
- ISO-8601 date and time without an offset (`2026-11-22 14:32`): in the user's time zone.
A time in the future (beyond CLOCK_SKEW) or one that can't be read is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.core.errors import UserError
from bot.slack.mrkdwn import quote

CLOCK_SKEW = timedelta(minutes=2)  # a time typed a moment "ahead" of the server still counts
TIME_HELP = (
    "Use `14:32` (your Slack time zone), `yesterday 23:50`, `14:32 UTC`, or an ISO-8601 time "
    "like `2026-11-22T14:32+01:00`."
)

_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?\s*(am|pm)?(z)?$", re.IGNORECASE)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_FULL = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$", re.I
)


@dataclass(frozen=True)
class ParsedTime:
    moment: datetime  # aware, UTC
    rest: str  # the text after the time


def zone(name: str | None) -> tzinfo:
    try:
        return ZoneInfo(name) if name else UTC
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _clock(token: str) -> tuple[time, bool] | None:
    """`14:32`, `2:32pm`, `14:32:05`, `14:32Z` → (time, is_utc)."""
    match = _CLOCK.match(token)
    if not match:
        return None
    hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
    meridiem = (match[4] or "").lower()
    if meridiem:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59 or second > 59:
        return None
    return time(hour, minute, second), bool(match[5])


def _on_day(day: datetime, at: time, tz: tzinfo) -> datetime:
    return datetime.combine(day.date(), at, tzinfo=tz).astimezone(UTC)


def _not_future(moment: datetime, now: datetime, shown: str) -> datetime:
    if moment > now + CLOCK_SKEW:
        raise UserError(
            f"{quote(shown)} is in the future, and the timeline records what already happened. "
            + TIME_HELP
        )
    return moment


def _take_utc_suffix(words: list[str]) -> bool:
    if words and words[0].lower() in ("utc", "z", "gmt"):
        words.pop(0)
        return True
    return False


def parse_time_prefix(text: str, *, now: datetime, tz_name: str | None) -> ParsedTime:
    """Read a time at the start of `text`; return it (UTC) and the remaining text."""
    words = text.split()
    if not words:
        raise UserError(
            "Say when it happened, then what: `/timeline at 14:32 Pager fired`. " + TIME_HELP
        )
    user_tz = zone(tz_name)
    first = words.pop(0)
    shown = first

    # ISO-8601: one token with "T", or a date token followed by a time token
    candidate = first
    if _ISO_DATE.match(first) and words and _clock(words[0]) is not None:
        candidate = f"{first}T{words.pop(0)}"
        shown = candidate.replace("T", " ")
    if _ISO_FULL.match(candidate):
        try:
            moment = datetime.fromisoformat(candidate.replace("z", "Z"))
        except ValueError:
            raise UserError(f"I couldn't read the time {quote(shown)}. " + TIME_HELP) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC if _take_utc_suffix(words) else user_tz)
        return ParsedTime(_not_future(moment.astimezone(UTC), now, shown), " ".join(words))

    day_word = first.lower()
    if day_word in ("today", "yesterday"):
        if not words or _clock(words[0]) is None:
            raise UserError(
                f"Give a time after {quote(first)}, like `{day_word} 23:50`. " + TIME_HELP
            )
        clock_token = words.pop(0)
        shown = f"{first} {clock_token}"
        parsed = _clock(clock_token)
        assert parsed is not None
        at, utc = parsed
        tz = UTC if (utc or _take_utc_suffix(words)) else user_tz
        local_now = now.astimezone(tz)
        day = local_now if day_word == "today" else local_now - timedelta(days=1)
        return ParsedTime(_not_future(_on_day(day, at, tz), now, shown), " ".join(words))

    parsed = _clock(first)
    if parsed is None:
        raise UserError(f"I couldn't read the time {quote(first)}. " + TIME_HELP)
    at, utc = parsed
    tz = UTC if (utc or _take_utc_suffix(words)) else user_tz
    local_now = now.astimezone(tz)
    moment = _on_day(local_now, at, tz)
    if moment > now + CLOCK_SKEW:  # later today hasn't happened yet: it was yesterday
        moment = _on_day(local_now - timedelta(days=1), at, tz)
    return ParsedTime(moment, " ".join(words))
