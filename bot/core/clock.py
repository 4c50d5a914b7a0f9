"""Time, passed explicitly so tests can use a fixed clock instead of patching."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def fixed_clock(moment: datetime) -> Clock:
    if moment.tzinfo is None:
        raise ValueError("fixed_clock needs a timezone-aware datetime")

    def now() -> datetime:
        return moment

    return now
