"""Working hours: when a reminder may reach someone, in their own time zone."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HOURS = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True)
class WorkingHours:
    start: time
    end: time | None  # None: until midnight ("24:00")
    days: frozenset[int]  # Monday = 0

    def contains(self, now: datetime, tz_name: str | None) -> bool:
        """Is `now` (aware) within working hours for someone in `tz_name` (UTC when unknown)?"""
        local = now.astimezone(zone(tz_name))
        if local.weekday() not in self.days:
            return False
        clock = local.time().replace(tzinfo=None)
        return clock >= self.start and (self.end is None or clock < self.end)


def zone(tz_name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(tz_name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_hours(text: str) -> tuple[time, time | None]:
    """`09:00-18:00` → (09:00, 18:00); `00:00-24:00` → all day."""
    match = _HOURS.match(text)
    if not match:
        raise ValueError(f"working hours must look like 09:00-18:00, not {text!r}")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} is not a time range of one day")
    start, end = time(h1, m1), None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise ValueError(f"working hours {text!r} end before they start")
    return start, end


def parse_days(text: str) -> frozenset[int]:
    """`mon-fri`, `mon,wed,fri`, `sun-thu` or `mon-fri,sun` → weekday numbers (Monday = 0)."""
    days: set[int] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        first, _, last = (s.strip()[:3] for s in part.partition("-"))
        if first not in DAYS or (last and last not in DAYS):
            raise ValueError(f"working days must look like mon-fri or mon,wed,fri, not {text!r}")
        a, b = DAYS.index(first), DAYS.index(last or first)
        days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
    return frozenset(days)


def working_hours(hours: str, days: str) -> WorkingHours:
    start, end = parse_hours(hours)
    return WorkingHours(start=start, end=end, days=parse_days(days))
