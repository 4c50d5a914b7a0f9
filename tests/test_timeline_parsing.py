from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.errors import UserError
from bot.core.timeparse import parse_time_prefix
from bot.timeline.commands import Help, ListEvents, LogEvent, parse_timeline_command, resolve
from storage.models import EventKind

# 2026-11-22 00:10 UTC = 01:10 in Paris (UTC+1) = 16:10 on the 21st in Los Angeles (UTC-8)
NOW = datetime(2026, 11, 22, 0, 10, tzinfo=UTC)


def utc(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("words", "tz", "expected", "rest"),
    [
        ("00:05 db alarm", "UTC", utc(22, 0, 5), "db alarm"),
        ("23:50 deploy started", "UTC", utc(21, 23, 50), "deploy started"),  # just after midnight
        ("01:05 x", "Europe/Paris", utc(22, 0, 5), "x"),
        ("01:30 x", "Europe/Paris", utc(21, 0, 30), "x"),  # 01:30 Paris today is in the future
        ("15:00 x", "America/Los_Angeles", utc(21, 23, 0), "x"),
        ("3:00pm x", "America/Los_Angeles", utc(21, 23, 0), "x"),
        ("12:15am x", "UTC", utc(21, 0, 15), "x"),  # 00:15 today is 5 min ahead: yesterday
        ("00:11 x", "UTC", utc(22, 0, 11), "x"),  # within the clock-skew allowance
        ("00:09:30 x", "UTC", utc(22, 0, 9, 30), "x"),
        ("yesterday 23:50 x", "Europe/Paris", utc(21, 22, 50), "x"),
        ("Yesterday 09:00 UTC x", "Europe/Paris", utc(21, 9, 0), "x"),
        ("today 00:30 x", "Europe/Paris", utc(21, 23, 30), "x"),
        ("23:00 UTC x", "Europe/Paris", utc(21, 23, 0), "x"),
        ("23:00Z x", "Europe/Paris", utc(21, 23, 0), "x"),
        ("2026-11-21T22:00:00+01:00 x", "America/Los_Angeles", utc(21, 21, 0), "x"),
        ("2026-11-21T21:00Z x", "Europe/Paris", utc(21, 21, 0), "x"),
        ("2026-11-21 22:00 x", "Europe/Paris", utc(21, 21, 0), "x"),
        ("2026-11-21 22:00 UTC x", "Europe/Paris", utc(21, 22, 0), "x"),
        ("00:05", "Not/AZone", utc(22, 0, 5), ""),  # unknown zone falls back to UTC
    ],
)
def test_reads_times(words: str, tz: str, expected: datetime, rest: str) -> None:
    parsed = parse_time_prefix(words, now=NOW, tz_name=tz)
    assert parsed.moment == expected
    assert parsed.moment.tzinfo is UTC
    assert parsed.rest == rest


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("soon x", "couldn't read the time `soon`"),
        ("25:00 x", "couldn't read the time"),
        ("13:00pm x", "couldn't read the time"),
        ("14:61 x", "couldn't read the time"),
        ("today 09:00 x", "is in the future"),  # 09:00 UTC today is ahead of 00:10
        ("2026-12-01T10:00Z x", "is in the future"),
        ("2026-02-30T10:00Z x", "couldn't read the time"),
        ("yesterday x", "Give a time after"),
        ("", "Say when it happened"),
    ],
)
def test_refuses_bad_times(words: str, says: str) -> None:
    with pytest.raises(UserError) as caught:
        parse_time_prefix(words, now=NOW, tz_name="UTC")
    assert says in caught.value.message


@given(st.text(max_size=60), st.sampled_from(["UTC", "Europe/Paris", "Asia/Kolkata", "", "x/y"]))
@settings(max_examples=300, deadline=None)
def test_time_parser_never_crashes(words: str, tz: str) -> None:
    try:
        parsed = parse_time_prefix(words, now=NOW, tz_name=tz)
    except UserError:
        return
    assert parsed.moment <= NOW + timedelta(minutes=2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Help()),
        ("help", Help()),
        ("list", ListEvents()),
        ("Rolled back 4812", LogEvent("Rolled back 4812", None, False)),
        ("detection Pager fired", LogEvent("Pager fired", EventKind.DETECTION, False)),
        ("Decision: fail over", LogEvent("fail over", EventKind.DECISION, False)),
        ("at 14:32 Pager fired", LogEvent("14:32 Pager fired", None, True)),
        (
            "mitigation at 14:32 rolled back",
            LogEvent("14:32 rolled back", EventKind.MITIGATION, True),
        ),
        ("attention: this is text", LogEvent("attention: this is text", None, False)),
    ],
)
def test_parses_commands(text: str, expected: object) -> None:
    assert parse_timeline_command(text) == expected


@pytest.mark.parametrize("text", ["detection", "note:", "x" * 3000])
def test_refuses_empty_or_huge_text(text: str) -> None:
    with pytest.raises(UserError):
        parse_timeline_command(text)


def test_resolve_reads_time_then_kind() -> None:
    command = parse_timeline_command("at 23:50 escalation paged the DBA")
    assert isinstance(command, LogEvent)
    event = resolve(command, now=NOW, tz_name="UTC")
    assert (event.occurred_at, event.kind, event.text) == (
        utc(21, 23, 50),
        EventKind.ESCALATION,
        "paged the DBA",
    )
    untimed = resolve(LogEvent("hello", None, False), now=NOW, tz_name="UTC")
    assert (untimed.occurred_at, untimed.kind) == (NOW, EventKind.NOTE)
    with pytest.raises(UserError, match="Say what happened"):
        resolve(LogEvent("14:00", None, True), now=NOW, tz_name="UTC")
